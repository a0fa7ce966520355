"""Promote a registry version to production atomically, with a lock and a journal.

The package is split by job: :mod:`.exceptions` (promotion's errors, under
``PredictionError``), :mod:`.files` (names, confined opens), :mod:`.lock` (the
per-model-type ``flock``), :mod:`.swap` (reading ``latest`` and switching it in one rename),
:mod:`.journal` (``promotions.jsonl`` and its write-ahead intent), :mod:`.policy` (what a version
must satisfy), :mod:`.gate` (what a version must score better than production on, for a gated
promotion), :mod:`.operations` (``promote``, ``rollback``, ``history``), :mod:`.guard` (the
timeframe guard the command line applies) and :mod:`.version_resolver` (which version was
production when: upstream's ``atb_prediction.models.version_resolver``, read from the journal).

Files this package writes in a model-type folder::

    latest                  -> 2025-10-30_12h_v1   (relative symlink)
    promotions.jsonl        one JSON object per line
    .latest.lock            lock file, kept (removing it would race with a waiting promoter)
    .promotion-intent.json  only while a promotion runs (or after one was killed mid-way)
    .latest.tmp-PID-RANDOM  only while a promotion runs; a crashed one's is removed by the next

and, in the version folder promoted, ``manifest.json`` (see ``atb models seal``).
"""

from __future__ import annotations

from atb_prediction.promotion.exceptions import (
    GateRefusedError,
    LockTimeoutError,
    PromotionError,
    PromotionRefusedError,
    ValidationFailedError,
    VersionNotFoundError,
)
from atb_prediction.promotion.files import (
    INTENT_NAME,
    JOURNAL_NAME,
    LOCK_NAME,
    model_type_dir,
)
from atb_prediction.promotion.gate import GateLike
from atb_prediction.promotion.journal import PromotionRecord
from atb_prediction.promotion.operations import (
    PromotionResult,
    current_version,
    history,
    promote,
    rollback,
    rollback_target,
)
from atb_prediction.promotion.policy import CheckFunction

__all__ = [
    "INTENT_NAME",
    "JOURNAL_NAME",
    "LOCK_NAME",
    "CheckFunction",
    "GateLike",
    "GateRefusedError",
    "LockTimeoutError",
    "PromotionError",
    "PromotionRecord",
    "PromotionRefusedError",
    "PromotionResult",
    "ValidationFailedError",
    "VersionNotFoundError",
    "current_version",
    "history",
    "model_type_dir",
    "promote",
    "rollback",
    "rollback_target",
]
