"""The per-model-type lock (``.latest.lock``, held with ``flock``) that serialises promotions."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from atb_prediction.promotion.exceptions import LockTimeoutError
from atb_prediction.promotion.files import LOCK_NAME, open_confined

__all__ = ["locked"]

_LOCK_POLL_SECONDS = 0.02


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
def locked(directory: Path, timeout: float, host: str) -> Iterator[None]:
    """Hold ``.latest.lock`` in ``directory`` for the duration of the block.

    The lock file is opened without following a symlink: a planted ``.latest.lock`` link is
    refused (``PromotionRefusedError``) instead of truncating the file it points to.
    """
    path = directory / LOCK_NAME
    fd = open_confined(path, os.O_RDWR | os.O_CREAT)
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
