"""The series a sweep runs over, and its timestamps.

A series is a numpy array ``[bars, columns]`` read by position, or columns read by name: a
pandas DataFrame, a mapping of 1-D arrays, a numpy structured array, or a numpy array with the
names of a file's header. A bundle reads its ``feature_names`` from named columns, or, when it
computes its features from raw bars and those columns are missing, the OHLCV columns (the one
rule: ``_core.series_columns``).

pandas stays optional: a DataFrame is recognised by duck typing, never by importing pandas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from atb_prediction._core import (
    bars_per_year,
    check_time_order,
    column_position,
    median_spacing,
    series_columns,
)
from atb_prediction.models.exceptions import InvalidInputError
from atb_prediction.times import frame_times, time_column_of, utc_nanos

__all__ = ["Series", "as_series", "as_timestamps"]

#: Float dtypes the Rust core reads in place; any other float dtype is converted to float64.
_NATIVE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _is_dataframe(value: object) -> bool:
    return hasattr(value, "columns") and hasattr(value, "to_numpy") and hasattr(value, "index")


def _float_array(values: npt.NDArray[Any], what: str) -> npt.NDArray[np.floating[Any]]:
    if values.ndim != 2:
        raise InvalidInputError(
            f"{what} must be 2-D [bars, features], got shape {tuple(values.shape)}"
        )
    if values.dtype in _NATIVE_DTYPES:
        return values
    if not (np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)):
        raise InvalidInputError(f"{what} must hold numbers, got dtype {values.dtype}")
    return values.astype(np.float64)


@dataclass(frozen=True)
class Series:
    """A sweep's input: ``[bars, columns]`` values, by position or by column name."""

    bars: int
    array: npt.NDArray[np.floating[Any]] | None
    """The numpy series (C or F order), read by position or by ``names``."""
    frame: Any | None
    """The DataFrame, read by column name."""
    timestamps: npt.NDArray[np.datetime64] | None
    """One UTC time per bar (naive ``datetime64[ns]``), or ``None``."""
    names: tuple[str, ...] | None = None
    """Column names of ``array`` (a file's header, a mapping's keys), matched like a
    DataFrame's."""

    @cached_property
    def spacing(self) -> int | None:
        """The median spacing of the bars' times in nanoseconds (a few gaps, a weekend, do not
        change it); ``None`` without times or with fewer than two bars."""
        if self.timestamps is None:
            return None
        return median_spacing(self.timestamps.view(np.int64))

    @cached_property
    def bars_per_year(self) -> float | None:
        """The bars a year its times show (``_core.bars_per_year``), which annualise its scores;
        ``None`` without times or with fewer than two bars."""
        if self.timestamps is None:
            return None
        return bars_per_year(self.timestamps.view(np.int64))

    @property
    def what(self) -> str:
        """How messages name the series."""
        return "the DataFrame" if self.frame is not None else "the series"

    def _labels(self) -> Sequence[object] | None:
        if self.frame is not None:
            return list(self.frame.columns)
        return self.names

    @property
    def width(self) -> int:
        """The number of columns."""
        if self.frame is not None:
            return len(self.frame.columns)
        assert self.array is not None
        return int(self.array.shape[1])

    def columns_for_bundle(
        self,
        key: str,
        feature_names: Sequence[str] | None,
        feature_count: int,
        *,
        takes_bars: bool,
    ) -> tuple[str, tuple[int, ...] | None]:
        """How the bundle ``key`` reads this series: ``("features", positions)`` of its
        ``feature_names`` (``None``: every column, for a series without names or a bundle that
        names none), or ``("bars", positions)`` of the OHLCV columns it computes them from.

        Raises:
            InvalidInputError: naming the bundle and the columns it lacks.
        """
        labels = self._labels()
        if labels is not None and feature_names:
            try:
                source, positions = series_columns(
                    self.what, labels, list(feature_names), takes_bars
                )
            except InvalidInputError as error:
                raise InvalidInputError(f"{key} cannot read {self.what}: {error}") from None
            return source, tuple(positions)
        if self.width != feature_count:
            how = "names no feature_names to choose them by" if labels is not None else ""
            raise InvalidInputError(
                f"{self.what} has {self.width} columns; {key} takes {feature_count}"
                + (f" and {how}" if how else " (columns are read by position)")
            )
        return "features", None

    def named_column(self, name: str) -> int | None:
        """The position of the column called ``name`` (exactly, else in any case: ``Close``
        for ``close``; the core's ``column_position``), or ``None``."""
        labels = self._labels()
        if labels is None:
            return None
        return column_position(labels, name)

    def column(self, position: int) -> npt.NDArray[np.float64]:
        """One column as float64."""
        if self.frame is not None:
            values = self.frame.iloc[:, position].to_numpy()
        else:
            assert self.array is not None
            values = self.array[:, position]
        return np.ascontiguousarray(values, dtype=np.float64)

    def values(self, columns: Sequence[int] | None, *, bars: bool = False) -> npt.NDArray[Any]:
        """The columns at ``columns`` (all of them when ``None``), ``[bars, columns]``; raw bars
        (``bars=True``) as float64, the core's raw-bar dtype."""
        if self.frame is not None:
            frame: Any = self.frame
            selected = frame if columns is None else frame.iloc[:, list(columns)]
            values = _float_array(selected.to_numpy(), self.what)
        else:
            assert self.array is not None
            values = self.array if columns is None else self.array[:, list(columns)]
        if bars:
            return np.asarray(values, dtype=np.float64)
        return values if columns is None else np.ascontiguousarray(values)

    def close(self) -> npt.NDArray[np.float64] | None:
        """The ``close`` column by name (any case), when the series has one."""
        position = self.named_column("close")
        return None if position is None else self.column(position)


def as_timestamps(value: object, bars: int, what: str = "timestamps") -> npt.NDArray[np.datetime64]:
    """One UTC time per bar, strictly increasing, as naive ``datetime64[ns]``: from a
    ``DatetimeIndex`` (tz-aware or naive: naive means UTC), ``datetime64`` of any unit,
    integer or float epochs (unit from the magnitude), ISO 8601 text or ``datetime`` objects
    (the one rule: :func:`atb_prediction.times.utc_nanos`).

    Raises:
        InvalidInputError: a value that is no time, naming the bar; a count other than ``bars``;
            or times that do not strictly increase, naming the first offending bar and both
            times. Nothing is sorted.
    """
    nanos = utc_nanos(value, what)
    if nanos.shape != (bars,):
        raise InvalidInputError(
            f"expected one time per bar ({bars}) in {what}, got {nanos.shape[0]}"
        )
    try:
        check_time_order(nanos)
    except InvalidInputError as error:
        raise InvalidInputError(f"{what}: {error}") from None
    return nanos.view("datetime64[ns]")


def _named_columns(
    columns: Mapping[str, Any], what: str
) -> tuple[npt.NDArray[np.floating[Any]], tuple[str, ...], tuple[Any, str] | None]:
    """Named 1-D columns as one float64 array with their names, and the times with how
    messages name them: the first ``datetime64`` column, else the column named as a time
    column (``open_time``, ``timestamp``, ``time``, ``date``, ``datetime``, any case), left out
    of the values. Columns of other types are left out."""
    arrays = {str(name): np.asarray(column) for name, column in columns.items()}
    for name, array in arrays.items():
        if array.ndim != 1:
            raise InvalidInputError(f"{what} column {name!r} must be 1-D, got {array.shape}")
    time_name = time_column_of(arrays)
    names = [
        name for name, array in arrays.items() if name != time_name and array.dtype.kind in "fiu"
    ]
    times = None if time_name is None else (arrays[time_name], f"{what} column {time_name!r}")
    lengths = {len(arrays[name]) for name in names}
    if time_name is not None:
        lengths.add(len(arrays[time_name]))
    if len(lengths) > 1:
        raise InvalidInputError(f"{what} columns differ in length: {sorted(lengths)}")
    bars = lengths.pop() if lengths else 0
    stacked = (
        np.column_stack([arrays[name] for name in names]).astype(np.float64, copy=False)
        if names
        else np.empty((bars, 0), dtype=np.float64)
    )
    return stacked, tuple(names), times


def as_series(
    series: object,
    timestamps: object | None,
    names: Sequence[str] | None = None,
    *,
    times_name: str = "timestamps",
) -> Series:
    """Checks and wraps what the caller passed as ``series`` and ``timestamps``; ``names`` labels
    the columns of a numpy series (as read from a file with a header), ``times_name`` names
    ``timestamps`` in errors (a file's time column).

    The times, when there are any, come from ``timestamps``, else a DataFrame's
    ``DatetimeIndex``, else the first ``datetime64`` column (of a DataFrame, a mapping or a
    structured array), else the column named ``open_time``, ``timestamp``, ``time``, ``date``
    or ``datetime`` (any case); they must strictly increase (:func:`as_timestamps`)."""
    if _is_dataframe(series):
        frame: Any = series
        bars = len(frame)
        found = (timestamps, times_name) if timestamps is not None else frame_times(frame)
        times = None if found is None else as_timestamps(found[0], bars, found[1])
        return Series(bars=bars, array=None, frame=frame, timestamps=times)
    if isinstance(series, Mapping) or (
        isinstance(series, np.ndarray) and series.dtype.names is not None
    ):
        what = "the structured array" if isinstance(series, np.ndarray) else "the mapping"
        columns: Mapping[str, Any] = (
            {name: series[name] for name in series.dtype.names or ()}
            if isinstance(series, np.ndarray)
            else series
        )
        array, labels, times_column = _named_columns(columns, what)
        given = (timestamps, times_name) if timestamps is not None else times_column
        times = None if given is None else as_timestamps(given[0], array.shape[0], given[1])
        return Series(bars=array.shape[0], array=array, frame=None, timestamps=times, names=labels)
    if not isinstance(series, np.ndarray):
        raise InvalidInputError(
            "series must be a numpy array [bars, features], a pandas DataFrame, a mapping of "
            f"1-D arrays or a numpy structured array, not {type(series).__name__}"
        )
    array = _float_array(series, "series")
    bars = array.shape[0]
    times = None if timestamps is None else as_timestamps(timestamps, bars, times_name)
    if names is not None and len(names) != array.shape[1]:
        raise InvalidInputError(f"{len(names)} column names for {array.shape[1]} columns")
    return Series(
        bars=bars,
        array=array,
        frame=None,
        timestamps=times,
        names=tuple(names) if names is not None else None,
    )
