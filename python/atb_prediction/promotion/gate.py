"""What a gated promotion needs from its gate, and how a refusal reads.

The gate itself (:class:`atb_prediction.backtest.Gate`) sweeps and scores the candidate and the
production version; promotion only asks it for its evidence, refuses unless the evidence says
the candidate passed, and journals it. Promotion imports nothing of the backtest machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from atb_prediction.promotion.exceptions import GateRefusedError

if TYPE_CHECKING:
    from atb_prediction._core import LoadedBundle

__all__ = ["GateLike", "format_value", "refusal"]


class GateLike(Protocol):
    """Anything that can judge a candidate against production: ``evaluate_bundles`` is given
    both versions as the promotion opened them (each read once, through the command's index)
    and returns the evidence, a JSON-ready dict with at least ``metric``, ``better``
    (``"higher"`` or ``"lower"``), ``passed``, ``candidate`` and ``production`` (rows of
    scores, each with ``version``; ``production`` is ``None`` when there is none) and
    ``bars``; and, when it did not pass, ``refusals``: one sentence per reason."""

    def evaluate_bundles(
        self, candidate: LoadedBundle, production: LoadedBundle | None
    ) -> dict[str, Any]: ...


def refusal(evidence: dict[str, Any]) -> GateRefusedError:
    """The error of a gate the candidate did not pass: each of the gate's ``refusals`` (the
    candidate's value first, then the other's, with the p-value), or for a gate that gives none,
    both values of the metric."""
    metric = evidence["metric"]
    candidate, production = evidence["candidate"], evidence["production"]
    reasons = evidence.get("refusals")
    if not reasons:
        against = f"production {production['version']}" if production else "the gate"
        reasons = [
            f"not better than {against} on {metric} ({evidence['better']} is better): "
            f"{format_value(candidate[metric])} against "
            f"{format_value(production[metric] if production else None)} over {evidence['bars']} "
            "bars"
        ]
    return GateRefusedError(
        f"{candidate['version']} is refused by the gate: {'; '.join(reasons)}; promote with "
        "--force to override",
        evidence,
    )


def format_value(value: object) -> str:
    """A metric's value as a gate's messages give it: 4 significant digits, ``nan`` for none."""
    return f"{value:.4g}" if isinstance(value, int | float) else "nan"
