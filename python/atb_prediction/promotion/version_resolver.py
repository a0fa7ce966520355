"""Which version was in production at a given time: upstream's ``version_resolver`` API.

Upstream only approximates promotion times: a version counts as live from its ``metadata.json``
``created_at`` (else the date in its folder name), even if it was never promoted. This package
keeps an exact promotion journal (``promotions.jsonl``, written by ``atb models promote`` and
``rollback``), so here, from the journal's first entry on, the times are the real switches of
``latest`` (``source="journal"``); before it, and for model types without a journal, the
records are upstream's, with the same names and results.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import pairwise
from pathlib import Path

from atb_prediction._core import registry_folders, version_date
from atb_prediction.models.exceptions import ModelNotAvailableError, PredictionError
from atb_prediction.promotion.operations import history
from atb_prediction.times import as_utc, parse_utc

__all__ = [
    "PromotionSegment",
    "VersionRecord",
    "list_version_records",
    "promotion_segments",
    "resolve_version_as_of",
]

logger = logging.getLogger("atb_prediction")


@dataclass(frozen=True)
class VersionRecord:
    """When a version became production, and where that time came from.

    ``source`` is ``"journal"`` (a switch recorded in ``promotions.jsonl``), ``"metadata"``
    (``created_at``) or ``"version_id"`` (the date its folder name starts with).
    """

    version_id: str
    effective_at: datetime
    source: str


@dataclass(frozen=True)
class PromotionSegment:
    """A span of time ``[start, end]`` during which ``version_id`` was production (``None``: none
    was)."""

    version_id: str | None
    start: datetime
    end: datetime


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_utc(text)
    except ValueError:
        return None


def _created_at(version_dir: Path) -> datetime | None:
    try:
        metadata = json.loads((version_dir / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return _parse_time(metadata.get("created_at")) if isinstance(metadata, dict) else None


def _approximate_records(registry_path: Path, model_dir: Path) -> list[VersionRecord]:
    """Upstream's records: one per version folder the scan serves (a symlinked one inside the
    registry too), timed by ``created_at`` or the date its name starts with."""
    try:
        names, _ = registry_folders(model_dir, registry_path)
    except PredictionError:
        return []
    records = []
    for name in names:
        created = _created_at(model_dir / name)
        if created is not None:
            records.append(VersionRecord(name, created, "metadata"))
            continue
        day = version_date(name)
        if day is not None:
            records.append(VersionRecord(name, datetime(*day, tzinfo=timezone.utc), "version_id"))
            continue
        logger.warning(
            "%s: no created_at in metadata.json and no YYYY-MM-DD date in the folder name; "
            "left out of the version records",
            model_dir / name,
        )
    return sorted(records, key=lambda record: (record.effective_at, record.version_id))


def _journal_records(registry_path: Path, symbol: str, model_type: str) -> list[VersionRecord]:
    """Every completed switch of ``latest`` in the promotion journal, oldest first."""
    records = []
    for entry in history(registry_path, symbol, model_type):
        moment = _parse_time(entry.time)
        if moment is None or not entry.to_version:
            logger.warning(
                "%s/%s promotion journal: entry to %r has no readable time; ignored",
                symbol,
                model_type,
                entry.to_version,
            )
            continue
        records.append(VersionRecord(entry.to_version, moment, "journal"))
    # Journal order breaks ties between equal times: the later line wins, as it did on disk.
    return sorted(records, key=lambda record: record.effective_at)


def list_version_records(
    registry_path: str | os.PathLike[str], symbol: str, model_type: str
) -> list[VersionRecord]:
    """Every time the production version of ``symbol``/``model_type`` changed, oldest first.

    Before the promotion journal's first entry (or without a journal) these are upstream's
    approximate records, sorted by ``(effective_at, version_id)``; from it on, the journal's
    switches. Returns ``[]`` when the model-type folder does not exist.
    """
    model_dir = Path(registry_path) / symbol / model_type
    if not model_dir.is_dir():
        return []
    approximate = _approximate_records(Path(registry_path), model_dir)
    journal = _journal_records(Path(registry_path), symbol, model_type)
    if not journal:
        return approximate
    first_switch = journal[0].effective_at
    return [r for r in approximate if r.effective_at < first_switch] + journal


def resolve_version_as_of(
    registry_path: str | os.PathLike[str], symbol: str, model_type: str, as_of: datetime
) -> VersionRecord:
    """The record of the version that was production at ``as_of`` (inclusive; a naive time
    means UTC), as upstream returns it.

    Raises:
        ModelNotAvailableError: no records, or every record is later than ``as_of``.
    """
    records = list_version_records(registry_path, symbol, model_type)
    if not records:
        raise ModelNotAvailableError(f"No versions recorded for {symbol}/{model_type}")
    moment = as_utc(as_of)
    live = [record for record in records if record.effective_at <= moment]
    if not live:
        earliest = records[0]
        raise ModelNotAvailableError(
            f"No {symbol}/{model_type} version was live at {moment.isoformat()}; the earliest, "
            f"{earliest.version_id}, is effective from {earliest.effective_at.isoformat()}"
        )
    return live[-1]


def promotion_segments(
    records: list[VersionRecord], start: datetime, end: datetime
) -> list[PromotionSegment]:
    """Split ``[start, end]`` at every distinct ``effective_at`` strictly inside it.

    Each segment's version is the last record effective at or before its start (``None`` when
    none is); of records sharing a time the later one wins, and no segment has zero length.
    """
    start, end = as_utc(start), as_utc(end)
    boundaries = sorted({r.effective_at for r in records if start < r.effective_at < end})
    edges = [start, *boundaries, end]

    def live_at(moment: datetime) -> str | None:
        live = [record for record in records if record.effective_at <= moment]
        return live[-1].version_id if live else None

    return [PromotionSegment(live_at(left), left, right) for left, right in pairwise(edges)]
