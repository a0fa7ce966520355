"""``runner.predict_bars`` against ``predict`` on prepared features and against upstream's live
recipe, side by side in one process, on the fixture's production LSTM (BTCUSDT/basic).

Each call gets the next of 64 different 1,000-bar OHLCV frames (a sliding window over a longer
seeded series), as a live loop gets a new bar each time:

- **predict_bars**: ``runner.predict_bars(frame)``: features, prediction and price in one call;
- **predict**: ``runner.predict(window)`` on the already prepared ``[120, 5]`` float64 feature
  window of the same frame (what ``predict_bars`` costs on top of inference is the difference);
- **upstream recipe**: what upstream's live engine does per bar: a pandas rolling min-max of
  the five columns over the whole 1,000-bar frame (``PriceOnlyFeatureExtractor``), the last 120
  rows through an ``onnxruntime.InferenceSession`` with default options (upstream's runner), and
  the price mapped back with the last 120 closes in pandas.

The registry's threading is process-wide, so each mode runs in its own child process: the
package's defaults against onnxruntime's defaults, then one intra-op thread on both sides. Each
repeat prints p50 latencies; the summary gives min / median / max over repeats of the p50
ratios.

    python benches/bench_live.py [--calls N] [--repeats R]
"""

from __future__ import annotations

import os

# Nothing here uses BLAS; numpy's OpenBLAS threads would only spin and take cores from both
# contenders on a small machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import interleaved, percentile, spread
from atb_prediction import PredictionConfig, PredictionModelRegistry

REGISTRY = Path(__file__).resolve().parents[1] / "tests" / "data" / "atb-registry"
FRAMES = 64
BARS = 1000
WINDOW = 120
SEQUENCE = 120
OHLCV = ("open", "high", "low", "close", "volume")
FEATURES = ("close", "volume", "high", "low", "open")  # the model's feature order


def series(bars: int, seed: int = 7) -> pd.DataFrame:
    """A seeded hourly OHLCV random walk."""
    rng = np.random.default_rng(seed)
    close = 42_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, bars)))
    opens = np.concatenate(([close[0]], close[:-1]))
    spread_ = np.abs(rng.normal(0.0, 0.002, bars)) * close
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, close) + spread_,
            "low": np.minimum(opens, close) - spread_,
            "close": close,
            "volume": rng.uniform(50.0, 500.0, bars),
        },
        index=pd.date_range("2024-01-01", periods=bars, freq="h", tz="UTC"),
    )


def upstream_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Upstream's price-only features, as its extractor computes them: pandas rolling min-max
    over the whole frame, ``0.5`` where the window is flat."""
    df = frame.copy()
    for column in OHLCV:
        low = df[column].rolling(window=WINDOW, min_periods=1).min()
        high = df[column].rolling(window=WINDOW, min_periods=1).max()
        valid = (high != low) & high.notna() & low.notna()
        df[f"{column}_normalized"] = np.where(valid, (df[column] - low) / (high - low), 0.5)
    return df


def upstream_recipe(session: onnxruntime.InferenceSession) -> Callable[[pd.DataFrame], float]:
    """Upstream's per-bar live path: features in pandas, the runner's ``onnxruntime`` run, and
    the rolling min-max price."""
    name = session.get_inputs()[0].name
    columns = [f"{column}_normalized" for column in FEATURES]

    def predict(frame: pd.DataFrame) -> float:
        window = upstream_features(frame)[columns].to_numpy()[-SEQUENCE:]
        x = window.astype(np.float32).reshape(1, SEQUENCE, len(columns))
        if not np.all(np.isfinite(x)):
            raise ValueError("NaN features")
        output = float(session.run(None, {name: x})[0].flatten()[0])
        closes = frame["close"].tail(WINDOW)
        low, high = float(closes.min()), float(closes.max())
        return low if high == low else output * (high - low) + low

    return predict


def cycling(call: Callable[[object], object], inputs: list[object]) -> Callable[[], None]:
    """A call that takes the next of ``inputs`` each time, round and round."""
    state = {"next": 0}

    def step() -> None:
        index = state["next"]
        state["next"] = (index + 1) % len(inputs)
        call(inputs[index])

    return step


def child(mode: str, calls: int) -> dict[str, float]:
    """One repeat in this process: p50 latencies in microseconds, by contender."""
    one = mode == "one-thread"
    registry = PredictionModelRegistry(
        PredictionConfig(
            model_registry_path=str(REGISTRY),
            prediction_cache_enabled=False,
            intra_op_threads=1 if one else None,
        )
    )
    bundle = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h")
    options = onnxruntime.SessionOptions()
    if one:
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(bundle.runner.model_path), options, providers=["CPUExecutionProvider"]
    )
    history = series(BARS + FRAMES)
    frames = [history.iloc[start : start + BARS] for start in range(FRAMES)]
    names = [f"{column}_normalized" for column in FEATURES]
    windows = [upstream_features(f)[names].to_numpy()[-SEQUENCE:].copy() for f in frames]
    recipe = upstream_recipe(session)
    # The same answer from all three before anything is timed.
    for frame, window in zip(frames[:3], windows[:3], strict=True):
        bars = bundle.runner.predict_bars(frame).price
        assert abs(bars - recipe(frame)) <= 1e-6 * abs(bars), (bars, recipe(frame))
        closes = frame["close"].tail(WINDOW)
        low, high = closes.min(), closes.max()
        assert abs(bundle.runner.predict(window).price * (high - low) + low - bars) <= 1e-6 * bars
    samples = interleaved(
        {
            "predict_bars": cycling(bundle.runner.predict_bars, list(frames)),
            "predict": cycling(bundle.runner.predict, list(windows)),
            "upstream recipe": cycling(recipe, list(frames)),  # type: ignore[arg-type]
        },
        calls,
        # Short alternating rounds: on this noisy 2-core machine a slow spell of a few hundred
        # milliseconds would otherwise land on one contender's block and move its p50.
        rounds=max(1, calls // 20),
    )
    return {name: percentile(values, 50) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per contender")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=("defaults", "one-thread"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.calls)))
        return
    print(f"fixture LSTM BTCUSDT/basic [1, {SEQUENCE}, 5], {BARS}-bar frames, p50 in µs")
    for mode in ("defaults", "one-thread"):
        ratios: dict[str, list[float]] = {"bars/predict": [], "bars/upstream": []}
        for repeat in range(args.repeats):
            command = [sys.executable, __file__, "--child", mode, "--calls", str(args.calls)]
            p50 = json.loads(subprocess.run(command, check=True, capture_output=True,
                                            text=True).stdout)  # fmt: skip
            ratios["bars/predict"].append(p50["predict_bars"] / p50["predict"])
            ratios["bars/upstream"].append(p50["predict_bars"] / p50["upstream recipe"])
            print(
                f"  {mode:10} #{repeat + 1}: predict_bars {p50['predict_bars']:8.1f}  "
                f"predict {p50['predict']:8.1f}  upstream recipe {p50['upstream recipe']:8.1f}"
            )
        print(f"{mode}: min / median / max over {args.repeats} repeats")
        print(
            f"  predict_bars / predict          {spread(ratios['bars/predict'])}  (target ≤ 1.05)"
        )
        print(
            f"  predict_bars / upstream recipe  {spread(ratios['bars/upstream'])}  (target ≤ 0.45)"
        )


if __name__ == "__main__":
    main()
