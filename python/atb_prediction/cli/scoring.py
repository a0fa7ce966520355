"""The score table that ``atb backtest sweep --score`` and ``atb models promote --gate`` print:
one row per version, every score column, the chosen metric's best in colour."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from atb_prediction.cli.tables import Cell, Column, Style, render_table

__all__ = ["score_table"]

#: (header, key, decimals, optional) of each column after the version's: numbers are never cut
#: (a cut number is a wrong number); on a narrow terminal the optional ones are left out.
_COLUMNS = (
    ("BARS", "bars", None, True),
    ("HIT RATE", "hit_rate", 3, False),
    ("MAE", "mae", 4, True),
    ("RMSE", "rmse", 4, True),
    ("RETURN", "total_return", 4, False),
    ("SHARPE", "sharpe", 3, False),
    ("MAX DD", "max_drawdown", 4, False),
    ("TURNOVER", "turnover", 3, True),
)


def _number(value: Any, decimals: int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if decimals is None:
        return f"{int(value):,}"
    return f"{float(value):.{decimals}f}"


def score_table(
    rows: Sequence[dict[str, Any]],
    *,
    width: int,
    style: Style,
    best: str | None = None,
    labels: Sequence[str] | None = None,
) -> str:
    """``rows`` (score dicts with ``version``) as a table in the order given; the first row's
    ``best`` metric in the 'best' style (and never left out); ``labels``, when given, fill a
    leading ROLE column."""
    columns = [Column("ROLE", identifier=True)] if labels is not None else []
    columns.append(Column("VERSION", identifier=True))
    columns += [
        Column(header, "right", identifier=True, optional=optional and key != best)
        for header, key, _, optional in _COLUMNS
    ]
    body: list[list[Cell | str]] = []
    for index, row in enumerate(rows):
        line: list[Cell | str] = [labels[index]] if labels is not None else []
        line.append(str(row["version"]))
        for _, key, decimals, _ in _COLUMNS:
            text = _number(row.get(key), decimals)
            line.append(Cell(text, "best") if index == 0 and key == best else text)
        body.append(line)
    return render_table(columns, body, width=width, style=style)
