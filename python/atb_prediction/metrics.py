"""The score metrics of a sweep, and which direction of each is better: what ``SweepScores``
ranks by, what a gated promotion compares, and what ``atb models promote --metric`` offers.

Kept free of numpy, so the command line's parsers can list the metrics without importing it.
"""

from __future__ import annotations

import math

from atb_prediction._core import score_columns

__all__ = ["LOWER_IS_BETTER", "METRICS", "better_direction", "is_better"]

#: The score columns, in order: ``bars`` and then the metrics (the core's list).
METRICS: tuple[str, ...] = tuple(score_columns())

#: Metrics where a smaller value is the better one.
LOWER_IS_BETTER = frozenset({"max_drawdown", "mae", "rmse"})


def _check(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")


def better_direction(metric: str) -> str:
    """``"lower"`` or ``"higher"``: which values of ``metric`` are better."""
    _check(metric)
    return "lower" if metric in LOWER_IS_BETTER else "higher"


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
