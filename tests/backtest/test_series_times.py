"""Times you can trust, through the Python API: every way a series' times come in (a
``DatetimeIndex``, ``timestamps=``, datetime or epoch fields) gives the right instants or a typed
error naming the bar; order is checked by sweep, sweep_many and the gate; scores annualise from
the series' own spacing and say so; capitalised OHLCV is read as raw bars.

Real public bars: backtesting.py's ``EURUSD`` (hourly FX) and ``GOOG`` (daily equity), read from
the installed package (the ``test`` extra), never copied into the repository.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from atb_prediction import sweep, sweep_many
from atb_prediction.backtest import Gate
from atb_prediction.demo import write_demo_registry
from atb_prediction.models.exceptions import InvalidInputError, ModelNotAvailableError
from sweep_helpers import RIGHT, WRONG, open_registry, signal_bars, signal_registry

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # backtesting.py's own import-time notices
    from backtesting.test import EURUSD, GOOG


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo registry: BTCUSDT/basic's three hourly raw-bar versions, first live 2025-11-01."""
    return write_demo_registry(tmp_path_factory.mktemp("demo") / "registry").root


def _sweep(root: Path, bars: object, **options: Any) -> Any:
    options.setdefault("versions", "all")
    return sweep(open_registry(root), bars, symbol="BTCUSDT", model_type="basic",
                 progress=False, **options)  # fmt: skip


def _lower(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns=str.lower)


# -- order --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrange", "message"),
    [
        (
            lambda f: f.iloc[::-1],
            "the DataFrame's index: times must strictly increase: bar 1 (2018-02-07T14:00:00Z) "
            "is earlier than bar 0 (2018-02-07T15:00:00Z)",
        ),
        (
            lambda f: f.iloc[[0, 1, 3, 2, *range(4, len(f))]],
            "the DataFrame's index: times must strictly increase: bar 3 (2017-04-19T11:00:00Z) "
            "is earlier than bar 2 (2017-04-19T12:00:00Z)",
        ),
        (
            lambda f: f.iloc[[0, 1, 1, *range(2, len(f))]],
            "the DataFrame's index: times must strictly increase: bar 2 (2017-04-19T10:00:00Z) "
            "repeats the time of bar 1 (2017-04-19T10:00:00Z)",
        ),
    ],
    ids=["reversed", "unsorted", "repeated"],
)
def test_bars_out_of_order_are_refused_naming_the_first_offending_bar(
    demo_root: Path, arrange: Any, message: str
) -> None:
    """Issue 26: a sweep over a reversed index gave Sharpe 31.8 with no warning."""
    bars = arrange(EURUSD)
    with pytest.raises(InvalidInputError) as refused:
        _sweep(demo_root, bars)
    assert str(refused.value).startswith(message)
    with pytest.raises(InvalidInputError, match="times must strictly increase: bar "):
        sweep_many(open_registry(demo_root), {"BTCUSDT": bars}, model_type="basic",
                   progress=False)  # fmt: skip
    gate = Gate(bars)
    with pytest.raises(InvalidInputError, match="times must strictly increase: bar "):
        gate.evaluate(demo_root, "BTCUSDT", "basic", "2025-11-15_1h_v1", "2025-11-08_1h_v1")


def test_timestamps_given_out_of_order_are_refused_too(demo_root: Path) -> None:
    stamps = EURUSD.index.to_numpy().copy()
    stamps[[10, 11]] = stamps[[11, 10]]
    with pytest.raises(
        InvalidInputError, match=r"^timestamps: times must strictly increase: bar 11"
    ):
        _sweep(demo_root, EURUSD.reset_index(drop=True), timestamps=stamps)


# -- units ------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [10**3, 10**6, 10**9], ids=["ms", "us", "ns"])
def test_integer_epoch_timestamps_are_the_times_they_say(demo_root: Path, scale: int) -> None:
    """D14: int64 epoch ms and µs became NaT, and an as-live sweep served the newest version
    everywhere."""
    frame, _ = _demo_frame()
    epochs = frame.index.asi8 // (10**9 // scale)  # nanoseconds to the unit
    plain = frame.reset_index(drop=True)
    expected = _sweep(demo_root, frame, versions="as-live")
    result = _sweep(demo_root, plain, timestamps=epochs, versions="as-live")
    assert result.timestamps is not None
    np.testing.assert_array_equal(result.timestamps, frame.index.tz_localize(None).to_numpy())
    assert result.live_version is not None and expected.live_version is not None
    np.testing.assert_array_equal(result.live_version, expected.live_version)
    assert -1 in result.live_version and len(set(result.live_version.tolist())) == 4
    np.testing.assert_array_equal(result.price, expected.price)


def test_epochs_in_no_unit_name_the_bar(demo_root: Path) -> None:
    frame, _ = _demo_frame()
    seconds = frame.index.asi8 // 10**9
    seconds[5] = 0  # an unset time
    with pytest.raises(InvalidInputError, match=r"^timestamps at bar 5: 0 is not a time in a"):
        _sweep(demo_root, frame.reset_index(drop=True), timestamps=seconds)
    with pytest.raises(InvalidInputError, match=r"^timestamps at bar 0 is NaT"):
        _sweep(demo_root, frame.reset_index(drop=True),
               timestamps=np.full(len(frame), np.datetime64("NaT"), "M8[ns]"))  # fmt: skip


def test_a_frame_of_ccxt_rows_takes_its_times_from_its_timestamp_column(demo_root: Path) -> None:
    frame, _ = _demo_frame()
    ccxt = frame.reset_index(drop=True)
    ccxt.insert(0, "timestamp", frame.index.asi8 // 10**6)  # ccxt's fetch_ohlcv: epoch ms
    result = _sweep(demo_root, ccxt)
    assert result.timestamps is not None
    np.testing.assert_array_equal(result.timestamps, frame.index.tz_localize(None).to_numpy())


@pytest.mark.parametrize("kind", ["mapping", "structured", "dataframe"])
@pytest.mark.parametrize("stamps", ["datetime64", "epoch ms"])
def test_with_open_time_and_close_time_the_first_gives_the_times(
    demo_root: Path, kind: str, stamps: str
) -> None:
    """Issue 28, behaviour 11 (and a DataFrame of the same columns, with no DatetimeIndex)."""
    frame, _ = _demo_frame()
    opened = frame.index.tz_localize(None).to_numpy()
    closed = opened + np.timedelta64(1, "h") - np.timedelta64(1, "ms")
    if stamps == "epoch ms":
        opened_field, closed_field = (t.astype("M8[ms]").astype(np.int64) for t in (opened, closed))
    else:
        opened_field, closed_field = opened, closed
    columns = {"open_time": opened_field, **{c: frame[c].to_numpy() for c in frame},
               "close_time": closed_field}  # fmt: skip
    if kind == "structured":
        series: Any = np.empty(len(frame), dtype=[(n, v.dtype) for n, v in columns.items()])
        for name, values in columns.items():
            series[name] = values
    elif kind == "dataframe":
        series = pd.DataFrame(columns)
    else:
        series = columns
    result = _sweep(demo_root, series, versions="as-live")
    assert result.timestamps is not None
    np.testing.assert_array_equal(result.timestamps, opened)
    np.testing.assert_array_equal(result.price, _sweep(demo_root, frame, versions="as-live").price)


# -- spacing and the bars a year ------------------------------------------------------------------


def _signal_sweep(root: Path, freq: str) -> Any:
    bars = signal_bars()
    bars.index = pd.date_range("2026-02-01", periods=len(bars), freq=freq, tz="UTC")
    return sweep(open_registry(root), bars, symbol="BTCUSDT", model_type="basic",
                 versions=[RIGHT, WRONG], progress=False)  # fmt: skip


@pytest.mark.parametrize(
    ("freq", "words", "periods"),
    [("4h", "4h", 2190.0), ("1D", "1d", 365.0), ("15min", "15m", 35040.0)],
)
def test_a_series_is_annualised_with_its_own_bars_a_year(
    tmp_path: Path, freq: str, words: str, periods: float
) -> None:
    """Issue 28, behaviour 2: a 4h, 1d or 15m series through 1h models is annualised with its
    own bars a year, with one warning naming both spacings."""
    root = signal_registry(tmp_path / "registry")
    hourly = _signal_sweep(root, "h").score()
    assert hourly.periods_per_year == 8760.0
    with pytest.warns(UserWarning) as caught:
        result = _signal_sweep(root, freq)
    assert [str(w.message) for w in caught] == [
        f"sweep of BTCUSDT/basic: the series has bars {words} apart (the series' median "
        f"spacing), not 1h, the timeframe of BTCUSDT:1h:basic:{RIGHT}; scores annualise with "
        f"the bars a year the series shows ({periods:,.6g}) unless periods_per_year is given"
    ]
    scores = result.score()
    assert scores.periods_per_year == periods
    # The same returns, annualised with fewer or more bars a year.
    np.testing.assert_allclose(scores.sharpe, hourly.sharpe * np.sqrt(periods / 8760.0))
    np.testing.assert_array_equal(scores.total_return, hourly.total_return)
    given = result.score(periods_per_year=8760.0)
    assert given.periods_per_year == 8760.0
    np.testing.assert_allclose(given.sharpe, hourly.sharpe)


def test_without_times_the_timeframe_annualises(tmp_path: Path) -> None:
    root = signal_registry(tmp_path / "registry")
    bars = signal_bars().reset_index(drop=True)
    result = sweep(open_registry(root), bars, symbol="BTCUSDT", model_type="basic",
                   versions=[RIGHT], progress=False)  # fmt: skip
    assert result.timestamps is None and result.score().periods_per_year == 8760.0


def test_the_gate_annualises_from_the_bars_or_as_told(tmp_path: Path) -> None:
    root = signal_registry(tmp_path / "registry")
    daily = signal_bars()
    daily.index = pd.date_range("2026-02-01", periods=len(daily), freq="D", tz="UTC")
    with pytest.warns(UserWarning, match="bars 1d apart"):
        evidence = Gate(daily).evaluate(root, "BTCUSDT", "basic", RIGHT, WRONG)
    assert evidence["periods_per_year"] == 365.0
    with pytest.warns(UserWarning, match="bars 1d apart"):
        told = Gate(daily, periods_per_year=252.0).evaluate(root, "BTCUSDT", "basic", RIGHT, WRONG)
    assert told["periods_per_year"] == 252.0
    assert told["candidate"]["sharpe"] == pytest.approx(
        evidence["candidate"]["sharpe"] * np.sqrt(252.0 / 365.0)
    )


def _shown_bars_a_year(bars: pd.DataFrame) -> float:
    """Bars over their span in 365-day years, computed here from the index."""
    span = (bars.index[-1] - bars.index[0]) / pd.Timedelta(days=365)
    return (len(bars) - 1) / span


def test_daily_equity_bars_through_an_hourly_model(demo_root: Path) -> None:
    """Issue 26: GOOG's daily bars through a 1h model were scored with 8,760 periods a year
    (Sharpe 3.96 where the daily figure is about 0.7), with no word about the mismatch. They
    trade on weekdays that are not holidays: about 252 bars a year, which the series shows."""
    with pytest.warns(
        UserWarning, match=r"bars 1d apart .* not 1h, the timeframe of BTCUSDT:1h.* \(251\.494\)"
    ):
        result = _sweep(demo_root, GOOG, versions=["2025-11-15_1h_v1"])
    scores = result.score()
    assert scores.periods_per_year == pytest.approx(_shown_bars_a_year(GOOG), rel=1e-12)
    assert 251 < scores.periods_per_year < 252
    hourly = result.score(periods_per_year=8760.0)
    np.testing.assert_allclose(
        scores.sharpe, hourly.sharpe * np.sqrt(scores.periods_per_year / 8760.0)
    )
    trading_days = result.score(periods_per_year=252.0)
    assert trading_days.periods_per_year == 252.0


def test_hourly_fx_bars_with_weekend_gaps_are_hourly(demo_root: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no spacing warning: the weekends are gaps
        result = _sweep(demo_root, EURUSD, versions=["2025-11-15_1h_v1"])
    # Five-day weeks: the bars a year the market trades, not 8,760.
    periods = result.score().periods_per_year
    assert periods == pytest.approx(_shown_bars_a_year(EURUSD), rel=1e-12)
    assert 6_150 < periods < 6_250


# -- columns ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bars", [EURUSD, GOOG.iloc[:600]], ids=["EURUSD", "GOOG"])
def test_capitalised_ohlcv_is_read_as_raw_bars(demo_root: Path, bars: pd.DataFrame) -> None:
    """Issue 26: Open/High/Low/Close/Volume, as backtesting.py and yfinance name them, got
    "the DataFrame lacks the feature column(s) close_normalized, ..."."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GOOG's daily spacing against the 1h models
        capitalised = _sweep(demo_root, bars)
        lower = _sweep(demo_root, _lower(bars))
    assert capitalised.versions == lower.versions == (
        "2025-11-01_1h_v1", "2025-11-08_1h_v1", "2025-11-15_1h_v1",
    )  # fmt: skip
    np.testing.assert_array_equal(capitalised.price, lower.price)
    assert capitalised.close is not None  # found as "Close"
    np.testing.assert_array_equal(capitalised.close, bars["Close"].to_numpy())
    assert np.isfinite(capitalised.price[:, -1]).all() and capitalised.price_units == (True,) * 3
    np.testing.assert_array_equal(capitalised.score().sharpe, lower.score().sharpe)


def test_a_frame_with_neither_features_nor_bars_names_both_and_its_columns(
    demo_root: Path,
) -> None:
    closes = EURUSD[["Close", "Volume"]]
    with pytest.raises(InvalidInputError) as refused:
        _sweep(demo_root, closes, versions=["2025-11-15_1h_v1"])
    assert str(refused.value) == (
        "BTCUSDT:1h:basic:2025-11-15_1h_v1 cannot read the DataFrame: the DataFrame has neither "
        'the feature columns metadata.json\'s feature_names lists ("close_normalized", '
        '"volume_normalized", "high_normalized", "low_normalized", "open_normalized"; it '
        'lacks "close_normalized", "volume_normalized", "high_normalized", "low_normalized", '
        '"open_normalized") nor the raw bars open, high, low, close, volume (in any case) they '
        'can be computed from (it lacks "open", "high", "low"); it has the columns "Close", '
        '"Volume"'
    )


# -- nothing was live -------------------------------------------------------------------------


def test_as_live_before_the_first_promotion_names_the_times(demo_root: Path) -> None:
    """Issue 26: "has no version that can predict from this series", where the versions can
    predict and none was live yet."""
    with pytest.raises(ModelNotAvailableError) as refused:
        _sweep(demo_root, EURUSD, versions="as-live")
    assert str(refused.value) == (
        "no version of BTCUSDT/basic was live during the series (2017-04-19T09:00:00Z to "
        "2018-02-07T15:00:00Z): its first version, 2025-11-01_1h_v1, went live at "
        "2025-11-01T06:00:00Z"
    )


def _demo_frame() -> tuple[pd.DataFrame, Any]:
    """The demo's hourly bars as a DataFrame with a UTC ``DatetimeIndex``."""
    from atb_prediction.demo import demo_bars

    columns, stamps = demo_bars()
    frame = pd.DataFrame(columns, index=pd.DatetimeIndex(stamps).tz_localize("UTC"))
    return frame, stamps
