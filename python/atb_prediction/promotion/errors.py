"""The exceptions of promotion, rollback and history: defined with every other exception in
:mod:`atb_prediction.models.exceptions`, under ``PredictionError``, and re-exported here."""

from __future__ import annotations

from atb_prediction.models.exceptions import (
    GateRefusedError,
    LockTimeoutError,
    PromotionError,
    PromotionRefusedError,
    ValidationFailedError,
    VersionNotFoundError,
)

__all__ = [
    "GateRefusedError",
    "LockTimeoutError",
    "PromotionError",
    "PromotionRefusedError",
    "ValidationFailedError",
    "VersionNotFoundError",
]
