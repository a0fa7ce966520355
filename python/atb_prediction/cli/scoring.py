"""The score table that ``atb backtest sweep --score`` and ``atb models promote --gate`` print:
one row per version (and buy-and-hold, and as-live), every score column, the chosen metric's
best in colour, and which rows were left unranked."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from atb_prediction.cli.tables import Cell, Column, Style, render_table

if TYPE_CHECKING:
    from atb_prediction.backtest.scores import SweepScores

__all__ = ["score_table", "scoring_line", "scoring_settings", "unranked_note"]

#: (header, key, decimals, optional) of each column after the version's: numbers are never cut
#: (a cut number is a wrong number); on a narrow terminal the optional ones are left out.
#: Turnover and exposure always show: a version that is long at every bar is buy-and-hold.
_COLUMNS = (
    ("BARS", "bars", None, True),
    ("HIT RATE", "hit_rate", 3, False),
    ("MAE", "mae", 4, True),
    ("RMSE", "rmse", 4, True),
    ("RETURN", "total_return", 4, False),
    ("SHARPE", "sharpe", 3, False),
    ("MAX DD", "max_drawdown", 4, False),
    ("TURNOVER", "turnover", 3, False),
    ("EXPOSURE", "exposure", 3, False),
)

#: The RANK of a row left unranked (too few scored bars, or no value).
UNRANKED = "-"


def _number(value: Any, decimals: int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if decimals is None:
        return f"{int(value):,}"
    return f"{float(value):.{decimals}f}"


def scoring_settings(scores: SweepScores) -> dict[str, Any]:
    """How ``scores`` were computed, for ``--json``."""
    return {
        "horizon": scores.horizon,
        "fee_bps": float(scores.fee_bps),
        "long_threshold": float(scores.long_threshold),
        "short_threshold": float(scores.short_threshold),
        "min_bars": scores.min_bars,
        "periods_per_year": float(scores.periods_per_year),
    }


def scoring_line(scores: SweepScores) -> str:
    """How ``scores`` were computed, in one line above the table."""
    return (
        f"Scores (horizon {scores.horizon}, fee {scores.fee_bps:g} bps, long above "
        f"{scores.long_threshold:g}, short below {scores.short_threshold:g}):"
    )


def unranked_note(rows: Sequence[dict[str, Any]], min_bars: int) -> str | None:
    """A line below the table saying why some rows have no rank, when some have none."""
    if all(row.get("rank") is not None for row in rows):
        return None
    return f"RANK {UNRANKED}: not ranked (fewer than {min_bars:,} scored bars, or no value)"


def score_table(
    rows: Sequence[dict[str, Any]],
    *,
    width: int,
    style: Style,
    best: str | None = None,
    labels: Sequence[str] | None = None,
) -> str:
    """``rows`` (score dicts with ``version``) as a table in the order given; the first row's
    ``best`` metric in the 'best' style (and never left out), unless that row is unranked;
    ``labels``, when given, fill a leading ROLE column; rows ranked by
    :meth:`~atb_prediction.backtest.scores.SweepScores.rows` get a leading RANK column."""
    ranked = any("rank" in row for row in rows)
    columns = [Column("RANK", "right", identifier=True)] if ranked else []
    if labels is not None:
        columns.append(Column("ROLE", identifier=True))
    columns.append(Column("VERSION", identifier=True))
    columns += [
        Column(header, "right", identifier=True, optional=optional and key != best)
        for header, key, _, optional in _COLUMNS
    ]
    body: list[list[Cell | str]] = []
    for index, row in enumerate(rows):
        line: list[Cell | str] = []
        if ranked:
            line.append(UNRANKED if row.get("rank") is None else str(row["rank"]))
        if labels is not None:
            line.append(labels[index])
        line.append(str(row["version"]))
        first = index == 0 and (not ranked or row.get("rank") is not None)
        for _, key, decimals, _ in _COLUMNS:
            text = _number(row.get(key), decimals)
            line.append(Cell(text, "best") if first and key == best else text)
        body.append(line)
    return render_table(columns, body, width=width, style=style)
