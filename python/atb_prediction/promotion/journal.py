"""The promotion journal, ``promotions.jsonl``, with a write-ahead intent.

Every switch of ``latest`` is appended as one JSON line: UTC time, action, from, to, user, host,
reason, forced and an ``id``. So that no switch is ever missing from the journal, a promotion
first writes its record to ``.promotion-intent.json`` (fsynced, renamed into place) before
switching, appends it to the journal after switching, and only then removes the intent. A
promotion killed in between leaves the intent behind: :func:`reconciled` adds it to what the
journal says when ``latest`` really points to its target (the switch happened), and drops it when
not; the next promotion, under the lock, writes that outcome to the journal for good.

Reading never raises on a line: a line that is too long, too deeply nested or not a record is
skipped, with one warning per file. Writing refuses, before anything is switched, a record whose
line the reader would skip (:func:`encode`: the same limits, :func:`check_line`), so that no
promotion exists that history, rollback and as-live sweeps cannot see.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from atb_prediction.promotion import _steps
from atb_prediction.promotion.exceptions import PromotionRefusedError
from atb_prediction.promotion.files import (
    INTENT_NAME,
    JOURNAL_NAME,
    fsync_dir,
    open_confined,
    replace_atomically,
    write_new_file,
)

__all__ = [
    "Action",
    "PromotionRecord",
    "append",
    "check_line",
    "check_writable",
    "clear_intent",
    "encode",
    "read_intent",
    "read_journal",
    "reconciled",
    "settle_intent",
    "write_intent",
]

Action = Literal["promote", "rollback"]

_log = logging.getLogger("atb_prediction.promotion")

MAX_LINE_BYTES = 64 * 1024
"""A journal line longer than this (in UTF-8 bytes) is skipped on reading and refused on writing:
a record is a few hundred bytes, a gated one a few kilobytes."""

MAX_JOURNAL_BYTES = 256 * 1024 * 1024
"""Only the last this-many bytes of a larger journal are read."""

_MAX_NESTING = 4
"""A record is a flat object; deeper lines are skipped before ``json.loads`` sees them."""


@dataclass(frozen=True, slots=True)
class PromotionRecord:
    """One line of ``promotions.jsonl``: a change of the production version."""

    time: str
    """When ``latest`` was switched, ISO 8601 in UTC (``2025-11-26T08:00:00.123+00:00``)."""
    action: Action
    """``promote``, or ``rollback`` for a switch back made by ``rollback``."""
    symbol: str
    model_type: str
    from_version: str | None
    """The production version before the switch; ``None`` when there was no ``latest``."""
    to_version: str
    """The production version after the switch."""
    user: str
    host: str
    reason: str | None
    forced: bool
    """Whether validation was skipped."""
    id: str | None = None
    """Identifies the promotion across its intent and its journal line (``None`` in old lines)."""
    gate: dict[str, Any] | None = None
    """The evidence of a gated promotion (:mod:`.gate`): metric, both rows of scores, bars,
    horizon, fee and the series' sha256, and whether the candidate passed."""

    def to_json(self) -> dict[str, Any]:
        """The record as written to the journal (and printed by ``atb ... --json``)."""
        data: dict[str, Any] = {
            "time": self.time,
            "action": self.action,
            "symbol": self.symbol,
            "model_type": self.model_type,
            "from": self.from_version,
            "to": self.to_version,
            "user": self.user,
            "host": self.host,
            "reason": self.reason,
            "forced": self.forced,
        }
        if self.id is not None:
            data["id"] = self.id
        if self.gate is not None:
            data["gate"] = self.gate
        return data

    @classmethod
    def from_json(cls, data: object) -> PromotionRecord:
        """Parse one journal object; raise ``ValueError`` when a field is missing or mistyped."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")

        def text(name: str, *, optional: bool = False) -> str | None:
            value = data.get(name)
            if value is None and optional:
                return None
            if not isinstance(value, str):
                raise ValueError(f"field {name!r} must be a string, got {value!r}")
            return value

        action = data.get("action", "promote")
        if action not in ("promote", "rollback"):
            raise ValueError(f"field 'action' must be 'promote' or 'rollback', got {action!r}")
        forced = data.get("forced", False)
        if not isinstance(forced, bool):
            raise ValueError(f"field 'forced' must be a boolean, got {forced!r}")
        gate = data.get("gate")
        if gate is not None and not isinstance(gate, dict):
            raise ValueError(f"field 'gate' must be an object, got {gate!r}")
        return cls(
            time=text("time") or "",
            action=action,
            symbol=text("symbol") or "",
            model_type=text("model_type") or "",
            from_version=text("from", optional=True),
            to_version=text("to") or "",
            user=text("user", optional=True) or "",
            host=text("host", optional=True) or "",
            reason=text("reason", optional=True),
            forced=forced,
            id=text("id", optional=True),
            gate=gate,
        )


def _nesting(line: str) -> int:
    """The deepest bracket nesting of ``line`` outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for char in line:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _utf8_size(text: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("not text UTF-8 can hold (a lone surrogate)") from None


def check_line(line: str) -> None:
    """The journal's limits on one line, for the reader and the writer alike: at most
    :data:`MAX_LINE_BYTES` bytes of UTF-8, nested at most ``_MAX_NESTING`` levels deep.

    Raises:
        ValueError: saying which limit the line passes.
    """
    # Characters never outnumber bytes: a line short in characters is measured in bytes.
    if len(line) > MAX_LINE_BYTES or _utf8_size(line) > MAX_LINE_BYTES:
        raise ValueError(f"longer than {MAX_LINE_BYTES} bytes")
    if line.count("[") + line.count("{") > _MAX_NESTING and _nesting(line) > _MAX_NESTING:
        raise ValueError(f"nested deeper than {_MAX_NESTING} levels")


def parse_line(line: str) -> PromotionRecord:
    """One journal line as a record; ``ValueError`` (never anything else) when it is not one."""
    check_line(line)
    try:
        data = json.loads(line)
    except RecursionError as exc:  # pragma: no cover - the nesting check comes first
        raise ValueError("nested too deeply") from exc
    return PromotionRecord.from_json(data)  # json.JSONDecodeError is a ValueError


def _read_text(path: Path, limit: int) -> str | None:
    """The last ``limit`` bytes of ``path`` as text; ``None`` when it does not exist."""
    try:
        fd = open_confined(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(fd).st_size
        start = max(0, size - limit)
        chunks = []
        while True:
            chunk = os.pread(fd, 1 << 20, start)
            if not chunk:
                break
            chunks.append(chunk)
            start += len(chunk)
            if start - max(0, size - limit) >= limit:
                break
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="replace")


def read_journal(directory: Path) -> list[PromotionRecord]:
    """The records of ``directory/promotions.jsonl``, oldest first; ``[]`` when there is none.

    Raises:
        PromotionRefusedError: the journal is a symlink or not a regular file.
    """
    path = directory / JOURNAL_NAME
    text = _read_text(path, MAX_JOURNAL_BYTES)
    if text is None:
        return []
    records = []
    skipped: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(parse_line(line))
        except ValueError as exc:
            skipped.append((number, str(exc)))
    if skipped:
        first, reason = skipped[0]
        more = f" (and {len(skipped) - 1} more line(s))" if len(skipped) > 1 else ""
        _log.warning("%s line %d skipped: %s%s", path, first, reason, more)
    return records


def encode(record: PromotionRecord) -> str:
    """``record`` as its journal line (without the newline), checked to read back as itself.

    Raises:
        PromotionRefusedError: the reader would skip the line (too long: a ``reason`` of
            many kilobytes; too deeply nested: a gate's evidence), saying which limit.
    """
    line = json.dumps(record.to_json(), ensure_ascii=False, sort_keys=False)
    try:
        check_line(line)
    except ValueError as exc:
        hint = ""
        if record.reason and len(record.reason) > MAX_LINE_BYTES // 2:
            hint = f"; shorten the reason ({len(record.reason)} characters)"
        raise PromotionRefusedError(
            f"refusing to {record.action} {record.symbol}/{record.model_type}/"
            f"{record.to_version}: its journal line would be {exc}, and the journal's reader "
            f"would skip it{hint}"
        ) from None
    return line


def append(directory: Path, record: PromotionRecord) -> None:
    """Append ``record`` as one line and fsync it."""
    path = directory / JOURNAL_NAME
    line = encode(record) + "\n"
    created = not path.exists()
    fd = open_confined(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
    try:
        size = os.fstat(fd).st_size
        # A writer killed mid-line leaves no newline; start afresh so that only the cut line is
        # lost, not this one too.
        if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
            line = "\n" + line
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(directory)
    _steps.reached("journaled")


def check_writable(directory: Path) -> None:
    """Refuse now, before anything is switched, a journal that :func:`append` would refuse."""
    path = directory / JOURNAL_NAME
    try:
        os.close(open_confined(path, os.O_RDONLY))
    except FileNotFoundError:
        return


def write_intent(directory: Path, record: PromotionRecord, temporary: Path) -> None:
    """Durably record ``record`` as the promotion about to switch ``latest``."""
    data = encode(record).encode("utf-8")
    replace_atomically(temporary, directory / INTENT_NAME, lambda path: write_new_file(path, data))
    _steps.reached("intent")


def read_intent(directory: Path) -> PromotionRecord | None:
    """The intent a killed promotion left behind, or ``None``; an unreadable one is ignored."""
    try:
        text = _read_text(directory / INTENT_NAME, MAX_LINE_BYTES + 1)
    except PromotionRefusedError as exc:
        _log.warning("%s", exc)
        return None
    if text is None:
        return None
    try:
        return parse_line(text)
    except ValueError as exc:
        _log.warning("%s ignored: %s", directory / INTENT_NAME, exc)
        return None


def clear_intent(directory: Path) -> None:
    """Remove the intent once its promotion is journaled (or known not to have switched)."""
    with contextlib.suppress(FileNotFoundError):
        (directory / INTENT_NAME).unlink()
    fsync_dir(directory)
    _steps.reached("completed")


def reconciled(
    records: list[PromotionRecord], intent: PromotionRecord | None, current: str | None
) -> list[PromotionRecord]:
    """The journal's records with an unfinished promotion added when its switch happened.

    The switch happened when ``latest`` (``current``) points to the intent's target and the
    journal does not already hold the intent's line.
    """
    if intent is None or intent.to_version != current:
        return records
    if intent.id is not None and any(record.id == intent.id for record in records):
        return records
    return [*records, intent]


def settle_intent(directory: Path, current: str | None) -> None:
    """With the lock held: journal a killed promotion's switch if it happened, drop its intent."""
    intent = read_intent(directory)
    if intent is None:
        if (directory / INTENT_NAME).is_symlink() or (directory / INTENT_NAME).exists():
            clear_intent(directory)
        return
    records = read_journal(directory)
    if reconciled(records, intent, current) is not records:
        append(directory, intent)
    clear_intent(directory)
