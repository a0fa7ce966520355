"""The exceptions of promotion, rollback and history, under the package's one base class
(:class:`~atb_prediction.models.exceptions.PredictionError`). Import them from
:mod:`atb_prediction.promotion`."""

from __future__ import annotations

from atb_prediction.models.exceptions import PredictionError


class PromotionError(PredictionError):
    """A promotion or rollback could not be carried out."""


class PromotionRefusedError(PromotionError, ValueError):
    """The request or the registry's state makes the promotion unsafe, so nothing was changed."""


class VersionNotFoundError(PromotionRefusedError, LookupError):
    """The model-type folder or the version to promote does not exist."""


class GateRefusedError(PromotionRefusedError):
    """The candidate did not pass its gate: it is not better than production, or than
    buy-and-hold, by more than luck over the gate's bars (promote with ``force=True`` to
    override; the evidence is journaled either way)."""

    def __init__(self, message: str, evidence: dict[str, object]) -> None:
        super().__init__(message)
        self.evidence = evidence
        """The gate's evidence: the verdict and why, the rows of scores, each comparison's
        p-value, the settings, and the sha256 of the bars and of both models."""


class ValidationFailedError(PromotionRefusedError):
    """The version to promote fails validation (promote with ``force=True`` to skip the check)."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems
        """The validation problems, one sentence each."""


class LockTimeoutError(PromotionError, TimeoutError):
    """Another promotion of the same model type held the lock for longer than the timeout."""


__all__ = [
    "GateRefusedError",
    "LockTimeoutError",
    "PromotionError",
    "PromotionRefusedError",
    "ValidationFailedError",
    "VersionNotFoundError",
]
