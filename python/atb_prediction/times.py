"""Times as the registry and its users write them.

- ISO 8601 text (``metadata.json``'s ``created_at``, the promotion journal, a series file's
  time column) is read by one parser, Python's own ``datetime.fromisoformat`` (what upstream
  parses ``created_at`` with), as aware UTC datetimes: :func:`parse_utc`.
- A series' times, in whatever form they come (a ``DatetimeIndex``, tz-aware or naive,
  ``datetime64`` of any unit, integer or float epochs, text, ``datetime`` objects), become UTC
  nanoseconds through :func:`utc_nanos`, whose rule lives in the core
  (``src/core/predict/times.rs``): an epoch's unit follows from its magnitude (seconds from
  1e8, milliseconds from 1e11, microseconds from 1e14, nanoseconds from 1e17; each range starts
  at 1973-03-03, and every unit ends at 2262-04-11, the last time ``datetime64[ns]`` holds).
  A value that is no time is an :class:`InvalidInputError` naming the bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from atb_prediction.models.exceptions import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["as_utc", "bar_times", "frame_times", "parse_utc", "time_column_of", "utc_nanos"]


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


def _naive_utc(value: Any) -> Any:
    """A tz-aware pandas ``DatetimeIndex`` or datetime ``Series`` as naive UTC; anything else
    as it is (pandas is recognised by duck typing, never imported)."""
    if getattr(value, "tz", None) is not None and hasattr(value, "tz_convert"):
        return value.tz_convert("UTC").tz_localize(None)  # a DatetimeIndex
    accessor = getattr(value, "dt", None) if hasattr(value, "to_numpy") else None
    if accessor is not None and getattr(accessor, "tz", None) is not None:
        return accessor.tz_convert("UTC").dt.tz_localize(None)  # a Series of aware times
    return value


def _one_time(value: object, what: str, bar: int) -> np.datetime64 | float:
    """One element of a column of text or objects: a number (an epoch, for the core's rule) or
    a naive UTC ``datetime64[us]``."""
    import numpy as np

    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise InvalidInputError(f"{what} at bar {bar} is empty (no time)")
        try:
            return float(text)
        except ValueError:
            pass
        try:
            moment = parse_utc(text)
        except ValueError:
            raise InvalidInputError(
                f"{what} at bar {bar}: {value!r} is not a time (ISO 8601 text or an epoch)"
            ) from None
        return np.datetime64(moment.replace(tzinfo=None), "us")
    if isinstance(value, datetime):
        return np.datetime64(as_utc(value).replace(tzinfo=None), "us")
    if isinstance(value, date):
        day: np.datetime64 = np.datetime64(value, "D").astype("datetime64[us]")
        return day
    if isinstance(value, np.datetime64):
        stamp: np.datetime64 = value.astype("datetime64[us]")
        return stamp
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    raise InvalidInputError(f"{what} at bar {bar}: {value!r} is not a time")


def _from_objects(array: npt.NDArray[Any], what: str) -> npt.NDArray[Any]:
    """A column of text or Python objects as epochs (int64 when they are whole numbers written
    as such, else float64) or as ``datetime64[us]``, for the core's ``utc_times``."""
    import numpy as np

    if array.dtype.kind in "US":
        for kind in (np.int64, np.float64):
            try:
                return array.astype(kind)
            except (ValueError, OverflowError):
                continue
    items = array.tolist()
    values = [_one_time(value, what, bar) for bar, value in enumerate(items)]
    epochs = [isinstance(value, float) for value in values]
    if all(epochs):
        return np.array(values, dtype=np.float64)
    if any(epochs):
        bar = epochs.index(not epochs[0])
        raise InvalidInputError(
            f"{what} at bar {bar}: {items[bar]!r} mixes epochs and calendar times; give one kind"
        )
    return np.array(values, dtype="datetime64[us]")


def utc_nanos(value: object, what: str = "timestamps") -> npt.NDArray[np.int64]:
    """Times as UTC nanoseconds since the epoch (int64), one per element of ``value``: a
    ``DatetimeIndex`` (tz-aware or naive: naive means UTC), a pandas ``Series``, ``datetime64``
    of any unit, integer or float epochs (unit from the magnitude), ISO 8601 text, or
    ``datetime`` objects. ``what`` names them in errors.

    Raises:
        InvalidInputError: naming the first bar that is no time (NaT, an empty cell, an epoch in
            no unit's range, text that is not ISO 8601), or saying the values hold no times.
    """
    # numpy only here: the command line's paths without arrays never import it.
    import numpy as np

    from atb_prediction._core import utc_times

    value = _naive_utc(value)
    array = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value)
    if array.ndim != 1:
        raise InvalidInputError(
            f"{what} must be 1-D (one time per bar), got shape {tuple(array.shape)}"
        )
    if array.dtype.kind in "USO":
        array = _from_objects(array, what)
    elif array.dtype.kind == "b":
        raise InvalidInputError(f"{what} hold no times: they are booleans")
    return utc_times(array, what)


def frame_times(frame: Any) -> tuple[object, str] | None:
    """Where a DataFrame's times are, and how messages name them: its ``DatetimeIndex``; an
    index named as a time column (``timestamp``, ...: epochs set as the index); its first
    ``datetime64`` column; else its column named as a time column (``time_column``). Sweeps and
    ``predict_bars`` take a frame's times from here."""
    from atb_prediction._core import time_column

    index = frame.index
    if hasattr(index, "tz") and hasattr(index, "tz_convert"):
        return index, "the DataFrame's index"
    name = getattr(index, "name", None)
    if name is not None and time_column([name]) is not None:
        return index, f"the DataFrame's index {name!r}"
    labels = list(frame.columns)
    for stamped, label in enumerate(labels):
        if str(frame.dtypes.iloc[stamped]).startswith("datetime64"):
            return frame.iloc[:, stamped], f"the DataFrame's column {label!r}"
    named = time_column(labels)
    if named is not None:
        return frame.iloc[:, named], f"the DataFrame's column {labels[named]!r}"
    return None


def time_column_of(arrays: Mapping[str, npt.NDArray[Any]]) -> str | None:
    """The name of the column that holds the times among named 1-D ``arrays`` (a mapping's, a
    structured array's): the first ``datetime64`` one, else the one named ``open_time``,
    ``timestamp``, ``time``, ``date`` or ``datetime`` (any case); ``None`` without one."""
    from atb_prediction._core import time_column

    stamped = [name for name, array in arrays.items() if array.dtype.kind == "M"]
    if stamped:
        return stamped[0]
    position = time_column(list(arrays))
    return None if position is None else list(arrays)[position]


def bar_times(bars: object) -> tuple[npt.NDArray[np.int64], str] | None:
    """The times raw ``bars`` carry (a DataFrame: :func:`frame_times`; a mapping or a structured
    array: :func:`time_column_of`), as UTC nanoseconds with how messages name them, or ``None``:
    ``predict_bars`` and streams check the order of the very times a sweep would take."""
    import numpy as np

    if not isinstance(bars, (np.ndarray, dict)) and hasattr(bars, "columns"):
        found = frame_times(bars)
        return None if found is None else (utc_nanos(found[0], found[1]), found[1])
    if isinstance(bars, np.ndarray) and bars.dtype.names is not None:
        what = "the structured array"
        arrays = {name: np.asarray(bars[name]) for name in bars.dtype.names}
    elif isinstance(bars, Mapping):
        what = "the mapping"
        arrays = {str(name): np.asarray(column) for name, column in bars.items()}
    else:
        return None
    name = time_column_of(arrays)
    if name is None:
        return None
    what = f"{what} column {name!r}"
    return utc_nanos(arrays[name], what), what


def bar_time(value: object, what: str, bar: int) -> np.datetime64 | float:
    """One bar's time that is not an integer or a float (a ``datetime``, ``Timestamp``,
    ``date``, ``datetime64`` or text) as the core's rule takes it: an epoch, or a naive UTC
    ``datetime64``; pandas' ``NaT`` stays NaT, for the core to name."""
    import numpy as np

    if isinstance(value, datetime) and value != value:  # pandas' NaT
        return np.datetime64("NaT", "us")
    return _one_time(value, what, bar)
