"""The one progress bar, for sweeps and for the command line, and the sweep's progress choice.

A bar is one line on a terminal, redrawn in place with a carriage return, cut to the
terminal's width and erased when closed, so that whatever prints next starts on a clean line.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressBar", "Reporter", "is_terminal", "progress_reporter"]

#: Receives ``(done, total)``.
Reporter = Callable[[int, int], object]

_SLOTS = 20


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def _columns() -> int:
    return max(40, shutil.get_terminal_size((80, 24)).columns) - 1


class ProgressBar:
    """``LABEL [#####-----] DONE/TOTAL UNIT ITEM  RATE/s  ELAPSED elapsed, LEFT left``.

    Args:
        label: The first word of the line.
        stream: Where it is drawn; stderr by default.
        unit: Named after the counts (``"windows"``).
        enabled: Whether anything is drawn; by default only when ``stream`` is a terminal.

    A bar is also a :data:`Reporter`: calling it with ``(done, total)`` updates it.
    """

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        *,
        unit: str = "",
        enabled: bool | None = None,
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.unit = unit
        self.enabled = is_terminal(self.stream) if enabled is None else enabled
        self.started = time.monotonic()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        self.update(done, total)

    def update(self, done: int, total: int, item: str = "") -> None:
        """Shows ``done`` of ``total`` finished, ``item`` being the last one."""
        if not self.enabled or total <= 0:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = done / elapsed
        filled = _SLOTS * min(done, total) // total
        left = _duration((total - done) / rate) if rate > 0 else "--:--"
        counts = " ".join(part for part in (f"{done:,}/{total:,}", self.unit, item) if part)
        text = (
            f"{self.label} [{'#' * filled}{'-' * (_SLOTS - filled)}] {counts}  "
            f"{rate:,.0f}/s  {_duration(elapsed)} elapsed, {left} left"
        )
        columns = _columns()
        self.stream.write("\r" + text[:columns].ljust(columns))
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """Erases the bar."""
        if self.drawn:
            self.stream.write("\r" + " " * _columns() + "\r")
            self.stream.flush()
            self.drawn = False


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (``False`` for a closed or file-like one)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def progress_reporter(progress: bool | Reporter | None) -> Reporter | None:
    """A sweep's ``progress``: ``None``, a bar when stderr is a terminal; ``False``, nothing;
    ``True``, a bar; else the callable itself."""
    if progress is None or progress is True:
        bar = ProgressBar("sweep", unit="windows", enabled=None if progress is None else True)
        return bar if bar.enabled else None
    if progress is False:
        return None
    if not callable(progress):
        raise TypeError(
            f"progress must be None, a bool or a callable, not {type(progress).__name__}"
        )
    return progress
