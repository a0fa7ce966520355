"""Write ``tests/data/atb-signal-golden.json``: the position upstream's live strategy takes for a
predicted price against a close, computed by upstream's own code, as the oracle of the signal
rule that scores trade (``src/core/backtest/score.rs``).

For each case (a close and a predicted price) and each pair of thresholds, the upstream bot
(bumpy-croc/ai-trading-bot, MIT) decides with ``MLBasicSignalGenerator.generate_signal``
(``src/strategies/components/ml_signal_generator.py``): BUY, SELL or HOLD. The generator is
made without its constructor (which opens a model registry); its prediction step
(``_get_ml_prediction``) returns the case's price, and everything after it, the predicted
return, both comparisons, the checks of an invalid price and the thresholds' own validation
(``_require_finite``), is upstream's code. The cases probe both thresholds from each side, a
predicted return of exactly the short threshold, the smallest returns either side of 0, and
closes and prices that are not numbers, 0 or negative.

This script imports upstream's modules from a checkout of the upstream repository and needs an
environment where they import (pandas, numpy, sqlalchemy, python-dotenv, requests, matplotlib,
onnxruntime); it copies none of upstream's code. Run from this repository's root::

    python scripts/make_signal_golden.py --upstream /path/to/ai-trading-bot
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

#: (long_threshold, short_threshold) pairs: upstream's defaults (None), and others.
THRESHOLDS: tuple[tuple[float | None, float | None], ...] = (
    (None, None),
    (0.001, -0.002),
    (0.0, 0.0),
    (-0.001, -0.001),
)


def cases() -> list[tuple[float, float]]:
    """(close, predicted price) pairs around every threshold, and invalid ones."""
    pairs = []
    for close in (100.0, 1.2345, 42_000.0, 0.01):
        for predicted_return in (
            0.05, 0.0011, 0.001, 0.0009, 1e-6, 0.0, -1e-6, -0.0004, -0.0005, -0.0006, -0.00099,
            -0.001, -0.0019, -0.002, -0.0021, -0.05,
        ):  # fmt: skip
            pairs.append((close, close * (1.0 + predicted_return)))
        pairs.append((close, math.nextafter(close, math.inf)))
        pairs.append((close, math.nextafter(close, -math.inf)))
    # A price whose predicted return is exactly -0.0005 as a float: strictly below is needed.
    exact = next(
        (c, c - c * 0.0005)
        for c in (k / 64.0 for k in range(1, 10_000))
        if (c - c * 0.0005 - c) / c == -0.0005
    )
    pairs.append(exact)
    for close in (math.nan, 0.0, -5.0, math.inf):
        pairs.append((close, 100.0))
    for predicted in (math.nan, math.inf, -math.inf):
        pairs.append((100.0, predicted))
    return pairs


def upstream_directions(
    upstream: Path, pairs: list[tuple[float, float]], long: float | None, short: float | None
) -> list[str]:
    """Upstream's signal direction for each pair."""
    sys.path.insert(0, str(upstream))
    import pandas as pd
    from src.strategies.components import ml_signal_generator as module

    cls = module.MLBasicSignalGenerator
    generator = cls.__new__(cls)
    generator.name = "golden"
    generator.sequence_length = 0
    generator.allow_shorts = True
    generator.long_entry_threshold = module._require_finite(
        "long_entry_threshold", cls.LONG_ENTRY_THRESHOLD if long is None else long
    )
    generator.short_entry_threshold = module._require_finite(
        "short_entry_threshold", cls.SHORT_ENTRY_THRESHOLD if short is None else short
    )
    generator.confidence_multiplier = cls.CONFIDENCE_MULTIPLIER
    generator.model_name = None
    generator.model_type = "basic"
    generator.model_timeframe = "1h"
    generator.use_engine_batch = False
    generator.symbol = cls.DEFAULT_SYMBOL
    generator._model_symbol = cls.DEFAULT_SYMBOL
    generator._last_prediction_timed_out = False
    directions = []
    for close, predicted in pairs:
        frame = pd.DataFrame(
            {"open": [close], "high": [close], "low": [close], "close": [close], "volume": [1.0]}
        )
        generator._get_ml_prediction = lambda df, index, value=predicted: value
        signal = generator.generate_signal(frame, 0)
        directions.append(signal.direction.name)
    return directions


def number(value: float) -> Any:
    """JSON has no NaN or infinities: those as strings Python's float() reads back."""
    return value if math.isfinite(value) else repr(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", type=Path, required=True, help="upstream checkout")
    parser.add_argument("--out", type=Path, default=Path("tests/data/atb-signal-golden.json"))
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "-C", str(args.upstream), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    pairs = cases()
    upstream = args.upstream.resolve()
    sys.path.insert(0, str(upstream))
    from src.strategies.components.ml_signal_generator import MLBasicSignalGenerator

    golden = {
        "about": (
            "upstream's live signal (MLBasicSignalGenerator.generate_signal) for a predicted "
            "price against a close; written by scripts/make_signal_golden.py"
        ),
        "upstream_commit": commit or None,
        "upstream_defaults": {
            "long_threshold": MLBasicSignalGenerator.LONG_ENTRY_THRESHOLD,
            "short_threshold": MLBasicSignalGenerator.SHORT_ENTRY_THRESHOLD,
        },
        "close": [number(close) for close, _ in pairs],
        "price": [number(price) for _, price in pairs],
        "settings": [
            {
                "long_threshold": long,
                "short_threshold": short,
                "direction": upstream_directions(upstream, pairs, long, short),
            }
            for long, short in THRESHOLDS
        ],
    }
    args.out.write_text(json.dumps(golden, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
