"""The score columns of a sweep and which direction of each is better: what ``SweepScores``
ranks by, what a gated promotion compares, and what ``atb models promote --metric`` offers;
with the scoring defaults (live's signal thresholds, the fewest bars a ranked row needs).

Every name, direction and default here is read from the core's one table
(``src/core/backtest/score.rs``: ``METRICS``, ``LONG_THRESHOLD``, ``SHORT_THRESHOLD``,
``MIN_BARS``).
Kept free of numpy, so the command line's parsers can list the metrics without importing it.
"""

from __future__ import annotations

import math

from atb_prediction import _core

__all__ = [
    "COMPARABLE",
    "DEFAULT_ALPHA",
    "LONG_THRESHOLD",
    "LOWER_IS_BETTER",
    "METRICS",
    "MIN_BARS",
    "SHORT_THRESHOLD",
    "better_direction",
    "is_better",
]

_BETTER: dict[str, str] = dict(_core.score_metrics())

#: The score columns, in order: ``bars``, the metrics, ``exposure``.
METRICS: tuple[str, ...] = tuple(_BETTER)

#: Metrics where a smaller value is the better one.
LOWER_IS_BETTER = frozenset(name for name, better in _BETTER.items() if better == "lower")

#: The columns that judge a row, so that rows can be ranked and gated by them: every column but
#: those that describe a row (``bars``, ``exposure``).
COMPARABLE: tuple[str, ...] = tuple(name for name, better in _BETTER.items() if better != "neither")

#: Live's signal rule for prices in price units (upstream's ``MLBasicSignalGenerator``): long
#: when the predicted return ``(price - close) / close`` is above this...
LONG_THRESHOLD: float = _core.LONG_THRESHOLD
#: ...and short when it is below this (-0.05%); no position in between.
SHORT_THRESHOLD: float = _core.SHORT_THRESHOLD

#: The fewest scored bars a row needs to be ranked (``SweepScores.rows(ranked_by=)``, ``atb
#: backtest sweep --score``) or to pass a gate (``--min-bars``).
MIN_BARS: int = _core.MIN_BARS


#: The largest p-value a gate accepts by default (``Gate(alpha=)``, ``--alpha``), for each of its
#: comparisons (against production, against buy-and-hold): a 1-in-20 chance that an edge as
#: large is luck.
DEFAULT_ALPHA = 0.05


def _check(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(COMPARABLE)}")
    if metric not in COMPARABLE:
        raise ValueError(
            f"{metric} describes a row, it does not judge it: no value of it is better; "
            f"expected one of {', '.join(COMPARABLE)}"
        )


def better_direction(metric: str) -> str:
    """``"lower"`` or ``"higher"``: which values of ``metric`` are better."""
    _check(metric)
    return _BETTER[metric]


def is_better(metric: str, candidate: float, incumbent: float | None) -> bool:
    """Whether ``candidate`` is strictly better than ``incumbent`` on ``metric`` (lower for
    :data:`LOWER_IS_BETTER`, else higher). A NaN candidate is never better; any number beats a
    NaN or missing incumbent."""
    _check(metric)
    if math.isnan(candidate):
        return False
    if incumbent is None or math.isnan(incumbent):
        return True
    return candidate < incumbent if metric in LOWER_IS_BETTER else candidate > incumbent
