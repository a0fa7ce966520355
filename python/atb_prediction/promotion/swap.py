"""Reading ``latest`` and switching it atomically.

A registry marks the production version of ``SYMBOL/MODEL_TYPE`` with a ``latest`` entry: a
relative symlink to the version folder (or, in a checkout made without symlinks, a small file
holding the version name). Upstream promoted by deleting ``latest`` and creating it again, so a
live process could look in between and find no production model. Here a new symlink is created
under a temporary dot-name and renamed over ``latest`` (``rename`` replaces atomically on POSIX),
then the folder is fsynced so the switch survives a power cut.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Literal

from atb_prediction._core import LATEST
from atb_prediction.promotion import _steps
from atb_prediction.promotion.exceptions import PromotionError, PromotionRefusedError
from atb_prediction.promotion.files import (
    TEMP_PREFIX,
    replace_atomically,
    write_new_file,
)

__all__ = [
    "PointerForm",
    "read_pointer",
    "remove_stale_temporaries",
    "swap_latest",
    "temporary_path",
]

PointerForm = Literal["symlink", "file", "none"]


def read_pointer(directory: Path) -> tuple[str | None, PointerForm]:
    """The version ``latest`` names and how it is stored.

    Read by the core's one reader of ``latest`` (``_core.read_latest``, which the scan uses
    too). A symlink's target is reported by name when it is a folder beside it (the only form a
    promotion writes; the core's layout decides), else verbatim so that history shows what was
    really there.

    Raises:
        PromotionRefusedError: ``latest`` is a real directory, or neither a symlink nor a
            pointer file holding a version name.
        PromotionError: ``latest`` cannot be read.
    """
    from atb_prediction._core import read_latest

    latest = directory / LATEST
    form, value = read_latest(directory)
    if form == "none":
        return None, "none"
    if form == "file" and value is not None:
        return value, "file"
    if form == "symlink" and value is not None:
        return value, "symlink"
    if form == "directory":
        raise PromotionRefusedError(
            f"refusing to replace {latest}: it is a real directory, not a symlink to a version "
            "(move it away first)"
        )
    if form == "invalid":
        raise PromotionRefusedError(f"refusing to replace {latest}: {value}")
    raise PromotionError(f"cannot read {latest}: {value}")


def temporary_path(directory: Path) -> Path:
    """A fresh temporary name in ``directory``, removed by the next promotion if left behind."""
    return directory / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"


def remove_stale_temporaries(directory: Path) -> None:
    """Delete temporary entries left by a promotion that died mid-way.

    Called with the lock held: a live promoter would hold the lock, so every temporary name
    found now belongs to a dead one.
    """
    for entry in directory.iterdir():
        if entry.name.startswith(TEMP_PREFIX):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def swap_latest(directory: Path, version: str) -> None:
    """Point ``latest`` at ``version`` in one rename: readers see the old or the new target."""

    def link(temporary: Path) -> None:
        try:
            # Relative target, so the registry stays valid when it is moved or mounted elsewhere.
            # symlink() creates a new entry and never follows one already at that name.
            os.symlink(version, temporary, target_is_directory=True)
        except OSError:
            if os.name != "nt":
                raise
            # Windows without the symlink privilege: fall back to the pointer-file form.
            write_new_file(temporary, version.encode("utf-8"))  # pragma: no cover

    replace_atomically(
        temporary_path(directory),
        directory / LATEST,
        link,
        written="temporary",
        replaced="replaced",
    )
    _steps.reached("synced")
