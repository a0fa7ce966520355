"""What a sweep's result shows a user: the per-version summary's counts, the DataFrame's time
index, scores ranked best first whatever the row order, and the refusal of an unknown version,
each pinned to exact values (the suite's sharper half for the backtest layer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from atb_prediction import InvalidInputError, ModelNotAvailableError, sweep
from atb_prediction.backtest import VersionSummary
from atb_prediction.backtest.scores import BUY_AND_HOLD
from sweep_helpers import RIGHT, WRONG, open_registry, signal_bars, signal_registry


def test_the_summary_counts_directions_of_defined_windows_only(tmp_path: Path) -> None:
    registry = open_registry(signal_registry(tmp_path / "registry"))
    bars = signal_bars(40)
    bars.loc[bars.index[::5], "signal"] = 0.0  # 8 flat bars
    bars.loc[bars.index[3], "signal"] = np.nan  # one window with no prediction
    with pytest.warns(RuntimeWarning, match="1 windows hold NaN"):
        result = sweep(registry, bars, symbol="BTCUSDT", model_type="basic", versions=[RIGHT],
                       progress=False)  # fmt: skip
    signal = bars["signal"].to_numpy()
    (line,) = result.summary()
    assert line == VersionSummary(
        version_id=RIGHT, bars=40, windows=39, mean_confidence=pytest.approx(31 / 39),
        down=int((signal < 0).sum()), flat=int((signal == 0).sum()), up=int((signal > 0).sum()),
        seconds=result.elapsed[0],
    )  # fmt: skip
    assert (line.down, line.flat, line.up) == (12, 8, 19)


def test_the_frame_is_indexed_by_utc_timestamps(tmp_path: Path) -> None:
    registry = open_registry(signal_registry(tmp_path / "registry"))
    bars = signal_bars(6)
    result = sweep(registry, bars, symbol="BTCUSDT", model_type="basic", progress=False)
    frame = result.to_pandas()
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.name == "timestamp" and str(frame.index.tz) == "UTC"
    assert list(frame.index) == list(bars.index)


def test_scores_are_ranked_best_first_even_when_the_rows_are_not(tmp_path: Path) -> None:
    registry = open_registry(signal_registry(tmp_path / "registry"))
    result = sweep(registry, signal_bars(), symbol="BTCUSDT", model_type="basic",
                   versions=[WRONG, RIGHT], progress=False)  # fmt: skip
    scores = result.score()
    assert [row["version"] for row in scores.rows()] == [WRONG, RIGHT, BUY_AND_HOLD]
    by_sharpe = [row["version"] for row in scores.rows(ranked_by="sharpe")]
    assert by_sharpe == [RIGHT, BUY_AND_HOLD, WRONG]
    by_drawdown = [row["version"] for row in scores.rows(ranked_by="max_drawdown")]
    assert by_drawdown.index(RIGHT) < by_drawdown.index(WRONG)


def test_an_unknown_version_is_refused_naming_those_that_can_load(tmp_path: Path) -> None:
    registry = open_registry(signal_registry(tmp_path / "registry"))
    with pytest.raises(ModelNotAvailableError) as refused:
        sweep(registry, signal_bars(6), symbol="BTCUSDT", model_type="basic", versions=["nope"],
              progress=False)  # fmt: skip
    assert str(refused.value) == (
        f"BTCUSDT/basic has no version 'nope' (versions that can load: {RIGHT}, {WRONG})"
    )


def test_an_as_live_sweep_without_times_says_how_to_give_them(tmp_path: Path) -> None:
    registry = open_registry(signal_registry(tmp_path / "registry"))
    bars = signal_bars(6).reset_index(drop=True)
    with pytest.raises(InvalidInputError) as refused:
        sweep(registry, bars, symbol="BTCUSDT", model_type="basic", versions="as-live",
              progress=False)  # fmt: skip
    expected = 'versions="as-live" needs timestamps: pass timestamps= or a DataFrame with a '
    assert str(refused.value) == expected + "DatetimeIndex"


def test_a_mapping_series_takes_its_datetime_column_as_the_times(tmp_path: Path) -> None:
    """A ``datetime64`` column gives the bars' times (an as-live sweep needs them); a
    ``timedelta64`` column is no time and no feature: it is left out."""
    registry = open_registry(signal_registry(tmp_path / "registry"))
    bars = signal_bars(6)
    times = bars.index.tz_localize(None).to_numpy()
    columns = {
        "signal": bars["signal"].to_numpy(),
        "close": bars["close"].to_numpy(),
        "time": times,
        "lag": np.diff(times, prepend=times[0]),
    }
    result = sweep(registry, columns, symbol="BTCUSDT", model_type="basic", versions="as-live",
                   progress=False)  # fmt: skip
    assert result.timestamps is not None
    assert list(result.timestamps) == list(times)
    assert result.versions == (WRONG,) and result.bars == 6


def test_mapping_columns_of_different_lengths_are_refused(tmp_path: Path) -> None:
    registry = open_registry(signal_registry(tmp_path / "registry"))
    times = signal_bars(6).index.tz_localize(None).to_numpy()
    for columns in (
        {"signal": np.ones(6), "close": np.ones(5)},
        {"signal": np.ones(6), "time": times[:5]},
    ):
        with pytest.raises(InvalidInputError) as refused:
            sweep(registry, columns, symbol="BTCUSDT", model_type="basic", progress=False)
        assert str(refused.value) == "the mapping columns differ in length: [5, 6]"


def test_times_are_read_as_utc_from_any_zone_or_posix_seconds(tmp_path: Path) -> None:
    registry = open_registry(signal_registry(tmp_path / "registry"))
    bars = signal_bars(6)
    utc = list(bars.index.tz_localize(None).to_numpy())
    in_new_york = bars.tz_convert("America/New_York")
    result = sweep(registry, in_new_york, symbol="BTCUSDT", model_type="basic", progress=False)
    assert result.timestamps is not None and list(result.timestamps) == utc
    naive = bars.tz_localize(None)  # naive times are UTC
    result = sweep(registry, naive, symbol="BTCUSDT", model_type="basic", progress=False)
    assert result.timestamps is not None and list(result.timestamps) == utc

    epoch = pd.Timestamp(0, tz="UTC")
    seconds = (bars.index - epoch) / pd.Timedelta(seconds=1) + 0.5  # POSIX, half past
    plain = bars.reset_index(drop=True)
    result = sweep(registry, plain, symbol="BTCUSDT", model_type="basic", timestamps=seconds,
                   progress=False)  # fmt: skip
    assert result.timestamps is not None
    assert list(result.timestamps) == [t + np.timedelta64(500, "ms") for t in utc]

    with pytest.raises(InvalidInputError) as refused:
        sweep(registry, bars.reset_index(drop=True), symbol="BTCUSDT", model_type="basic",
              timestamps=np.array(["a"] * 6), progress=False)  # fmt: skip
    assert str(refused.value) == (
        "timestamps at bar 0: 'a' is not a time (ISO 8601 text or an epoch)"
    )


def test_sweep_warnings_point_at_the_line_that_called_the_sweep(tmp_path: Path) -> None:
    """A warning names the user's line, not a line inside the package, through ``sweep`` and
    ``sweep_many`` (different depths) alike."""
    from atb_prediction import sweep_many
    from conftest import FIXTURE_REGISTRY, golden_frame

    registry = open_registry(signal_registry(tmp_path / "registry"))
    bars = signal_bars(40)
    bars.loc[bars.index[3], "signal"] = np.nan
    with pytest.warns(RuntimeWarning, match="1 windows hold NaN") as direct:
        sweep(registry, bars, symbol="BTCUSDT", model_type="basic", versions=[RIGHT],
              progress=False)  # fmt: skip
    with pytest.warns(RuntimeWarning, match="1 windows hold NaN") as many:
        sweep_many(registry, {"BTCUSDT": bars}, model_type="basic", versions=[RIGHT],
                   progress=False)  # fmt: skip
    fixture = open_registry(FIXTURE_REGISTRY)
    with pytest.warns(UserWarning, match="is left out") as planned:
        sweep(fixture, golden_frame("BTCUSDT").iloc[:300], symbol="BTCUSDT", model_type="basic",
              versions="all", progress=False)  # fmt: skip
    for caught in (direct, many, planned):
        assert {Path(w.filename).name for w in caught} == {Path(__file__).name}


def test_a_warning_from_a_sibling_folder_of_the_package_names_that_folder() -> None:
    """Only files inside the package's own folder are skipped: ``atb_prediction_extra/`` beside
    it shares the name's prefix but is the user's code."""
    import atb_prediction
    from atb_prediction._caller import warn_caller

    sibling = Path(atb_prediction.__file__).resolve().parent.with_name("atb_prediction_extra")
    code = compile("warn_caller('from the sibling')", str(sibling / "strategy.py"), "exec")
    with pytest.warns(UserWarning, match="from the sibling") as caught:
        exec(code, {"warn_caller": warn_caller})
    assert [w.filename for w in caught] == [str(sibling / "strategy.py")]
