"""Names and confined file access in a model-type folder.

A registry folder may be writable by others (SECURITY.md). Every file this package opens in a
model-type folder (the lock, the journal, the write-ahead intent, temporaries) is opened without
following a symlink planted at its name (``O_NOFOLLOW``), new files with ``O_EXCL``, and only
regular files are used, opened so that a FIFO cannot block.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

from atb_prediction._core import is_folder_name, registry_folders
from atb_prediction.models.exceptions import PredictionError
from atb_prediction.promotion import _steps
from atb_prediction.promotion.exceptions import PromotionRefusedError, VersionNotFoundError

__all__ = [
    "INTENT_NAME",
    "JOURNAL_NAME",
    "LOCK_NAME",
    "TEMP_PREFIX",
    "check_name",
    "fsync_dir",
    "model_type_dir",
    "open_confined",
    "registry_folder",
    "replace_atomically",
    "write_new_file",
]

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
    """Refuse a name that cannot be a registry folder's (the core's layout rule: a hidden name,
    ``latest``, or one that is not a single path component)."""
    if not is_folder_name(name):
        raise PromotionRefusedError(f"{label} {name!r} is not a valid registry folder name")


def registry_folder(root: str | os.PathLike[str], *folders: tuple[str, str]) -> Path:
    """``root/NAME/...`` for ``(label, NAME)`` pairs, each a folder the registry's scan serves
    where it is (labels name them in errors: ``symbol``, ``model type``, ``version``).

    Raises:
        VersionNotFoundError: the registry or one of the folders does not exist.
        PromotionRefusedError: the scan refuses one (a symlink leaving the registry, a broken
            one), for the reason the scan gives.
    """
    base = Path(root)
    if not base.is_dir():
        raise VersionNotFoundError(f"registry not found: {base} is not a directory")
    directory = base
    for label, name in folders:
        try:
            served, refused = registry_folders(directory, base)
        except PredictionError as exc:
            raise VersionNotFoundError(f"cannot list {directory}: {exc}") from exc
        reasons = dict(refused)
        directory = directory / name
        if name in reasons:
            raise PromotionRefusedError(f"refusing to use {directory}: {reasons[name]}")
        if name not in served:
            raise VersionNotFoundError(f"{label} not found: {directory} is not a directory")
    return directory


def model_type_dir(root: str | os.PathLike[str], symbol: str, model_type: str) -> Path:
    """Return ``root/SYMBOL/MODEL_TYPE``, checking the names and that the scan serves it.

    Raises:
        PromotionRefusedError: a name is empty, hidden, ``latest`` or contains a separator, or
            the scan refuses the folder (a symlinked folder pointing outside the registry).
        VersionNotFoundError: the registry or the model-type folder does not exist.
    """
    check_name("symbol", symbol)
    check_name("model type", model_type)
    return registry_folder(root, ("symbol", symbol), ("model type", model_type))


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


def replace_atomically(
    temporary: Path,
    destination: Path,
    write: Callable[[Path], None],
    *,
    written: str | None = None,
    replaced: str | None = None,
) -> None:
    """Create ``temporary`` with ``write``, rename it over ``destination`` (one atomic step:
    readers see the old entry or the new one), then fsync the folder so the switch survives a
    power cut. ``temporary`` is removed if anything before the rename fails. ``written`` and
    ``replaced`` name the promotion steps reached after writing and after renaming.
    """
    try:
        write(temporary)
        if written is not None:
            _steps.reached(written)
        os.replace(temporary, destination)
        if replaced is not None:
            _steps.reached(replaced)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    fsync_dir(destination.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where folders cannot be opened)."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
