"""Is an edge more than luck? A paired stationary block bootstrap of the difference of one metric
between two aligned series of per-bar strategy returns.

The resampling, the automatic block length, the metrics and the p-value are defined once, in
the core (``src/core/backtest/bootstrap.rs``, whose documentation states each exactly); this
module gives them a Python face. The method is Politis and Romano's (1994) stationary bootstrap,
as ``arch.bootstrap.StationaryBootstrap`` draws it, with Politis and White's (2004) automatic
block length as ``arch.bootstrap.optimal_block_length`` computes it, on the per-bar difference
of the two series.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from atb_prediction import _core

__all__ = [
    "BOOTSTRAP_METRICS",
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "Comparison",
    "compare_returns",
    "optimal_block_length",
]

#: The metrics of returns the bootstrap compares (the core's list); the gate's others (hit rate,
#: price errors, turnover, exposure) are not functions of the returns a resample draws.
BOOTSTRAP_METRICS: tuple[str, ...] = tuple(_core.BOOTSTRAP_METRICS)

#: Resamples drawn when none are asked for (the core's default).
DEFAULT_RESAMPLES: int = _core.BOOTSTRAP_RESAMPLES

#: The seed of the resamples' random streams when none is given: the evidence is reproducible.
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing a candidate's returns with a reference's."""

    metric: str
    bars: int
    """Bars compared: those where both series hold a return."""
    candidate: float
    """The candidate's metric over those bars."""
    reference: float
    """The reference's metric over those bars."""
    p_value: float
    """One-sided p-value that the candidate is not better: ``(1 + k) / (1 + resamples)``, with
    ``k`` the resamples whose difference, centred on the observed one, is at or beyond it."""
    block_length: float
    """The mean block length used, in bars."""
    resamples: int
    seed: int

    def to_json(self) -> dict[str, Any]:
        """The comparison as a JSON-ready dict (NaN as ``None``)."""
        return {
            key: None if isinstance(value, float) and value != value else value
            for key, value in asdict(self).items()
        }


def _returns(values: npt.ArrayLike, what: str) -> npt.NDArray[np.float64]:
    array = np.ascontiguousarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one return per bar (1-D), got shape {array.shape}")
    return array


def compare_returns(
    candidate: npt.ArrayLike,
    reference: npt.ArrayLike,
    *,
    metric: str = "sharpe",
    periods_per_year: float = 1.0,
    resamples: int = DEFAULT_RESAMPLES,
    block_length: float | None = None,
    seed: int = DEFAULT_SEED,
) -> Comparison:
    """Compares ``metric`` between two aligned series of per-bar returns (NaN where a series has
    none; only bars where both have one are compared).

    Args:
        candidate, reference: One return per bar, the same bars in both.
        metric: ``sharpe``, ``total_return`` or ``max_drawdown`` (lower is better).
        periods_per_year: Bars per year, to annualise the Sharpe ratio.
        resamples: Resamples drawn.
        block_length: Mean block length in bars; by default Politis and White's choice.
        seed: Seeds the resamples' random streams (the same seed, the same p-value, whatever
            the number of threads).

    Raises:
        InvalidArgumentError: another metric, or options out of range.
        InvalidInputError: series of different lengths, or fewer than 2 bars in common.
    """
    found = _core.bootstrap_compare(
        _returns(candidate, "candidate"),
        _returns(reference, "reference"),
        metric=metric,
        periods_per_year=periods_per_year,
        resamples=resamples,
        block_length=block_length,
        seed=seed,
    )
    return Comparison(**found)


def optimal_block_length(values: npt.ArrayLike) -> float:
    """Politis and White's automatic mean block length of ``values`` for the stationary
    bootstrap (``arch.bootstrap.optimal_block_length``'s ``stationary`` column)."""
    return _core.optimal_block_length(_returns(values, "values"))
