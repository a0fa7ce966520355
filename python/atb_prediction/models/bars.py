"""Raw OHLCV bars as the core reads them: ``[rows, 5]`` float64, oldest first, in the columns
:data:`BAR_COLUMNS`, from a pandas DataFrame, a mapping of 1-D arrays, or a numpy structured
array. pandas stays optional: a DataFrame is read by column name like a mapping.
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
    cost does not grow with the history given."""
    if not isinstance(bars, (np.ndarray, dict)) and hasattr(bars, "columns"):
        frame: Any = bars
        fast = _frame_window(frame, rows)
        if fast is not None:
            return fast
    columns = bar_columns(bars)
    count = len(columns[0]) if rows is None else min(rows, len(columns[0]))
    window = np.empty((count, len(BAR_COLUMNS)), dtype=np.float64)
    if count:
        for position, column in enumerate(columns):
            window[:, position] = column[len(column) - count :]
    return window


#: The last DataFrame columns read and where the bar columns are among them: a live loop passes
#: frames with the same columns bar after bar, and looking names up in a pandas index costs a
#: live call more than converting the data, while comparing two equal indexes costs little.
_LAST_COLUMNS: tuple[Any, list[int] | None] = (None, None)


def _positions(columns: Any) -> list[int] | None:
    """Where the bar columns are among a DataFrame's ``columns`` (``None``: some are missing)."""
    global _LAST_COLUMNS
    last, positions = _LAST_COLUMNS  # one read: another thread may replace the pair
    if last is not None and (last is columns or last.equals(columns)):
        return positions
    try:
        positions = _core.bar_positions("bars", columns)
    except InvalidInputError:
        positions = None
    _LAST_COLUMNS = (columns, positions)
    return positions


#: A DataFrame of at most this many times the rows read is converted whole; a longer one has its
#: last rows cut first (see :func:`_frame_window`).
_WHOLE_FRAME_FACTOR = 8


def _frame_window(frame: Any, rows: int | None) -> npt.NDArray[np.float64] | None:
    """A DataFrame's window through one ``to_numpy``, without pandas' per-column cost, when its
    columns convert to numbers (an OHLCV frame); ``None`` sends other frames (missing or
    non-numeric columns) to the per-column path, which names the problem.

    ``to_numpy`` of a frame whose columns share one dtype is a view, but cutting the last rows
    first (``iloc``) costs a live call more than the rest of the path: so a frame of up to
    :data:`_WHOLE_FRAME_FACTOR` times the rows read is converted whole, and only a longer one
    (whose conversion would grow with the history) is cut first.
    """
    positions = _positions(frame.columns)
    if positions is None:
        return None
    read = len(frame) if rows is None else min(rows, len(frame))
    long = len(frame) > _WHOLE_FRAME_FACTOR * max(read, 1)
    values = (frame.iloc[len(frame) - read :] if long else frame).to_numpy()
    if values.dtype.kind not in "fiu":
        return None
    values = values[len(values) - read :]
    first = positions[0]
    if positions == list(range(first, first + len(positions))):
        # Columns in bar order (the usual OHLCV frame): a plain slice, cheaper than a gather.
        return np.array(values[:, first : first + len(positions)], dtype=np.float64, order="C")
    return np.ascontiguousarray(values[:, positions], dtype=np.float64)
