"""Times as the registry and its users write them: ISO 8601 text, read as aware UTC datetimes.

One parser for ``metadata.json``'s ``created_at``, the promotion journal and a series file's time
column: Python's own ``datetime.fromisoformat`` (what upstream parses ``created_at`` with), so
that a time reads the same everywhere.
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["as_utc", "parse_utc"]


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC: a naive time means UTC, an aware one is converted."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def parse_utc(text: str) -> datetime:
    """An ISO 8601 time (surrounding white space ignored) as an aware UTC datetime.

    Raises:
        ValueError: ``text`` is not an ISO 8601 time.
    """
    return as_utc(datetime.fromisoformat(text.strip()))
