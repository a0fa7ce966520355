"""Promote a registry version to production atomically, with a lock and a journal.

A registry marks the production version of ``SYMBOL/MODEL_TYPE`` with a ``latest`` entry: a
relative symlink to the version folder (or, in a checkout made without symlinks, a small file
holding the version name). Upstream promoted by deleting ``latest`` and creating it again, so a
live process could look in between and find no production model. Here a new symlink is created
under a temporary dot-name and renamed over ``latest`` (``rename`` replaces atomically on POSIX),
then the folder is fsynced so the switch survives a power cut.

A lock file (``.latest.lock``, held with ``flock``) serialises promotions of one model type, and
every change is appended to ``promotions.jsonl`` next to ``latest``: UTC time, action, from, to,
user, host and reason. :func:`rollback` reads that journal to find the version before the
current one and promotes it through the same path.

Files this module writes in a model-type folder::

    latest                  -> 2025-10-30_12h_v1   (relative symlink)
    promotions.jsonl        one JSON object per line
    .latest.lock            lock file, kept (removing it would race with a waiting promoter)
    .latest.tmp-PID-RANDOM  only while a promotion runs; a crashed one's is removed by the next
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import json
import logging
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from atb_prediction.models.exceptions import (
    LockTimeoutError,
    PromotionError,
    PromotionRefusedError,
    ValidationFailedError,
    VersionNotFoundError,
)

__all__ = [
    "JOURNAL_NAME",
    "LATEST_NAME",
    "LOCK_NAME",
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

LATEST_NAME = "latest"
"""Name of the production pointer in a model-type folder."""

JOURNAL_NAME = "promotions.jsonl"
"""Name of the promotion journal in a model-type folder."""

LOCK_NAME = ".latest.lock"
"""Name of the lock file that serialises promotions of one model type."""

_TEMP_PREFIX = ".latest.tmp-"
_POINTER_MAX_BYTES = 256
_LOCK_POLL_SECONDS = 0.02

Action = Literal["promote", "rollback"]
CheckFunction = Callable[[Path, str, str, str], list[str]]
"""``check(root, symbol, model_type, version) -> problems``; no problems lets a promotion go on."""

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PromotionRecord:
    """One line of ``promotions.jsonl``: a change of the production version."""

    time: str
    """When ``latest`` was switched, ISO 8601 in UTC (``2025-11-26T08:00:00.123+00:00``)."""
    action: Action
    """``promote``, or ``rollback`` for a switch back made by :func:`rollback`."""
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

    def to_json(self) -> dict[str, Any]:
        """The record as written to the journal (and printed by ``atb ... --json``)."""
        return {
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
        )


@dataclass(frozen=True, slots=True)
class PromotionResult:
    """What :func:`promote` or :func:`rollback` did."""

    record: PromotionRecord
    """The journal line written, or the one that would have been written when nothing changed."""
    changed: bool
    """False when the version already was production (nothing switched, nothing journaled)."""


# --- names and paths ----------------------------------------------------------------------------


def _check_name(label: str, name: str) -> None:
    """Refuse a path component that could leave its folder or name a hidden or special entry."""
    bad = (
        not name
        or name in (".", "..", LATEST_NAME)
        or name.startswith(".")
        or any(sep in name for sep in ("/", "\\", "\0"))
    )
    if bad:
        raise PromotionRefusedError(f"{label} {name!r} is not a valid registry folder name")


def model_type_dir(root: str | os.PathLike[str], symbol: str, model_type: str) -> Path:
    """Return ``root/SYMBOL/MODEL_TYPE``, checking the names and that the folder exists.

    Raises:
        PromotionRefusedError: a name is empty, hidden, ``latest`` or contains a separator.
        VersionNotFoundError: the registry or the model-type folder does not exist.
    """
    _check_name("symbol", symbol)
    _check_name("model type", model_type)
    base = Path(root)
    if not base.is_dir():
        raise VersionNotFoundError(f"registry not found: {base} is not a directory")
    directory = base / symbol / model_type
    if not directory.is_dir():
        raise VersionNotFoundError(f"model type not found: {directory} is not a directory")
    return directory


def _read_pointer(directory: Path) -> tuple[str | None, Literal["symlink", "file", "none"]]:
    """The version ``latest`` names and how it is stored.

    A symlink's target is reported by name when it is a sibling folder (the only form a
    promotion writes), else verbatim so that history shows what was really there.
    """
    latest = directory / LATEST_NAME
    try:
        target = os.readlink(latest)
    except FileNotFoundError:
        return None, "none"
    except OSError as exc:
        # EINVAL: not a symlink. Anything else (EACCES...) is a real failure to report.
        if exc.errno != errno.EINVAL and not (os.name == "nt" and latest.exists()):
            raise PromotionError(f"cannot read {latest}: {exc.strerror}") from exc
    else:
        normalised = os.path.normpath(target)
        if not os.path.isabs(normalised) and os.sep not in normalised:
            return normalised, "symlink"
        if os.path.isabs(normalised) and Path(normalised).parent == directory.resolve():
            return Path(normalised).name, "symlink"
        return target, "symlink"

    if latest.is_dir():
        raise PromotionRefusedError(
            f"refusing to replace {latest}: it is a real directory, not a symlink to a version "
            "(move it away first)"
        )
    # A checkout made without symlinks stores the link as a file holding the version name.
    try:
        with latest.open("rb") as handle:
            raw = handle.read(_POINTER_MAX_BYTES + 1)
    except OSError as exc:
        raise PromotionError(f"cannot read {latest}: {exc.strerror}") from exc
    name = raw.decode("utf-8", errors="replace").strip()
    if len(raw) > _POINTER_MAX_BYTES or not name or "\n" in name or "/" in name or "\\" in name:
        raise PromotionRefusedError(
            f"refusing to replace {latest}: it is a file, but not a pointer holding a version name"
        )
    return name, "file"


def current_version(root: str | os.PathLike[str], symbol: str, model_type: str) -> str | None:
    """The version ``SYMBOL/MODEL_TYPE/latest`` names, or ``None`` when there is no ``latest``.

    Raises:
        PromotionRefusedError: ``latest`` is a real directory or an unreadable pointer file.
    """
    return _read_pointer(model_type_dir(root, symbol, model_type))[0]


# --- lock, swap, journal ------------------------------------------------------------------------


def _reached(step: str) -> None:
    """Mark the end of one promotion step.

    Does nothing. Crash tests replace it to kill the process between two steps, and check
    that ``latest`` stays valid whatever step a promotion dies after.
    """


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where folders cannot be opened)."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    """Take the lock without waiting; True on success."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        # flock, not lockf: flock locks belong to the open file, so two threads of one process
        # exclude each other too, and the kernel drops the lock when a holder dies.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def _locked(directory: Path, timeout: float, host: str) -> Iterator[None]:
    """Hold ``.latest.lock`` in ``directory`` for the duration of the block."""
    path = directory / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                holder = ""
                if os.name != "nt":
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                raise LockTimeoutError(
                    f"another promotion of {directory} holds {path}"
                    + (f" ({holder})" if holder else "")
                    + f"; gave up after {timeout:g}s"
                )
            time.sleep(_LOCK_POLL_SECONDS)
        try:
            # Who holds the lock, for the timeout message of whoever waits on it.
            if os.name != "nt":
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()} on {host}\n".encode(), 0)
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def _remove_stale_temporaries(directory: Path) -> None:
    """Delete temporary links left by a promotion that died mid-way.

    Called with the lock held: a live promoter would hold the lock, so every temporary name
    found now belongs to a dead one.
    """
    for entry in directory.iterdir():
        if entry.name.startswith(_TEMP_PREFIX):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def _write_pointer_file(path: Path, version: str) -> None:
    with path.open("xb") as handle:
        handle.write(version.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())


def _swap_latest(directory: Path, version: str) -> None:
    """Point ``latest`` at ``version`` in one rename: readers see the old or the new target."""
    temporary = directory / f"{_TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        try:
            # Relative target, so the registry stays valid when it is moved or mounted elsewhere.
            os.symlink(version, temporary, target_is_directory=True)
        except OSError:
            if os.name != "nt":
                raise
            # Windows without the symlink privilege: fall back to the pointer-file form.
            _write_pointer_file(temporary, version)  # pragma: no cover
        _reached("temporary")
        os.replace(temporary, directory / LATEST_NAME)
        _reached("replaced")
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    _fsync_dir(directory)
    _reached("synced")


def _append_journal(directory: Path, record: PromotionRecord) -> None:
    """Append ``record`` as one line and fsync it."""
    path = directory / JOURNAL_NAME
    line = json.dumps(record.to_json(), ensure_ascii=False, sort_keys=False) + "\n"
    created = not path.exists()
    with path.open("a+b") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() > 0:
            # A writer killed mid-line leaves no newline; start afresh so that only the cut
            # line is lost, not this one too.
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                line = "\n" + line
        handle.write(line.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        _fsync_dir(directory)
    _reached("journaled")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # A container user without a passwd entry and without USER/LOGNAME set.
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def _default_check(root: Path, symbol: str, model_type: str, version: str) -> list[str]:
    # Imported here: validation pulls in the registry scanner, which a history read doesn't need.
    from atb_prediction.models.validation import check_version

    return check_version(root, symbol, model_type, version).problems


# --- public operations --------------------------------------------------------------------------


_ANY = object()


def _promote(
    root: str | os.PathLike[str],
    symbol: str,
    model_type: str,
    version: str,
    *,
    action: Action,
    reason: str | None,
    force: bool,
    user: str | None,
    host: str | None,
    lock_timeout: float,
    check: CheckFunction | None,
    expected_current: object = _ANY,
) -> PromotionResult:
    directory = model_type_dir(root, symbol, model_type)
    _check_name("version", version)
    target = directory / version
    if not target.is_dir():
        raise VersionNotFoundError(f"version not found: {target} is not a directory")
    real_root = Path(root).resolve()
    if not target.resolve().is_relative_to(real_root):
        raise PromotionRefusedError(
            f"refusing to promote {target}: it resolves outside {real_root}"
        )
    # Read before validating: a `latest` directory is refused at once, not after a slow check.
    _read_pointer(directory)
    if not force and check is not None:
        problems = check(Path(root), symbol, model_type, version)
        if problems:
            raise ValidationFailedError(
                f"refusing to promote {symbol}/{model_type}/{version}: it fails validation: "
                + "; ".join(problems)
                + " (use --force to promote anyway)",
                problems,
            )

    host = host if host is not None else socket.gethostname()
    user = user if user is not None else _default_user()
    with _locked(directory, lock_timeout, host):
        _reached("locked")
        _remove_stale_temporaries(directory)
        previous, form = _read_pointer(directory)
        if expected_current is not _ANY and previous != expected_current:
            raise PromotionRefusedError(
                f"{symbol}/{model_type} changed while the {action} was prepared "
                f"(production is now {previous!r}); run it again"
            )
        record = PromotionRecord(
            time=_now(),
            action=action,
            symbol=symbol,
            model_type=model_type,
            from_version=previous,
            to_version=version,
            user=user,
            host=host,
            reason=reason,
            forced=force,
        )
        if previous == version:
            if form == "file":
                # Same version, but store it as the symlink that upstream's loader follows.
                _swap_latest(directory, version)
            return PromotionResult(record=record, changed=False)
        _swap_latest(directory, version)
        _append_journal(directory, record)
    return PromotionResult(record=record, changed=True)


def promote(
    root: str | os.PathLike[str],
    symbol: str,
    model_type: str,
    version: str,
    *,
    reason: str | None = None,
    force: bool = False,
    user: str | None = None,
    host: str | None = None,
    lock_timeout: float = 30.0,
    check: CheckFunction | None = _default_check,
) -> PromotionResult:
    """Make ``version`` the production version of ``SYMBOL/MODEL_TYPE``.

    The version must exist and, unless ``force``, pass ``check`` (by default the full
    validation of :func:`atb_prediction.models.validation.check_version`). ``latest`` is then
    switched atomically under the model type's lock and the change is journaled. Promoting the
    current production version changes nothing and writes no journal line.

    Args:
        root: The registry root.
        symbol: Symbol folder, e.g. ``BTCUSDT``.
        model_type: Model-type folder, e.g. ``basic``.
        version: Version folder to promote.
        reason: Free text for the journal.
        force: Skip validation (recorded in the journal).
        user: Who promotes; defaults to the login name.
        host: Where from; defaults to the host name.
        lock_timeout: Seconds to wait for a concurrent promotion to finish.
        check: Validation hook; ``None`` skips validation without marking the record forced.

    Raises:
        VersionNotFoundError: the registry, model type or version does not exist.
        ValidationFailedError: the version fails validation and ``force`` is false.
        PromotionRefusedError: ``latest`` is a real directory or not a pointer, or a name is unsafe.
        LockTimeoutError: another promotion held the lock for ``lock_timeout`` seconds.
        OSError: the filesystem refused a write; ``latest`` is then unchanged or fully switched.
    """
    return _promote(
        root,
        symbol,
        model_type,
        version,
        action="promote",
        reason=reason,
        force=force,
        user=user,
        host=host,
        lock_timeout=lock_timeout,
        check=check,
    )


def history(root: str | os.PathLike[str], symbol: str, model_type: str) -> list[PromotionRecord]:
    """The journal of ``SYMBOL/MODEL_TYPE``, oldest first; empty when nothing was promoted.

    A line that does not parse (cut short by a crash, or edited by hand) is skipped with a
    logged warning rather than hiding the rest of the history.
    """
    path = model_type_dir(root, symbol, model_type) / JOURNAL_NAME
    try:
        text = path.read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(PromotionRecord.from_json(json.loads(line)))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            _log.warning("%s line %d skipped: %s", path, number, exc)
    return records


def rollback_target(root: str | os.PathLike[str], symbol: str, model_type: str) -> str:
    """The version a rollback of ``SYMBOL/MODEL_TYPE`` would promote: the one before the current.

    The journal is read as a stack: a promotion pushes the version it replaced, a rollback pops
    one, so successive rollbacks walk back through the history instead of toggling between two
    versions. When ``latest`` no longer names the journal's last target (changed by hand, or a
    promotion died before journaling), that last target is the version before the current one.

    Raises:
        PromotionRefusedError: no earlier version is recorded.
    """
    directory = model_type_dir(root, symbol, model_type)
    current, _ = _read_pointer(directory)
    records = history(root, symbol, model_type)
    if records and records[-1].to_version != current:
        candidate: str | None = records[-1].to_version
    else:
        stack: list[str | None] = []
        for record in records:
            if record.action == "rollback":
                if stack:
                    stack.pop()
            else:
                stack.append(record.from_version)
        candidate = stack[-1] if stack else None
    if candidate is None or candidate == current:
        raise PromotionRefusedError(
            f"nothing to roll back to: {directory / JOURNAL_NAME} records no version before "
            f"{current!r}"
        )
    return candidate


def rollback(
    root: str | os.PathLike[str],
    symbol: str,
    model_type: str,
    *,
    reason: str | None = None,
    force: bool = False,
    user: str | None = None,
    host: str | None = None,
    lock_timeout: float = 30.0,
    check: CheckFunction | None = _default_check,
) -> PromotionResult:
    """Promote ``SYMBOL/MODEL_TYPE`` back to the version before the current one.

    The target is :func:`rollback_target`; the switch goes through the same validation, lock,
    atomic rename and journal as :func:`promote`, with action ``rollback``. Should another
    promotion land between choosing the target and taking the lock, the rollback is refused
    rather than undoing the wrong change.

    Raises:
        PromotionRefusedError: nothing to roll back to, or the registry changed meanwhile; and
            everything :func:`promote` raises.
    """
    directory = model_type_dir(root, symbol, model_type)
    current, _ = _read_pointer(directory)
    target = rollback_target(root, symbol, model_type)
    return _promote(
        root,
        symbol,
        model_type,
        target,
        action="rollback",
        reason=reason,
        force=force,
        user=user,
        host=host,
        lock_timeout=lock_timeout,
        check=check,
        expected_current=current,
    )
