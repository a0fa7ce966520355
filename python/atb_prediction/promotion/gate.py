"""What a gated promotion needs from its gate, and how a refusal reads.

The gate itself (:class:`atb_prediction.backtest.Gate`) sweeps and scores the candidate and the
production version; promotion only asks it for its evidence, refuses unless the evidence says
the candidate passed, and journals it. Promotion imports nothing of the backtest machinery.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from atb_prediction.promotion.exceptions import GateRefusedError

__all__ = ["GateLike", "refusal"]


class GateLike(Protocol):
    """Anything that can judge a candidate against production: ``evaluate`` returns the
    evidence, a JSON-ready dict with at least ``metric``, ``better`` (``"higher"`` or
    ``"lower"``), ``passed``, ``candidate`` and ``production`` (rows of scores, each with
    ``version``; ``production`` is ``None`` when there is none) and ``bars``."""

    def evaluate(
        self,
        root: str | os.PathLike[str],
        symbol: str,
        model_type: str,
        candidate: str,
        production: str | None,
    ) -> dict[str, Any]: ...


def refusal(evidence: dict[str, Any]) -> GateRefusedError:
    """The error of a gate the candidate did not pass."""
    metric = evidence["metric"]
    candidate, production = evidence["candidate"], evidence["production"]
    return GateRefusedError(
        f"{candidate['version']} is not better than production {production['version']} on "
        f"{metric} ({evidence['better']} is better): {candidate[metric]} against "
        f"{production[metric]} over {evidence['bars']} bars; promote with --force to override",
        evidence,
    )
