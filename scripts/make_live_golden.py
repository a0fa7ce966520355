"""Write ``tests/data/atb-live-golden.json``: upstream's live path from raw OHLCV bars, computed
by upstream's own code, as the oracle for ``predict_bars`` and sweeps over raw bars.

For each production bundle of the fixture registry that reads ``price_only`` features, a seeded
hourly OHLCV series is run bar by bar through the upstream bot (bumpy-croc/ai-trading-bot, MIT):

1. ``PriceOnlyFeatureExtractor(window).extract(bars[: t + 1])`` (``window`` is the bundle's
   ``price_normalization.window``, else upstream's default of 120),
2. the last ``sequence_length`` rows of the bundle's ``feature_names`` through the upstream
   registry's ``OnnxRunner.predict``,
3. ``PredictionEngine._apply_rolling_denormalization(price, bundle, bars[: t + 1])``.

Bars without a full window, or where upstream raises, are ``null``. Each series has a random
walk, then a stretch of identical bars longer than the window (flat rolling windows: the 0.5
features and the constant price), then a random walk again with one missing (NaN) volume near
the end, whose windows upstream refuses.

This script imports upstream's modules from a checkout of the upstream repository and needs an
environment where they import (upstream's requirements, with pandas and onnxruntime); it copies
none of upstream's code. Run from this repository's root::

    python scripts/make_live_golden.py --upstream /path/to/ai-trading-bot
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

SYMBOLS = {"BTCUSDT": (20240101, 42_000.0), "ETHUSDT": (20240102, 2_300.0)}
MODEL_TYPE = "basic"
TIMEFRAME = "1h"
#: Random walk, flat stretch (longer than the 120-bar window), random walk.
STRETCHES = (240, 130, 30)
#: The bar whose volume is missing.
MISSING_VOLUME = 395
START = np.datetime64("2024-03-01T00:00:00", "s")


def make_series(seed: int, level: float) -> dict[str, Any]:
    """A seeded hourly OHLCV series with a flat stretch in the middle."""
    rng = np.random.default_rng(seed)
    walk, flat, tail = STRETCHES
    closes = [level]
    for _ in range(walk - 1):
        closes.append(closes[-1] * float(np.exp(rng.normal(0.0, 0.004))))
    closes += [closes[-1]] * flat
    for _ in range(tail):
        closes.append(closes[-1] * float(np.exp(rng.normal(0.0, 0.004))))
    close = np.array(closes)
    opens = np.concatenate(([level], close[:-1]))
    spread = np.abs(rng.normal(0.0, 0.002, close.size)) * close
    high = np.maximum(opens, close) + spread
    low = np.minimum(opens, close) - spread
    volume = rng.uniform(50.0, 500.0, close.size)
    still = slice(walk + 1, walk + flat)  # identical bars: no spread, one volume
    high[still] = low[still] = opens[still] = close[still]
    volume[still] = 100.0
    volume[MISSING_VOLUME] = np.nan
    index = START + np.arange(close.size) * np.timedelta64(1, "h")
    return {
        "seed": seed,
        "index": [str(moment) + "Z" for moment in index],
        "open": opens.tolist(),
        "high": high.tolist(),
        "low": low.tolist(),
        "close": close.tolist(),
        "volume": [None if np.isnan(v) else v for v in volume.tolist()],
    }


def upstream_live_path(upstream: Path, registry: Path, series: dict[str, Any]) -> list[Any]:
    """Per production bundle, upstream's price, confidence and direction at every bar."""
    sys.path.insert(0, str(upstream))
    import pandas as pd
    from src.prediction.config import PredictionConfig
    from src.prediction.engine import PredictionEngine
    from src.prediction.features.price_only import PriceOnlyFeatureExtractor
    from src.prediction.models.registry import PredictionModelRegistry

    upstream_registry = PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(registry), prediction_cache_enabled=False)
    )
    bundles = []
    for symbol, values in series.items():
        bundle = upstream_registry.select_bundle(
            symbol=symbol, model_type=MODEL_TYPE, timeframe=TIMEFRAME
        )
        metadata = bundle.metadata
        window = int(metadata.get("price_normalization", {}).get("window", 120))
        sequence_length = int(metadata["sequence_length"])
        names = list(metadata["feature_names"])
        frame = pd.DataFrame(
            {column: values[column] for column in ("open", "high", "low", "close", "volume")},
            index=pd.DatetimeIndex(values["index"]),
            dtype=float,
        )
        extractor = PriceOnlyFeatureExtractor(window)
        price, confidence, direction, errors = [], [], [], []
        for end in range(1, len(frame) + 1):
            bars = frame.iloc[:end]
            features = extractor.extract(bars)[names].to_numpy()[-sequence_length:]
            if len(features) < sequence_length:
                for column in (price, confidence, direction, errors):
                    column.append(None)
                continue
            try:
                prediction = bundle.runner.predict(features)
                # `self` is not used by the method; no engine (and its feature pipeline) needed.
                denormalised = PredictionEngine._apply_rolling_denormalization(
                    None, prediction.price, bundle, bars
                )
            except Exception as error:
                for column in (price, confidence, direction):
                    column.append(None)
                errors.append(type(error).__name__)
                continue
            price.append(float(denormalised))
            confidence.append(float(prediction.confidence))
            direction.append(int(prediction.direction))
            errors.append(None)
        bundles.append(
            {
                "symbol": symbol,
                "model_type": MODEL_TYPE,
                "timeframe": TIMEFRAME,
                "version": bundle.version_id,
                "sequence_length": sequence_length,
                "window": window,
                "feature_names": names,
                "price": price,
                "confidence": confidence,
                "direction": direction,
                "error": errors,
            }
        )
    return bundles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", type=Path, required=True, help="upstream checkout")
    parser.add_argument("--registry", type=Path, default=Path("tests/data/atb-registry"))
    parser.add_argument("--out", type=Path, default=Path("tests/data/atb-live-golden.json"))
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "-C", str(args.upstream), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    series = {symbol: make_series(seed, level) for symbol, (seed, level) in SYMBOLS.items()}
    golden = {
        "about": (
            "upstream's live path from raw OHLCV bars (PriceOnlyFeatureExtractor, "
            "OnnxRunner.predict, PredictionEngine._apply_rolling_denormalization), bar by bar; "
            "written by scripts/make_live_golden.py"
        ),
        "upstream_commit": commit or None,
        "bars": sum(STRETCHES),
        "series": series,
        "bundles": upstream_live_path(args.upstream.resolve(), args.registry.resolve(), series),
    }
    args.out.write_text(json.dumps(golden, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
