"""The sweep's progress report: a one-line bar on a terminal, a callable, or nothing."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressBar", "Reporter", "progress_reporter"]

#: Receives ``(done, total)`` windows.
Reporter = Callable[[int, int], object]


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


class ProgressBar:
    """Windows done, rate and time left, redrawn in place on one line of ``stream``."""

    def __init__(self, label: str = "sweep", stream: TextIO | None = None, width: int = 24) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.started = time.monotonic()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = done / elapsed
        fraction = done / total if total else 1.0
        filled = int(self.width * fraction)
        left = _duration((total - done) / rate) if rate > 0 else "--:--"
        line = (
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{done:,}/{total:,} windows  {rate:,.0f}/s  {_duration(elapsed)} elapsed, {left} left"
        )
        self.stream.write(line)
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """Ends the bar's line."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def progress_reporter(progress: bool | Reporter | None) -> Reporter | None:
    """``None``: a bar when stderr is a terminal; ``False``: nothing; ``True``: a bar; else the
    callable itself."""
    if progress is None:
        return ProgressBar() if sys.stderr.isatty() else None
    if progress is True:
        return ProgressBar()
    if progress is False:
        return None
    if not callable(progress):
        raise TypeError(
            f"progress must be None, a bool or a callable, not {type(progress).__name__}"
        )
    return progress
