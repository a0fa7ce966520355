"""Raw OHLCV bars as the core reads them: ``[rows, 5]`` float64, oldest first, in the columns
:data:`BAR_COLUMNS`, from a pandas DataFrame, a mapping of 1-D arrays, or a numpy structured
array. pandas stays optional: a DataFrame is read by column name like a mapping (the core reads
a DataFrame's blocks itself, and comes here for anything else).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from atb_prediction import _core
from atb_prediction.models.exceptions import InvalidInputError

__all__ = ["BAR_COLUMNS", "bar_columns", "bar_window"]

#: The bar columns raw-bar input needs, in the order the core reads them (the core's list).
BAR_COLUMNS: tuple[str, ...] = tuple(_core.BAR_COLUMNS)


def _names(bars: object) -> tuple[str, ...] | None:
    """The column names of ``bars``, or ``None`` when it has none."""
    if isinstance(bars, np.ndarray):
        names: tuple[str, ...] | None = bars.dtype.names
        return names
    columns = getattr(bars, "columns", None)  # a DataFrame
    if columns is not None:
        return tuple(str(name) for name in columns)
    if hasattr(bars, "keys") and hasattr(bars, "__getitem__"):
        return tuple(str(name) for name in bars.keys())
    return None


def bar_columns(bars: object, what: str = "bars") -> list[npt.NDArray[Any]]:
    """The five bar columns of ``bars`` as 1-D numeric arrays of one length (views where the
    input allows); ``InvalidInputError`` names what is missing or unusable."""
    names = _names(bars)
    if names is None:
        raise InvalidInputError(
            f"{what} must be a pandas DataFrame, a mapping of 1-D arrays or a numpy structured "
            f"array with the columns {', '.join(BAR_COLUMNS)}; got {type(bars).__name__}"
        )
    positions = _core.bar_positions(what, names)  # any case: Open, High, ... too
    source: Any = bars
    columns = []
    for name, position in zip(BAR_COLUMNS, positions, strict=True):
        column = np.asarray(source[names[position]])
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
    its column blocks; other inputs through :func:`bar_columns`. When ``bars`` carry times
    (:func:`atb_prediction.times.bar_times`), those of the rows read must strictly increase."""
    window: npt.NDArray[np.float64] = _core.bar_window(bars, rows)
    return window


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
