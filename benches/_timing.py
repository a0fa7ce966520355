"""Shared timing helpers for the benchmarks: interleaved, warmed-up per-call latencies."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def latencies_us(call: Callable[[], object], calls: int, warmup: int = 200) -> list[float]:
    """Per-call wall-clock latencies in microseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        call()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(calls):
        start = clock()
        call()
        samples.append((clock() - start) / 1000.0)
    return samples


def interleaved(
    contenders: dict[str, Callable[[], object]], calls: int, rounds: int = 5
) -> dict[str, list[float]]:
    """Latencies of each contender, measured in alternating rounds so drift hits all equally."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    per_round = calls // rounds
    for _ in range(rounds):
        for name, call in contenders.items():
            samples[name].extend(latencies_us(call, per_round, warmup=min(50, per_round)))
    return samples


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) of ``samples``."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(samples: list[float]) -> tuple[float, float, float]:
    """(p50, p99, mean) of ``samples``."""
    return percentile(samples, 50), percentile(samples, 99), statistics.fmean(samples)


def timed(call: Callable[[], object]) -> float:
    """Wall time of one call, in seconds."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def spread(values: list[float], digits: int = 3, width: int = 0) -> str:
    """``min / median / max`` of ``values``, each with ``digits`` decimals in ``width`` columns."""
    return " / ".join(
        f"{v:{width}.{digits}f}" for v in (min(values), statistics.median(values), max(values))
    )
