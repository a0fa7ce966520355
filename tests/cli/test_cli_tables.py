"""Tests of the command line's table rendering and output plumbing (no registry needed)."""

from __future__ import annotations

import io
import re

import pytest
from atb_prediction.cli.output import Console
from atb_prediction.cli.tables import Cell, Column, Style, render_table, shown_columns
from atb_prediction.progress import ProgressBar
from hypothesis import given, settings
from hypothesis import strategies as st

ANSI = re.compile(r"\033\[[0-9;]*m")


def widths(text: str) -> list[int]:
    return [len(ANSI.sub("", line)) for line in text.splitlines()]


def test_a_small_table_is_aligned_under_its_header() -> None:
    text = render_table(
        [Column("NAME"), Column("COUNT", align="right")],
        [["btc", "3"], ["ethereum", "12"]],
    )
    assert text.splitlines() == [
        "NAME      COUNT",
        "--------  -----",
        "btc           3",
        "ethereum     12",
    ]


def test_wrap_columns_wrap_and_others_are_cut_to_fit() -> None:
    problem = "- model input 'keras_tensor' has shape (None, 120, 5) but metadata.json " * 3
    text = render_table(
        [Column("VERSION"), Column("RESULT"), Column("PROBLEMS", wrap=True)],
        [["BTCUSDT:1d:basic:2025-09-16_legacy", "FAIL", problem.strip()]],
        width=80,
    )
    assert max(widths(text)) <= 80
    lines = text.splitlines()
    assert len(lines) > 3  # the problem wrapped over several lines
    # Nothing of the reason is lost: wrapping keeps every word.
    words = " ".join(line[lines[0].index("PROBLEMS") :] for line in lines[2:]).split()
    assert " ".join(words) == " ".join(problem.split())


def test_wrapped_bullets_get_a_hanging_indent() -> None:
    text = render_table([Column("P", wrap=True)], [["- " + "word " * 20]], width=30)
    continuation = text.splitlines()[3]
    assert continuation.startswith("  word")


def test_too_wide_plain_columns_are_cut_with_an_ellipsis() -> None:
    text = render_table([Column("A"), Column("B")], [["x" * 70, "y" * 70]], width=80)
    assert max(widths(text)) <= 80
    assert "..." in text


def test_colour_does_not_change_alignment() -> None:
    rows: list[list[Cell | str]] = [[Cell("ok", "green"), "1"], [Cell("FAIL", "fail"), "22"]]
    columns = [Column("RESULT"), Column("N", align="right")]
    plain = render_table(columns, rows, style=Style(colour=False))
    coloured = render_table(columns, rows, style=Style(colour=True))
    assert "\033[" in coloured
    assert ANSI.sub("", coloured) == plain


def test_rows_must_match_the_columns() -> None:
    with pytest.raises(ValueError, match="2 cells for 1 columns"):
        render_table([Column("A")], [["1", "2"]])


def test_shown_columns_are_the_ones_rendered_coloured_or_not() -> None:
    columns = [Column("VERSION", identifier=True)]
    columns += [Column(f"metric {day}", optional=True) for day in range(1, 9)]
    rows = [["2025-11-01_1h_v1"] + [f"0.0{day}" for day in range(1, 9)]]
    shown = shown_columns(columns, rows, width=60)
    assert shown[0].header == "VERSION" and 1 < len(shown) < len(columns)
    for style in (Style(), Style(colour=True)):
        header = render_table(columns, rows, width=60, style=style).splitlines()[0]
        assert [c.header for c in columns if c.header in header] == [c.header for c in shown]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.text(alphabet="abc xyz-_.:0123456789", max_size=60), min_size=3, max_size=3),
        max_size=6,
    ),
    st.integers(min_value=40, max_value=120),
)
def test_tables_with_a_wrap_column_always_fit(rows: list[list[str]], width: int) -> None:
    columns = [Column("KEY"), Column("RESULT"), Column("PROBLEMS", wrap=True)]
    assert max(widths(render_table(columns, rows, width=width))) <= width


def test_console_errors_are_one_line_on_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console(stdout=out, stderr=err, prog="atb models promote")
    console.error("refusing to promote\nBTCUSDT/basic/x:   it fails")
    assert out.getvalue() == ""
    expected = "atb models promote: error: refusing to promote BTCUSDT/basic/x: it fails\n"
    assert err.getvalue() == expected


def test_console_is_plain_and_80_wide_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    console = Console(stdout=io.StringIO(), stderr=io.StringIO())
    assert console.width == 80
    assert not console.style.colour
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert console.style.colour
    monkeypatch.setenv("NO_COLOR", "1")
    assert not console.style.colour


def test_console_json_is_one_document() -> None:
    out = io.StringIO()
    Console(stdout=out, stderr=io.StringIO()).json({"a": [1, None]})
    assert out.getvalue() == '{\n  "schema": 1,\n  "a": [\n    1,\n    null\n  ]\n}\n'


def test_progress_bar_draws_only_when_enabled() -> None:
    stream = io.StringIO()
    bar = ProgressBar("validating", stream, enabled=False)
    bar.update(1, 2, "x")
    bar.close()
    assert stream.getvalue() == ""

    bar = ProgressBar("validating", stream, enabled=True)
    bar.update(1, 2, "BTCUSDT:1h:basic:v1")
    assert "[##########----------] 1/2 BTCUSDT:1h:basic:v1" in stream.getvalue()
    bar.close()
    assert stream.getvalue().endswith("\r")
