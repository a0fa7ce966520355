"""The series a sweep runs over: a numpy array or a pandas DataFrame, and its timestamps.

pandas stays optional: a DataFrame is recognised by duck typing, never by importing pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from atb_prediction._core import feature_positions
from atb_prediction.models.exceptions import InvalidInputError

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
    if not np.issubdtype(values.dtype, np.floating):
        raise InvalidInputError(f"{what} must hold floats, got dtype {values.dtype}")
    return values.astype(np.float64)


@dataclass(frozen=True)
class Series:
    """A sweep's input: ``[bars, features]`` values, by position or by column name."""

    bars: int
    array: npt.NDArray[np.floating[Any]] | None
    """The numpy series (C or F order), read by position."""
    frame: Any | None
    """The DataFrame, read by the bundle's feature names."""
    timestamps: npt.NDArray[np.datetime64] | None
    """One UTC time per bar (naive ``datetime64[ns]``), or ``None``."""
    names: tuple[str, ...] | None = None
    """Column names of ``array`` (read from a file with a header), matched like a DataFrame's."""

    def columns_for(self, feature_names: Sequence[str] | None) -> npt.NDArray[np.floating[Any]]:
        """The values a bundle reads: its ``feature_names`` from a DataFrame (or named columns),
        else every column."""
        if self.array is not None:
            if self.names is None or feature_names is None:
                return self.array
            return np.ascontiguousarray(self.array[:, self._positions(feature_names)])
        frame: Any = self.frame
        if feature_names is None:
            return _float_array(frame.to_numpy(), "the DataFrame")
        selected = frame.iloc[:, self._positions(feature_names)]
        return _float_array(selected.to_numpy(), "the DataFrame")

    def check_columns(self, feature_names: Sequence[str] | None) -> None:
        """Raise ``InvalidInputError`` naming every feature the series' named columns lack."""
        if feature_names is not None and (self.frame is not None or self.names is not None):
            self._positions(feature_names)

    def _positions(self, feature_names: Sequence[str]) -> list[int]:
        # The rule predict reads a DataFrame by, from the one place it lives (Rust).
        if self.frame is not None:
            return feature_positions("the DataFrame", self.frame.columns, list(feature_names))
        return feature_positions("the series", self.names or (), list(feature_names))


def as_timestamps(value: object, bars: int) -> npt.NDArray[np.datetime64]:
    """One UTC time per bar from ``datetime64`` values, a ``DatetimeIndex`` or POSIX seconds.

    Naive times are taken as UTC; the result is naive ``datetime64[ns]`` in UTC.
    """
    if hasattr(value, "tz") and hasattr(value, "tz_convert"):  # a pandas DatetimeIndex
        if value.tz is not None:
            value = value.tz_convert("UTC").tz_localize(None)
        times = np.asarray(value, dtype="datetime64[ns]")
    else:
        array = np.asarray(value)
        if np.issubdtype(array.dtype, np.datetime64):
            times = array.astype("datetime64[ns]")
        elif np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.bool_):
            if not np.all(np.isfinite(array)):
                raise InvalidInputError("timestamps hold NaN or infinite POSIX seconds")
            times = (np.round(array.astype(np.float64) * 1e9)).astype("datetime64[ns]")
        else:
            raise InvalidInputError(
                "timestamps must be datetime64 values, a DatetimeIndex or POSIX seconds, "
                f"got dtype {array.dtype}"
            )
    if times.shape != (bars,):
        raise InvalidInputError(f"expected one timestamp per bar ({bars}), got {times.shape}")
    return times


def as_series(
    series: object, timestamps: object | None, names: Sequence[str] | None = None
) -> Series:
    """Checks and wraps what the caller passed as ``series`` and ``timestamps``; ``names`` labels
    the columns of a numpy series (as read from a file with a header)."""
    if _is_dataframe(series):
        frame: Any = series
        bars = len(frame)
        index = frame.index
        if timestamps is None and hasattr(index, "tz") and hasattr(index, "tz_convert"):
            timestamps = index
        times = None if timestamps is None else as_timestamps(timestamps, bars)
        return Series(bars=bars, array=None, frame=frame, timestamps=times)
    if not isinstance(series, np.ndarray):
        raise InvalidInputError(
            "series must be a numpy array [bars, features] or a pandas DataFrame, "
            f"not {type(series).__name__}"
        )
    array = _float_array(series, "series")
    bars = array.shape[0]
    times = None if timestamps is None else as_timestamps(timestamps, bars)
    if names is not None and len(names) != array.shape[1]:
        raise InvalidInputError(f"{len(names)} column names for {array.shape[1]} columns")
    return Series(
        bars=bars,
        array=array,
        frame=None,
        timestamps=times,
        names=tuple(names) if names is not None else None,
    )
