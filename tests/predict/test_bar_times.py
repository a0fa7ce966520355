"""``predict_bars`` refuses bars whose times do not strictly increase, wherever the input
carries them (a ``DatetimeIndex``, an index or column of times, a mapping's or structured
array's field), by the core's one order check, naming the bars by their place in the input.
Only the bars it reads matter, as for their values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from atb_prediction import InvalidInputError, OnnxRunner, PredictionConfig, PredictionModelRegistry
from conftest import affine_model, point_latest, write_bundle

OHLCV = ("open", "high", "low", "close", "volume")


@pytest.fixture
def runner(tmp_path: Path) -> OnnxRunner:
    """A raw-bar bundle reading the last 6 bars (seq 4, window 3)."""
    root = tmp_path / "registry"
    write_bundle(
        root,
        "BTCUSDT",
        "basic",
        "2026-01-01_1h_v1",
        model=affine_model(4, 2, weight=0.1, bias=(0.2,)),
        metadata={
            "timeframe": "1h",
            "sequence_length": 4,
            "feature_strategy": "price_only",
            "feature_names": ["close_normalized", "volume_normalized"],
            "price_normalization": {"method": "rolling_minmax", "window": 3},
        },
    )
    point_latest(root, "BTCUSDT", "basic", "2026-01-01_1h_v1")
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(root)))
    bundle = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h")
    assert bundle.runner.bundle.bars_needed == 6
    return bundle.runner


def hourly(rows: int = 20, tz: str | None = "UTC") -> pd.DataFrame:
    rng = np.random.default_rng(2)
    close = 100.0 + np.cumsum(rng.normal(0.0, 1.0, rows))
    return pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close,
         "volume": rng.uniform(1.0, 9.0, rows)},
        index=pd.date_range("2024-03-01", periods=rows, freq="h", tz=tz),
    )  # fmt: skip


def test_a_backwards_index_is_refused_naming_the_bars(runner: OnnxRunner) -> None:
    frame = hourly()
    with pytest.raises(
        InvalidInputError,
        match=r"^the DataFrame's index: times must strictly increase: bar 15 "
        r"\(2024-03-01T04:00:00Z\) is earlier than bar 14 \(2024-03-01T05:00:00Z\); sort the "
        r"bars oldest first and drop repeated ones$",
    ):
        runner.predict_bars(frame.iloc[::-1])
    repeated = frame.index.tolist()
    repeated[17] = repeated[16]
    with pytest.raises(InvalidInputError, match=r"bar 17 \(.*\) repeats the time of bar 16"):
        runner.predict_bars(frame.set_axis(pd.DatetimeIndex(repeated), axis=0))


def test_only_the_bars_read_are_checked(runner: OnnxRunner) -> None:
    frame = hourly()
    reference = runner.predict_bars(frame).price
    early = frame.index.tolist()
    early[3] = early[2]  # before the last 6 bars
    assert runner.predict_bars(frame.set_axis(pd.DatetimeIndex(early), axis=0)).price == reference
    # Zones and units do not matter: the same instants.
    assert runner.predict_bars(frame.tz_convert("Asia/Tokyo")).price == reference
    assert runner.predict_bars(frame.tz_localize(None)).price == reference
    seconds = frame.set_axis(frame.index.as_unit("s"), axis=0)
    assert runner.predict_bars(seconds).price == reference


def test_times_from_a_column_an_index_a_mapping_or_a_structured_array(runner: OnnxRunner) -> None:
    frame = hourly()
    # Binance's klines: the open time in epoch milliseconds, a RangeIndex.
    milliseconds = (frame.index.tz_localize(None) - pd.Timestamp(0)) // pd.Timedelta(milliseconds=1)
    klines = frame.reset_index(drop=True).assign(open_time=np.asarray(milliseconds))
    reference = runner.predict_bars(frame).price
    assert runner.predict_bars(klines).price == reference
    swapped = klines.copy()
    swapped.loc[[16, 17], "open_time"] = swapped.loc[[17, 16], "open_time"].to_numpy()
    with pytest.raises(
        InvalidInputError,
        match=r"^the DataFrame's column 'open_time': times must strictly increase: bar 17 ",
    ):
        runner.predict_bars(swapped)
    indexed = swapped.set_index("open_time")
    with pytest.raises(InvalidInputError, match=r"^the DataFrame's index 'open_time': .* bar 17"):
        runner.predict_bars(indexed)
    mapping = {name: swapped[name].to_numpy() for name in (*OHLCV, "open_time")}
    mapping["Timestamp"] = mapping.pop("open_time")
    with pytest.raises(InvalidInputError, match=r"^the mapping column 'Timestamp': .* bar 17 "):
        runner.predict_bars(mapping)
    structured = np.zeros(20, dtype=[("when", "M8[s]"), *((n, "f8") for n in OHLCV)])
    for name in OHLCV:
        structured[name] = frame[name]
    structured["when"] = frame.index.tz_localize(None).to_numpy().astype("M8[s]")[::-1]
    with pytest.raises(InvalidInputError, match=r"^the structured array column 'when': .* bar 15"):
        runner.predict_bars(structured)
    structured["when"] = structured["when"][::-1]
    assert runner.predict_bars(structured).price == reference
    # A column of datetimes among the bar columns counts too, before a named one.
    dated = klines.assign(stamp=frame.index[::-1])
    with pytest.raises(InvalidInputError, match=r"^the DataFrame's column 'stamp'"):
        runner.predict_bars(dated)


def test_bars_without_times_are_read_by_position(runner: OnnxRunner) -> None:
    frame = hourly()
    plain = frame.reset_index(drop=True)
    assert runner.predict_bars(plain).price == runner.predict_bars(frame).price
    assert (
        runner.predict_bars(plain.iloc[::-1]).price
        == runner.predict_bars(frame.iloc[::-1].reset_index(drop=True)).price
    )
