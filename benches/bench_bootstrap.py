"""The gate's paired stationary block bootstrap (Rust, ``compare_returns``) against
``arch.bootstrap`` computing the same thing, side by side in one process: 100,000 bars and
1,000 resamples by default.

Both sides do the whole job a gate asks for: the automatic block length (Politis and White, on
the per-bar difference of the two series), the resamples of the Sharpe ratio's difference, and
the one-sided p-value. arch's side is ``optimal_block_length`` and ``StationaryBootstrap.apply``
with the numpy statistic; the two agree on the block length and the observed values before
anything is timed. Contenders alternate in rounds (which goes first alternates too); the
summary gives min / median / max over rounds of the ratio ours / arch.

Run as it is, it measures with default threading, then again in a child process limited to one
thread (``RAYON_NUM_THREADS=1`` for ours, one BLAS thread for numpy):

    python benches/bench_bootstrap.py [--bars N] [--resamples B] [--rounds R] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

ONE_THREAD = {
    "RAYON_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--threads", choices=("default", "1", "both"), default="both",
        help="default threading, one thread, or both (one thread in a child process)",
    )  # fmt: skip
    return parser.parse_args()


def _run(bars: int, resamples: int, rounds: int, label: str) -> None:
    import math
    import statistics
    import time

    import numpy as np
    from arch.bootstrap import StationaryBootstrap, optimal_block_length
    from atb_prediction.backtest.bootstrap import compare_returns

    periods = 8760.0
    rng = np.random.default_rng(1)
    market = rng.normal(0.0, 0.004, bars)
    candidate = market + 0.00002 + rng.normal(0.0, 0.003, bars)
    reference = market + rng.normal(0.0, 0.003, bars)

    def sharpe(r: np.ndarray) -> float:
        return float(np.mean(r) / np.std(r, ddof=1) * math.sqrt(periods))

    def ours() -> tuple[float, float]:
        found = compare_returns(
            candidate, reference, metric="sharpe", periods_per_year=periods,
            resamples=resamples, seed=7,
        )  # fmt: skip
        return found.block_length, found.p_value

    def arch() -> tuple[float, float]:
        block = max(float(optimal_block_length(candidate - reference)["stationary"].iloc[0]), 1)
        observed = sharpe(candidate) - sharpe(reference)
        bootstrap = StationaryBootstrap(block, candidate, reference, seed=7)
        differences = bootstrap.apply(lambda c, r: sharpe(c) - sharpe(r), resamples).ravel()
        beyond = np.count_nonzero(np.isnan(differences) | (differences - observed >= observed))
        return block, (1 + beyond) / (1 + resamples)

    (our_block, our_p), (their_block, their_p) = ours(), arch()
    assert math.isclose(our_block, their_block, rel_tol=1e-9), (our_block, their_block)
    print(
        f"[{label}] {bars:,} bars, {resamples:,} resamples, block length {our_block:.2f}: "
        f"p-value ours {our_p:.4f}, arch {their_p:.4f}"
    )
    times: dict[str, list[float]] = {"ours": [], "arch": []}
    contenders = {"ours": ours, "arch": arch}
    for round_ in range(rounds):
        order = ("ours", "arch") if round_ % 2 == 0 else ("arch", "ours")
        for name in order:
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)
    ratios = [o / a for o, a in zip(times["ours"], times["arch"], strict=True)]

    def spread(values: list[float], digits: int) -> str:
        return " / ".join(
            f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values))
        )

    print(f"[{label}]   ours  (s, min / median / max): {spread(times['ours'], 3)}")
    print(f"[{label}]   arch  (s, min / median / max): {spread(times['arch'], 3)}")
    print(f"[{label}]   ours / arch (min / median / max): {spread(ratios, 3)}")


def main() -> None:
    args = _arguments()
    if args.threads == "1":
        _run(args.bars, args.resamples, args.rounds, "one thread")
        return
    _run(args.bars, args.resamples, args.rounds, "default threading")
    if args.threads == "both":
        child = [
            sys.executable, __file__, "--threads", "1", "--bars", str(args.bars),
            "--resamples", str(args.resamples), "--rounds", str(args.rounds),
        ]  # fmt: skip
        subprocess.run(child, check=True, env={**os.environ, **ONE_THREAD})


if __name__ == "__main__":
    main()
