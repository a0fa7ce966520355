"""Scoring a sweep (``SweepResult.score``, Rust) against the same metrics in vectorised numpy,
side by side in one process: 50 versions x 1,000,000 bars by default.

The numpy side is ``tests/score_reference.py``'s ``reference_scores_2d``: every metric of every
row with whole-array operations, as a notebook would write it (live's thresholds, skipped
closes, exposure). Both score the same synthetic sweep (prices in price units for half the
versions, directions for the other half, NaN stretches) and agree to 1e-6 before anything is
timed; ours also scores the buy-and-hold row, which the numpy side leaves out. The summary gives
min / median / max over repeats of the ratio ours / numpy. ``--threads 1`` runs ours on one
thread (rayon's pool), for the per-core cost.

    python benches/bench_score.py [--versions V] [--bars T] [--repeats R] [--threads N]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _timing import spread, timed
from atb_prediction.backtest import SweepResult
from score_reference import reference_scores_2d


def synthetic(versions: int, bars: int, seed: int = 3) -> SweepResult:
    """A sweep's result: noisy predicted prices around a random-walk close, NaN at the start."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, bars)))
    price = close * (1.0 + rng.normal(0.0, 0.002, (versions, bars)))
    price[:, :120] = np.nan
    confidence = np.where(np.isnan(price), np.nan, 0.5)
    direction = np.where(np.isnan(price), 0, np.sign(rng.normal(size=(versions, bars))))
    return SweepResult(
        symbol="BTCUSDT",
        model_type="basic",
        versions=tuple(f"v{i:02d}" for i in range(versions)),
        price=price,
        confidence=confidence,
        direction=direction.astype(np.int8),
        probabilities=None,
        timestamps=None,
        live_version=None,
        windows=tuple(bars - 119 for _ in range(versions)),
        elapsed=tuple(0.0 for _ in range(versions)),
        price_units=tuple(i % 2 == 0 for i in range(versions)),
        close=close,
        timeframe="1h",
        classifiers=tuple(False for _ in range(versions)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="rayon threads for ours (default: all)")
    args = parser.parse_args()
    if args.threads is not None:
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # read when the pool first starts
    result = synthetic(args.versions, args.bars)
    assert result.close is not None
    close = result.close

    def numpy_side() -> dict[str, np.ndarray]:
        return reference_scores_2d(
            result.price,
            result.confidence,
            result.direction,
            result.price_units,
            result.classifiers,
            close,
            fee_bps=2.0,
        )

    ours = result.score(fee_bps=2.0)
    reference = numpy_side()
    for metric, values in reference.items():
        versions = ours.columns[metric][: args.versions]
        np.testing.assert_allclose(versions, values, rtol=1e-6, equal_nan=True)
    threads = args.threads or "all"
    print(f"scoring {args.versions} versions x {args.bars:,} bars (fee 2 bps, {threads} threads)")
    ratios = []
    for repeat in range(args.repeats):
        rust = timed(lambda: result.score(fee_bps=2.0))
        numpy = timed(numpy_side)
        ratios.append(rust / numpy)
        print(f"  #{repeat + 1}: score {rust:7.3f}   numpy {numpy:7.3f}   ratio {rust / numpy:.3f}")
    print(f"score / numpy: min / median / max {spread(ratios)}  (target ≤ 0.5)")


if __name__ == "__main__":
    main()
