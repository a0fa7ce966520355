"""Raw OHLCV bars as the core reads them: ``[rows, 5]`` float64, oldest first, in the columns
:data:`BAR_COLUMNS`, from a pandas DataFrame, a mapping of 1-D arrays, or a numpy structured
array. pandas stays optional: a DataFrame is read by column name like a mapping.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from atb_prediction import _core
from atb_prediction.models.exceptions import InvalidInputError
from atb_prediction.times import as_utc, parse_utc

__all__ = ["BAR_COLUMNS", "bar_columns", "bar_times", "bar_window"]

#: The bar columns raw-bar input needs, in the order the core reads them (the core's list).
BAR_COLUMNS: tuple[str, ...] = tuple(_core.BAR_COLUMNS)


def _labels(bars: object) -> list[Any] | None:
    """The column labels of ``bars`` as they are keyed, or ``None`` when it has none."""
    if isinstance(bars, np.ndarray):
        names = bars.dtype.names
        return None if names is None else list(names)
    columns = getattr(bars, "columns", None)  # a DataFrame
    if columns is not None:
        return list(columns)
    if hasattr(bars, "keys") and hasattr(bars, "__getitem__"):
        return list(bars.keys())
    return None


def bar_columns(bars: object, what: str = "bars") -> list[npt.NDArray[Any]]:
    """The five bar columns of ``bars`` as 1-D numeric arrays of one length (views where the
    input allows), found by name in any case (the core's rule); ``InvalidInputError`` names what
    is missing or unusable."""
    labels = _labels(bars)
    if labels is None:
        raise InvalidInputError(
            f"{what} must be a pandas DataFrame, a mapping of 1-D arrays or a numpy structured "
            f"array with the columns {', '.join(BAR_COLUMNS)}; got {type(bars).__name__}"
        )
    positions = _core.bar_positions_of(
        what, [label if isinstance(label, str) else None for label in labels]
    )
    source: Any = bars
    columns = []
    for name, position in zip(BAR_COLUMNS, positions, strict=True):
        column = np.asarray(source[labels[position]])
        if column.ndim != 1:
            raise InvalidInputError(f"{what} column {name!r} must be 1-D, got shape {column.shape}")
        if column.dtype.kind not in "fiu":
            raise InvalidInputError(
                f"{what} column {name!r} must hold numbers, got dtype {column.dtype}"
            )
        columns.append(column)
    lengths = {len(column) for column in columns}
    if len(lengths) > 1:
        sizes = ", ".join(f"{n}: {len(c)}" for n, c in zip(BAR_COLUMNS, columns, strict=True))
        raise InvalidInputError(f"{what} columns differ in length ({sizes})")
    return columns


def bar_window(bars: object, rows: int | None = None) -> npt.NDArray[np.float64]:
    """The last ``rows`` bars of ``bars`` (all of them when ``None``) as a C-ordered
    ``[rows, 5]`` float64 array in :data:`BAR_COLUMNS` order: only those rows are copied, so the
    cost does not grow with the history given. A DataFrame is read in the core, straight from
    its column blocks; other inputs through :func:`bar_columns`."""
    return _core.bar_window(bars, rows)


def _general_window(bars: object, rows: int) -> tuple[npt.NDArray[np.float64], int]:
    """:func:`bar_window` of any input through :func:`bar_columns`, and how many bars it has:
    the core's path for what it does not read itself (mappings, structured arrays, frames with
    extension or object columns), and where a missing or unusable column is named."""
    columns = bar_columns(bars)
    count = min(rows, len(columns[0]))
    window = np.empty((count, len(BAR_COLUMNS)), dtype=np.float64)
    if count:
        for position, column in enumerate(columns):
            window[:, position] = column[len(column) - count :]
    return window, len(columns[0])


def _utc(values: Any, what: str) -> npt.NDArray[np.int64]:
    """Times as UTC nanoseconds by the core's rule (``utc_times``); aware pandas times are
    converted to UTC first."""
    accessor = getattr(values, "dt", None) if hasattr(values, "to_numpy") else None
    if accessor is not None and getattr(accessor, "tz", None) is not None:
        values = accessor.tz_convert("UTC").dt.tz_localize(None)
    array = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    times: npt.NDArray[np.int64] = _core.utc_times(array, what)
    return times


def bar_times(bars: object) -> tuple[npt.NDArray[np.int64], str] | None:
    """The times ``bars`` carry, as UTC nanoseconds with what messages call them, or ``None``:
    a DataFrame's ``DatetimeIndex``, or its index named as a time column (epochs set as the
    index); else the first ``datetime64`` column (of a DataFrame, a mapping or a structured
    array); else the column named ``open_time``, ``timestamp``, ``time``, ``date`` or
    ``datetime`` (any case). Where a sweep takes a series' times from, so that ``predict_bars``
    checks the order of the very times a sweep would."""
    labels = _labels(bars)
    if labels is None:
        return None
    source: Any = bars
    if not isinstance(bars, (np.ndarray, dict)) and hasattr(bars, "index"):  # a DataFrame
        index = source.index
        if getattr(index.dtype, "kind", None) == "M":
            what = "the DataFrame's index"
            return _core.utc_times(np.asarray(index.values), what), what
        name = getattr(index, "name", None)
        if isinstance(name, str) and _core.time_column([name]) is not None:
            what = f"the DataFrame's index {name!r}"
            return _utc(index, what), what
        kinds = [getattr(dtype, "kind", None) for dtype in source.dtypes]
        what_of = "the DataFrame's column"
        columns = [source.iloc[:, position] for position in range(len(labels))]
    else:
        what_of = "the structured array's field" if isinstance(bars, np.ndarray) else "column"
        columns = [np.asarray(source[label]) for label in labels]
        kinds = [column.dtype.kind for column in columns]
    stamped = [position for position, kind in enumerate(kinds) if kind == "M"]
    position = stamped[0] if stamped else _core.time_column(labels)
    if position is None:
        return None
    what = f"{what_of} {labels[position]!r}"
    return _utc(columns[position], what), what


def _time_ticks(value: object, what: str) -> tuple[int, str]:
    """A bar's time that is not a number (``datetime``, pandas ``Timestamp``, ``date``,
    ``datetime64``, ISO 8601 text) as ``datetime64`` ticks and their dtype, for the core's rule
    (a naive time means UTC); ``InvalidInputError`` for anything else."""
    if isinstance(value, str):
        try:
            value = parse_utc(value)
        except ValueError:
            raise InvalidInputError(f"{what}: {value!r} is not a time") from None
    if isinstance(value, datetime):
        if value != value:  # pandas' NaT
            return np.iinfo(np.int64).min, "<M8[ns]"
        moment = as_utc(value).replace(tzinfo=None)
        convert = getattr(moment, "to_datetime64", None)  # a Timestamp keeps its nanoseconds
        value = convert() if convert is not None else np.datetime64(moment, "us")
    elif isinstance(value, date):
        value = np.datetime64(value, "D")
    if isinstance(value, np.datetime64):
        if np.isnat(value):  # generic NaT has no unit
            return np.iinfo(np.int64).min, "<M8[ns]"
        return int(value.astype(np.int64)), value.dtype.str
    raise InvalidInputError(f"{what}: {value!r} is not a time")
