"""Names and confined file access in a model-type folder.

A registry folder may be writable by others (SECURITY.md). Every file this package opens in a
model-type folder (the lock, the journal, the write-ahead intent, temporaries) is opened without
following a symlink planted at its name (``O_NOFOLLOW``), new files with ``O_EXCL``, and only
regular files are used, opened so that a FIFO cannot block.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from atb_prediction.promotion.errors import PromotionRefusedError, VersionNotFoundError

__all__ = [
    "INTENT_NAME",
    "JOURNAL_NAME",
    "LATEST_NAME",
    "LOCK_NAME",
    "TEMP_PREFIX",
    "check_name",
    "fsync_dir",
    "model_type_dir",
    "open_confined",
    "write_new_file",
]

LATEST_NAME = "latest"
"""Name of the production pointer in a model-type folder."""

JOURNAL_NAME = "promotions.jsonl"
"""Name of the promotion journal in a model-type folder."""

LOCK_NAME = ".latest.lock"
"""Name of the lock file that serialises promotions of one model type."""

INTENT_NAME = ".promotion-intent.json"
"""The write-ahead record of a promotion in progress (see :mod:`.journal`)."""

TEMP_PREFIX = ".latest.tmp-"
"""Prefix of temporary entries; those of a dead promotion are removed by the next one."""

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def check_name(label: str, name: str) -> None:
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
        PromotionRefusedError: a name is empty, hidden, ``latest`` or contains a separator, or
            the folder resolves outside the registry (a symlinked folder pointing elsewhere).
        VersionNotFoundError: the registry or the model-type folder does not exist.
    """
    check_name("symbol", symbol)
    check_name("model type", model_type)
    base = Path(root)
    if not base.is_dir():
        raise VersionNotFoundError(f"registry not found: {base} is not a directory")
    directory = base / symbol / model_type
    if not directory.is_dir():
        raise VersionNotFoundError(f"model type not found: {directory} is not a directory")
    if not directory.resolve().is_relative_to(base.resolve()):
        raise PromotionRefusedError(
            f"refusing to use {directory}: it resolves outside the registry ({directory.resolve()})"
        )
    return directory


def open_confined(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that never follows a symlink at ``path`` and accepts only a regular file.

    ``O_NONBLOCK`` keeps a planted FIFO from blocking the open; the file-type check then
    refuses it.

    Raises:
        PromotionRefusedError: ``path`` is a symlink or not a regular file.
        OSError: any other failure to open.
    """
    try:
        fd = os.open(path, flags | _NOFOLLOW | _NONBLOCK | _CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EEXIST and path.is_symlink()):
            raise PromotionRefusedError(
                f"refusing to open {path}: it is a symlink (planted?); remove it and retry"
            ) from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PromotionRefusedError(f"refusing to open {path}: it is not a regular file")
    return fd


def write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` (``O_EXCL``: never an existing entry, never through a link), write
    ``data`` and fsync it."""
    fd = open_confined(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where folders cannot be opened)."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
