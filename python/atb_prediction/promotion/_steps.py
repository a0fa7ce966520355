"""The crash-test hook between the steps of a promotion."""

from __future__ import annotations

__all__ = ["reached"]


def reached(step: str) -> None:
    """Mark the end of one promotion step.

    Does nothing. Crash tests replace it (``promotion._steps.reached = ...``) to kill the process
    between two steps, and check that ``latest`` and the journal stay consistent whatever step a
    promotion dies after. Callers look it up through this module at each call, so a replacement
    takes effect.
    """
