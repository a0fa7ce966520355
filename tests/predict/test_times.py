"""The one home for bar times (``src/core/predict/times.rs`` and ``atb_prediction.times``):
every way times come in becomes UTC nanoseconds by one rule, errors name the bar, order is
checked and never repaired, and spacing meets the timeframe rule."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from atb_prediction import _core
from atb_prediction.models.exceptions import InvalidInputError
from atb_prediction.times import utc_nanos

#: 2024-01-01T00:00:00Z in each epoch unit.
NEW_YEAR = 1_704_067_200
NEW_YEAR_NS = NEW_YEAR * 10**9
HOUR_NS = 3600 * 10**9


@pytest.mark.parametrize(
    ("epoch", "unit"),
    [(NEW_YEAR, "s"), (NEW_YEAR * 10**3, "ms"), (NEW_YEAR * 10**6, "us"), (NEW_YEAR_NS, "ns")],
)
def test_integer_epochs_take_their_unit_from_their_magnitude(epoch: int, unit: str) -> None:
    hours = np.arange(3, dtype=np.int64) * (
        HOUR_NS // np.timedelta64(1, unit).astype("m8[ns]").astype(np.int64)
    )
    for dtype in (np.int64, np.uint64, np.int32 if unit == "s" else np.int64, np.float64):
        values = (epoch + hours).astype(dtype)
        nanos = _core.utc_times(values)
        assert nanos.dtype == np.int64
        assert nanos.tolist() == [NEW_YEAR_NS + h * HOUR_NS for h in range(3)], (unit, dtype)


def test_each_unit_starts_in_1973_and_every_unit_ends_in_2262() -> None:
    starts = np.array([10**8, 10**11, 10**14, 10**17])
    assert {_core.format_utc(int(n)) for n in _core.utc_times(starts)} == {"1973-03-03T09:46:40Z"}
    # Just below a unit's start is the unit below, thousands of years on: refused, not wrapped.
    with pytest.raises(InvalidInputError, match=r"at bar 1: 99999999999 \(seconds\) is after 2262"):
        _core.utc_times(np.array([NEW_YEAR, 10**11 - 1]))
    with pytest.raises(InvalidInputError, match=r"\(nanoseconds\) is after 2262"):
        _core.utc_times(np.array([2**64 - 1], dtype=np.uint64))


@pytest.mark.parametrize("bad", [0, 1, 719, 99_999_999, -NEW_YEAR])
def test_an_epoch_in_no_range_is_an_error_naming_the_bar_and_value(bad: int) -> None:
    with pytest.raises(InvalidInputError) as refused:
        _core.utc_times(np.array([NEW_YEAR, NEW_YEAR + 1, bad]), "column 'open_time'")
    message = str(refused.value)
    assert message.startswith(f"column 'open_time' at bar 2: {bad} is not a time in a known unit")
    assert "seconds from 1e8, milliseconds from 1e11" in message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 12.5])
def test_a_float_epoch_that_is_no_time_names_the_bar(bad: float) -> None:
    with pytest.raises(InvalidInputError, match=r"^timestamps at bar 1: "):
        _core.utc_times(np.array([1.7e9, bad]))


def test_float_epochs_keep_their_fraction() -> None:
    nanos = _core.utc_times(np.array([NEW_YEAR + 0.25, NEW_YEAR * 1e3 + 1.5]))
    assert nanos.tolist() == [NEW_YEAR_NS + 250_000_000, NEW_YEAR_NS + 1_500_000]


@pytest.mark.parametrize("unit", ["Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "15m"])
def test_datetime64_of_any_unit_reads_as_it_says(unit: str) -> None:
    moment = np.datetime64("2024-01-01T00:00:00", "ns")
    # 2024-01-01 is a whole number of every unit but weeks (1970-01-01 was a Thursday).
    value = moment.astype(f"M8[{unit}]")
    expected = value.astype("M8[ns]").astype(np.int64)
    assert _core.utc_times(np.array([value])).tolist() == [int(expected)]
    swapped = np.array([value]).astype(np.dtype(f"M8[{unit}]").newbyteorder(">"))
    assert _core.utc_times(swapped).tolist() == [int(expected)]


def test_nat_and_datetimes_beyond_64_bit_nanoseconds_name_the_bar() -> None:
    with pytest.raises(InvalidInputError, match=r"^timestamps at bar 2 is NaT \(not a time\)$"):
        _core.utc_times(np.array(["2024-01-01", "2024-01-02", "NaT"], dtype="M8[D]"))
    with pytest.raises(
        InvalidInputError, match=r"at bar 0: datetime64\[s\] 32503680000 is outside"
    ):
        _core.utc_times(np.array(["3000-01-01"], dtype="M8[s]"))


@pytest.mark.parametrize(
    "values",
    [np.array([True, False]), np.array([1 + 2j]), np.array([[NEW_YEAR]]), [NEW_YEAR]],
)
def test_values_that_hold_no_times_are_refused(values: object) -> None:
    with pytest.raises(InvalidInputError, match="timestamps"):
        _core.utc_times(values)


def test_utc_nanos_reads_every_form_users_have() -> None:
    expected = [NEW_YEAR_NS, NEW_YEAR_NS + HOUR_NS]
    naive = pd.date_range("2024-01-01", periods=2, freq="h")
    paris = naive.tz_localize("UTC").tz_convert("Europe/Paris")
    forms: list[object] = [
        naive,
        paris,
        pd.Series(paris),
        pd.Series(naive),
        naive.as_unit("s"),
        np.array(["2024-01-01T00:00", "2024-01-01T01:00"], dtype="M8[m]"),
        [NEW_YEAR * 1000, (NEW_YEAR + 3600) * 1000],
        np.array([str(NEW_YEAR), str(NEW_YEAR + 3600)]),
        np.array(["2024-01-01T01:00:00+01:00", "2024-01-01 01:00:00Z"]),
        np.array(["2024-01-01", "2024-01-01T01:00"], dtype=object),
        [datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 1, 1, 1)],
        [date(2024, 1, 1), datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=1)))],
        [np.datetime64("2024-01-01"), np.datetime64("2024-01-01T01", "h")],
    ]
    for form in forms:
        assert utc_nanos(form).tolist() == expected, form


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["2024-01-01", ""], "timestamps at bar 1 is empty (no time)"),
        (["2024-01-01", "soon"], "timestamps at bar 1: 'soon' is not a time (ISO 8601 text or"),
        (["2024-01-01", "1704067200"], "timestamps at bar 1: '1704067200' mixes epochs and"),
        ([None, "2024-01-01"], "timestamps at bar 0: None is not a time"),
        (["nan", "1704067200"], "timestamps at bar 0: NaN is not a time in a known unit"),
    ],
)
def test_text_that_is_no_time_names_the_bar(values: list[object], message: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        utc_nanos(np.array(values, dtype=object if None in values else None))
    assert str(refused.value).startswith(message)


def test_order_is_checked_naming_the_first_offending_bar_and_both_times() -> None:
    hourly = NEW_YEAR_NS + np.arange(5, dtype=np.int64) * HOUR_NS
    _core.check_time_order(hourly)
    _core.check_time_order(hourly.view("M8[ns]"))
    _core.check_time_order(np.array([], dtype=np.int64))
    swapped = hourly.copy()
    swapped[[2, 3]] = swapped[[3, 2]]
    with pytest.raises(InvalidInputError) as refused:
        _core.check_time_order(swapped)
    assert str(refused.value) == (
        "times must strictly increase: bar 3 (2024-01-01T02:00:00Z) is earlier than bar 2 "
        "(2024-01-01T03:00:00Z); sort the bars oldest first and drop repeated ones"
    )
    repeated = np.concatenate([hourly[:3], hourly[2:]])
    with pytest.raises(InvalidInputError, match=r"bar 3 \(2024-01-01T02:00:00Z\) repeats the"):
        _core.check_time_order(repeated)
    with pytest.raises(InvalidInputError, match=r"bar 1 \(2024-01-01T00:00:00Z\) is earlier"):
        _core.check_time_order(hourly[::-1][3:].view("M8[ns]"))
    # Epochs in seconds are read by the same rule first.
    with pytest.raises(InvalidInputError, match="bar 1"):
        _core.check_time_order(np.array([NEW_YEAR + 1, NEW_YEAR]))


def test_spacing_and_the_timeframe_rule() -> None:
    with_a_weekend = NEW_YEAR_NS + np.array([0, 1, 2, 50, 51, 52], dtype=np.int64) * HOUR_NS
    assert _core.median_spacing(with_a_weekend) == HOUR_NS
    assert _core.median_spacing(with_a_weekend[:1]) is None
    for spacing, per_year in ((HOUR_NS, 8760.0), (24 * HOUR_NS, 365.0), (4 * HOUR_NS, 2190.0)):
        regular = NEW_YEAR_NS + np.arange(1000, dtype=np.int64) * spacing
        assert _core.bars_per_year(regular) == per_year
    assert _core.bars_per_year(NEW_YEAR_NS + np.arange(97, dtype=np.int64) * (HOUR_NS // 4)) == (
        35040.0
    )
    assert _core.periods_per_year("4h") == _core.bars_per_year(
        NEW_YEAR_NS + np.arange(3, dtype=np.int64) * 4 * HOUR_NS
    )
    # A weekend's gap leaves the median spacing alone but counts in the bars a year.
    assert _core.bars_per_year(with_a_weekend) == pytest.approx(5 / 52 * 8760)
    assert _core.bars_per_year(with_a_weekend[:1]) is None
    assert _core.spacing_mismatch(HOUR_NS, "1h") is None
    assert _core.spacing_mismatch(HOUR_NS + HOUR_NS // 200, "1h") is None  # clock jitter
    assert _core.spacing_mismatch(24 * HOUR_NS, "1h") == (
        "bars 1d apart (the series' median spacing), not 1h"
    )
    with pytest.raises(InvalidInputError, match="later than the first"):
        _core.bars_per_year(np.array([NEW_YEAR_NS, NEW_YEAR_NS], dtype=np.int64))


def test_the_time_column_goes_by_name_in_any_case() -> None:
    assert _core.TIME_COLUMNS == ["open_time", "timestamp", "time", "date", "datetime"]
    assert _core.time_column(["open", "Date", "close"]) == 1
    assert _core.time_column(["close_time", "Open_Time"]) == 1
    assert _core.time_column(["open", 3, "close"]) is None
