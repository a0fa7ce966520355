"""Which version was in production at a given time: upstream's ``version_resolver`` API.

Upstream only approximates promotion times: a version counts as live from its ``metadata.json``
``created_at`` (else the date in its folder name), even if it was never promoted. This package
keeps an exact promotion journal (``promotions.jsonl``, written by ``atb models promote`` and
``rollback``), so here, from the journal's first entry on, the times are the real switches of
``latest`` (``source="journal"``); before it, and for model types without a journal, the
records are upstream's, with the same names and results.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from atb_prediction._core import read_json_document, registry_folders, version_date
from atb_prediction.models.exceptions import ModelNotAvailableError, PredictionError
from atb_prediction.promotion.operations import history
from atb_prediction.times import as_utc, parse_utc

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "PromotionSegment",
    "VersionRecord",
    "list_version_records",
    "live_positions",
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


def _created_at(registry_path: Path, version_dir: Path) -> datetime | None:
    """``metadata.json``'s ``created_at``, read by the core's guarded reader as the scan reads
    it: a FIFO or a huge file there is refused (with a warning), never waited on or read whole."""
    path = version_dir / "metadata.json"
    if not os.path.lexists(path):
        return None
    try:
        metadata = read_json_document(path, registry_path)
    except PredictionError as error:
        logger.warning("%s: %s; timed by its folder name instead", version_dir, error)
        return None
    return _parse_time(metadata.get("created_at"))


def _approximate_records(registry_path: Path, model_dir: Path) -> list[VersionRecord]:
    """Upstream's records: one per version folder the scan serves (a symlinked one inside the
    registry too), timed by ``created_at`` or the date its name starts with."""
    try:
        names, _ = registry_folders(model_dir, registry_path)
    except PredictionError:
        return []
    records = []
    for name in names:
        created = _created_at(registry_path, model_dir / name)
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


def live_positions(
    records: Sequence[VersionRecord], moments: npt.NDArray[np.datetime64]
) -> npt.NDArray[np.int64]:
    """The one rule of which version was live when: for each of ``moments`` (UTC
    ``datetime64``), the position in ``records`` (in time order, as
    :func:`list_version_records` returns them) of the record live then, the last one effective
    at or before it (of records sharing a time, the later one); ``-1`` where none is yet.
    :func:`resolve_version_as_of`, :func:`promotion_segments` and as-live sweeps all ask here.
    """
    import numpy as np  # imported here: the command line's history does not need numpy

    effective = np.array(
        [np.datetime64(record.effective_at.replace(tzinfo=None), "ns") for record in records],
        dtype="datetime64[ns]",
    )
    # Records are in time order, so a binary search finds the last one at or before each time.
    positions: npt.NDArray[np.int64] = (
        np.searchsorted(effective, moments.astype("datetime64[ns]"), side="right") - 1
    )
    return positions


def _live_record(records: Sequence[VersionRecord], moment: datetime) -> VersionRecord | None:
    """The record live at ``moment`` (:func:`live_positions`), or ``None``."""
    import numpy as np

    utc = np.datetime64(as_utc(moment).replace(tzinfo=None), "ns")
    position = int(live_positions(records, np.array([utc]))[0])
    return records[position] if position >= 0 else None


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
    live = _live_record(records, moment)
    if live is None:
        earliest = records[0]
        raise ModelNotAvailableError(
            f"No {symbol}/{model_type} version was live at {moment.isoformat()}; the earliest, "
            f"{earliest.version_id}, is effective from {earliest.effective_at.isoformat()}"
        )
    return live


def promotion_segments(
    records: list[VersionRecord], start: datetime, end: datetime
) -> list[PromotionSegment]:
    """Split ``[start, end]`` at every distinct ``effective_at`` strictly inside it.

    Each segment's version is the one live at its start (:func:`live_positions`: the last record
    effective at or before it; ``None`` when none is); of records sharing a time the later one
    wins, and no segment has zero length. ``records`` are in time order, as
    :func:`list_version_records` returns them.
    """
    start, end = as_utc(start), as_utc(end)
    boundaries = sorted({r.effective_at for r in records if start < r.effective_at < end})
    edges = [start, *boundaries, end]

    def live_at(moment: datetime) -> str | None:
        live = _live_record(records, moment)
        return live.version_id if live is not None else None

    return [PromotionSegment(live_at(left), left, right) for left, right in pairwise(edges)]
