"""Warnings that point at the user's line, however deep in the package they arise."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

__all__ = ["warn_caller"]

#: This package's folder, as frames name their files.
_PACKAGE = Path(__file__).resolve().parent


def warn_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` with the stack level of the first frame outside this package.

    A fixed ``stacklevel`` is right for one call path only: the same sweep warning is raised
    through ``sweep``, ``sweep_many``, the Ray engine and the CLI, each a different number of
    frames deep. The frame outside the package is the line the user wrote (or, from the CLI,
    none: then Python names ``sys``).
    """
    frame = sys._getframe(1)
    level = 2  # warnings.warn's level of the frame that called this function
    while frame is not None and Path(frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level)
