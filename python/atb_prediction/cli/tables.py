"""Plain-text tables that fit a terminal width, with colour only when asked for.

Widths are computed on the plain text and styles applied after padding, so escape codes never
push a column out of line. When a table is too wide, columns marked ``wrap`` are wrapped over
several lines first (reasons, problems), then the widest columns are cut with an ellipsis.
Identifier columns (keys, versions, symbols) are never cut: a table that cannot fit without cutting
one drops its ``optional`` columns instead, and failing that runs past the width (a terminal wraps
it; a cut ID would be a wrong ID); :func:`shown_columns` says which are left.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Cell", "Column", "Style", "render_table", "shown_columns"]

GAP = "  "
ELLIPSIS = "..."  # ASCII: a terminal in a legacy encoding cannot print U+2026
_MIN_WRAP = 12
_MIN_CUT = 6

_CODES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "best": "1;32",
    "fail": "1;31",
}

StyleName = Literal["bold", "dim", "red", "green", "yellow", "best", "fail"]


@dataclass(frozen=True, slots=True)
class Style:
    """Whether to colour output; ``Style(colour=False)`` returns text unchanged."""

    colour: bool = False

    def __call__(self, name: StyleName | None, text: str) -> str:
        """``text`` in the named style (bold, dim, red, green, yellow, best, fail)."""
        if not self.colour or name is None or not text:
            return text
        return f"\033[{_CODES[name]}m{text}\033[0m"


@dataclass(frozen=True, slots=True)
class Cell:
    """A cell with a style; plain strings work as unstyled cells."""

    text: str
    style: StyleName | None = None


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its header, alignment, whether long text wraps instead of being cut, whether
    it holds identifiers (never cut), and whether it may be left out when the table is too wide."""

    header: str
    align: Literal["left", "right"] = "left"
    wrap: bool = False
    identifier: bool = False
    optional: bool = False


CellLike = Cell | str


def _cell(value: CellLike) -> Cell:
    return value if isinstance(value, Cell) else Cell(value)


def _natural_width(column: Column, cells: Sequence[Cell]) -> int:
    widths = [len(column.header)]
    widths.extend(len(line) for cell in cells for line in (cell.text.splitlines() or [""]))
    return max(widths)


def _fit(columns: Sequence[Column], widths: list[int], width: int) -> list[int]:
    """Shrink ``widths`` until the table fits ``width``: wrap columns first, then cut the widest."""
    widths = list(widths)

    def total() -> int:
        return sum(widths) + len(GAP) * (len(widths) - 1)

    while total() > width:
        wrappable = [i for i, c in enumerate(columns) if c.wrap and widths[i] > _MIN_WRAP]
        candidates = wrappable or [
            i
            for i, w in enumerate(widths)
            if w > _MIN_CUT and not (columns[i].identifier or columns[i].optional)
        ]
        if not candidates:
            break  # Too many columns to fit at all: let the terminal wrap.
        widest = max(candidates, key=lambda i: widths[i])
        floor = _MIN_WRAP if wrappable else _MIN_CUT
        widths[widest] = max(floor, widths[widest] - (total() - width))
    return widths


def _fits(columns: Sequence[Column], natural: Sequence[int], width: int) -> bool:
    """Whether the table fits ``width`` once wrap columns are at their narrowest, with no
    identifier or optional column cut (an optional column is left out whole, never cut)."""
    least = [
        (min(w, _MIN_WRAP) if c.wrap else w if c.identifier or c.optional else min(w, _MIN_CUT))
        for c, w in zip(columns, natural, strict=True)
    ]
    return sum(least) + len(GAP) * (len(least) - 1) <= width


def _drop_optional(
    columns: list[Column], cells: list[list[Cell]], width: int
) -> tuple[list[Column], list[list[Cell]]]:
    """Leave out ``optional`` columns, rightmost first, until the identifiers fit uncut."""
    while True:
        natural = [_natural_width(c, [row[i] for row in cells]) for i, c in enumerate(columns)]
        optional = [i for i, c in enumerate(columns) if c.optional]
        if _fits(columns, natural, width) or not optional:
            return columns, cells
        drop = optional[-1]
        columns = columns[:drop] + columns[drop + 1 :]
        cells = [row[:drop] + row[drop + 1 :] for row in cells]


def _lines(cell: Cell, column: Column, width: int) -> list[str]:
    lines = []
    for line in cell.text.splitlines() or [""]:
        if len(line) <= width:
            lines.append(line)
        elif column.wrap:
            # A "- " bullet gets a hanging indent, so a wrapped item reads as one item.
            indent = "  " if line.startswith("- ") and width > _MIN_WRAP else ""
            lines.extend(
                textwrap.wrap(
                    line,
                    width,
                    subsequent_indent=indent,
                    break_long_words=True,
                    break_on_hyphens=False,
                )
                or [""]
            )
        else:
            lines.append(line[: max(width - len(ELLIPSIS), 1)] + ELLIPSIS)
    return lines


def shown_columns(
    columns: Sequence[Column], rows: Sequence[Sequence[CellLike]], *, width: int = 80
) -> list[Column]:
    """The columns :func:`render_table` shows at ``width``: ``optional`` ones may be left out."""
    cells = [[_cell(value) for value in row] for row in rows]
    return _drop_optional(list(columns), cells, width)[0]


def render_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[CellLike]],
    *,
    width: int = 80,
    style: Style | None = None,
    header: bool = True,
) -> str:
    """Render ``rows`` under ``columns`` within ``width`` characters, without a final newline.

    Header and a dashed rule come first (unless ``header`` is false); each row may span several
    lines when a wrapped cell is long or contains newlines.
    """
    style = style or Style()
    cells = [[_cell(value) for value in row] for row in rows]
    for row in cells:
        if len(row) != len(columns):
            raise ValueError(f"row has {len(row)} cells for {len(columns)} columns")
    columns, cells = _drop_optional(list(columns), cells, width)
    natural = [_natural_width(c, [row[i] for row in cells]) for i, c in enumerate(columns)]
    widths = _fit(columns, natural, width)

    def pad(text: str, index: int) -> str:
        if columns[index].align == "right":
            return text.rjust(widths[index])
        return text.ljust(widths[index])

    out = []
    if header:
        heads = [
            style("bold", pad(_lines(Cell(c.header), c, widths[i])[0], i))
            for i, c in enumerate(columns)
        ]
        out.append(GAP.join(heads).rstrip())
        out.append(GAP.join("-" * w for w in widths))
    for row in cells:
        wrapped = [_lines(cell, columns[i], widths[i]) for i, cell in enumerate(row)]
        height = max(len(lines) for lines in wrapped)
        for number in range(height):
            parts = []
            for i, lines in enumerate(wrapped):
                text = lines[number] if number < len(lines) else ""
                parts.append(style(row[i].style, pad(text, i)) if text else pad(text, i))
            out.append(GAP.join(parts).rstrip())
    return "\n".join(out)
