"""``runner.stream``: bars one at a time, each push what ``predict_bars`` gives on every bar so
far, over long series with flat stretches and NaN volumes, on a tiny model, the fixture's
production LSTM and ``rolling_minmax`` bundles whose target is not the close."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from atb_prediction import (
    InvalidInputError,
    ModelLoadError,
    OnnxRunner,
    PredictionConfig,
    PredictionModelRegistry,
)
from conftest import FIXTURE_REGISTRY, _model, point_latest, write_bundle
from onnx import TensorProto, helper

OHLCV = ("open", "high", "low", "close", "volume")
FEATURES = ("close", "volume", "high", "low", "open")


def mean_model(seq: int, features: int = 5) -> bytes:
    """``[batch, seq, features] -> [batch, 1]``: the mean of the window (a model that costs
    next to nothing, so that what surrounds it shows)."""
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["window"], ["mean"], axes=[1, 2], keepdims=0),
            helper.make_node("Unsqueeze", ["mean", "axis"], ["output"]),
        ],
        "mean",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["batch", seq, features])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1])],
        [helper.make_tensor("axis", TensorProto.INT64, [1], [1])],
    )
    return _model(graph)


def raw_bar_runner(
    root: Path,
    *,
    seq: int = 120,
    window: int | str = 120,
    target: str = "close",
    features: tuple[str, ...] = FEATURES,
    model: bytes | None = None,
) -> OnnxRunner:
    """The runner of a one-bundle registry whose features come from raw bars."""
    write_bundle(
        root,
        "BTCUSDT",
        "basic",
        "2026-01-01_1h_v1",
        model=model or mean_model(seq, len(features)),
        metadata={
            "timeframe": "1h",
            "sequence_length": seq,
            "feature_strategy": "price_only_rolling_minmax",
            "feature_names": [f"{name}_normalized" for name in features],
            "price_normalization": {
                "method": "rolling_minmax",
                "window": window,
                "target_feature": target,
            },
        },
    )
    point_latest(root, "BTCUSDT", "basic", "2026-01-01_1h_v1")
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(root)))
    return registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h").runner


def fixture_runner() -> OnnxRunner:
    registry = PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(FIXTURE_REGISTRY), prediction_cache_enabled=False)
    )
    return registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h").runner


def long_series(bars: int, seed: int = 3) -> pd.DataFrame:
    """Hourly OHLCV bars: a random walk with flat stretches longer than a window (every price
    and the volume unchanged) and NaN volumes now and then."""
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.003, bars)))
    volume = rng.uniform(10.0, 900.0, bars)
    for start in (150, 600):
        close[start : start + 140] = close[start % bars]
        volume[start : start + 140] = 42.0
    volume[[row for row in (40, 333, 334, 801, bars - 30) if row < bars]] = np.nan
    opens = np.concatenate(([close[0]], close[:-1]))
    flat = np.r_[False, close[1:] == close[:-1]]
    opens[flat] = close[flat]
    wick = np.abs(rng.normal(0.0, 0.001, bars)) * close * ~flat
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, close) + wick,
            "low": np.minimum(opens, close) - wick,
            "close": close,
            "volume": volume,
        },
        index=pd.date_range("2024-01-01", periods=bars, freq="h", tz="UTC"),
    )


def outcome(call: Callable[..., Any], *args: object) -> tuple[object, ...]:
    """What ``call(*args)`` gave: its prediction's fields, ``None``, or its error's type and
    message."""
    try:
        result = call(*args)
    except Exception as error:  # compared, not hidden
        return ("raised", type(error), str(error))
    if result is None:
        return ("none",)
    return (
        "predicted",
        result.price,
        result.confidence,
        result.direction,
        result.model_name,
        result.probabilities,
    )


def bar_forms(frame: pd.DataFrame, row: int) -> Any:
    """Bar ``row`` of ``frame`` in one of the forms a push takes, in turn, each with its time."""
    values = [float(frame[name].iloc[row]) for name in OHLCV]
    time = frame.index[row]
    epoch_ms = int(time.value // 1_000_000)
    forms = [
        {"time": time, **dict(zip(OHLCV, values, strict=True))},
        (epoch_ms, *values),  # a kline's open time, in milliseconds
        [time.to_pydatetime(), *values],
        {"Timestamp": time.isoformat(),
         **dict(zip(("Open", "High", "Low", "Close", "Volume"), values, strict=True))},
        np.array([time.value / 1e9, *values]),  # float seconds
        frame.iloc[row],  # a pandas Series: a mapping named by its time
        {"open_time": time.to_datetime64(), **dict(zip(OHLCV, values, strict=True))},
    ]  # fmt: skip
    return forms[row % len(forms)]


def assert_stream_is_predict_bars(
    runner: OnnxRunner, frame: pd.DataFrame, history: int = 0
) -> dict[str, int]:
    """Every push from bar ``history`` on gives what ``predict_bars`` gives on the bars up to it;
    returns how many bars predicted, raised and gave ``None``."""
    stream = runner.stream(frame.iloc[:history] if history else None)
    assert stream.bars == history
    seen = {"predicted": 0, "raised": 0, "none": 0}
    sequence_length = runner.bundle.window[0]
    for row in range(history, len(frame)):
        got = outcome(stream.push, bar_forms(frame, row))
        if row + 1 < sequence_length:
            expected: tuple[object, ...] = ("none",)
        else:
            expected = outcome(runner.predict_bars, frame.iloc[: row + 1])
        assert got == expected, f"bar {row}"
        seen[str(got[0])] += 1
    return seen


@pytest.mark.parametrize("target", ["close", "high", "volume"])
def test_every_push_of_a_long_series_is_predict_bars(tmp_path: Path, target: str) -> None:
    runner = raw_bar_runner(tmp_path / "registry", target=target)
    seen = assert_stream_is_predict_bars(runner, long_series(1_300))
    # Flat stretches predict their constant price; NaN volumes in a window that is not flat
    # raise, as predict_bars does.
    assert seen["predicted"] > 800 and seen["raised"] > 300 and seen["none"] == 119


def test_every_push_is_the_fixture_lstms_predict_bars() -> None:
    runner = fixture_runner()
    frame = long_series(1_060, seed=11)
    seen = assert_stream_is_predict_bars(runner, frame, history=40)
    assert seen["predicted"] > 600 and seen["raised"] > 300
    # A stream that starts after a long history says the same as one fed every bar.
    assert_stream_is_predict_bars(runner, frame.iloc[:700], history=600)


def test_a_stream_reads_only_the_history_it_needs(tmp_path: Path) -> None:
    runner = raw_bar_runner(tmp_path / "registry", seq=4, window=3)
    frame = long_series(50)
    garbage = frame.iloc[:30].assign(close=np.nan, volume=-1.0)
    stream = runner.stream(pd.concat([garbage, frame.iloc[30:44]]))
    assert stream.bars == 44  # of which the last 6 (sequence_length + window - 1) are read
    for row in range(44, 50):
        assert outcome(stream.push, frame.iloc[row]) == outcome(
            runner.predict_bars, frame.iloc[: row + 1]
        )


def test_nothing_until_the_window_is_full(tmp_path: Path) -> None:
    runner = raw_bar_runner(tmp_path / "registry", seq=3, window=2)
    stream = runner.stream()
    assert stream.push((1.0, 2.0, 0.5, 1.5, 10.0)) is None
    assert stream.push({"open": 1.5, "high": 2.5, "low": 1.0, "close": 2.0, "volume": 11.0}) is None
    prediction = stream.push([3, 4, 2, 3, 12])  # integers are numbers too
    assert prediction is not None and np.isfinite(prediction.price)
    assert stream.bars == 3
    assert "BarStream(" in repr(stream) and "bars=3" in repr(stream)


def test_a_bar_that_cannot_be_read_changes_nothing(tmp_path: Path) -> None:
    runner = raw_bar_runner(tmp_path / "registry", seq=4, window=3)
    frame = long_series(30)
    stream = runner.stream(frame.iloc[:10])
    bad: list[tuple[object, str]] = [
        (
            {"open": 1.0, "high": 2.0},
            r"^the bar lack the bar column\(s\) \"low\", \"close\", \"volume\"",
        ),
        (
            (1.0, 2.0, 3.0),
            r"sequence of those 5 values in that order .*; got a sequence of 3 values$",
        ),
        ("open", "got a str"),
        (42, "got a int"),
        ({**dict.fromkeys(OHLCV, 1.0), "close": "x"}, r"^bar value 'close' must be a number, got"),
        ((1.0, 2.0, True, 1.0, 1.0), r"^bar value 'low' must be a number, got bool"),
        ({**dict.fromkeys(OHLCV, 1.0), "Close": 2.0, "close": None}, "got NoneType"),
        (
            {"Close": 2.0, "CLOSE": 3.0, **dict.fromkeys(("open", "high", "low", "volume"), 1)},
            r"have 2 columns that could be \"close\"",
        ),
    ]
    for bar, message in bad:
        with pytest.raises(InvalidInputError, match=message):
            stream.push(bar)
    assert stream.bars == 10
    for row in range(10, 30):
        assert outcome(stream.push, bar_forms(frame, row)) == outcome(
            runner.predict_bars, frame.iloc[: row + 1]
        )


def test_a_stream_refuses_what_predict_bars_refuses(tmp_path: Path) -> None:
    frame = long_series(200)
    registry = PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(FIXTURE_REGISTRY), prediction_cache_enabled=False)
    )
    features_only = registry.get_bundle_by_key("BTCUSDT:1d:basic:2025-10-27_14h_v1")
    assert features_only is not None
    runner = features_only.runner
    expected = outcome(runner.predict_bars, frame)
    assert expected[:2] == ("raised", InvalidInputError)
    assert "cannot predict from raw bars: the bundle cannot take raw bars" in str(expected[2])
    assert outcome(runner.stream) == expected
    assert outcome(runner.stream, frame) == expected
    # History that cannot be read: predict_bars' error.
    raw = raw_bar_runner(tmp_path / "registry")
    for history in (frame.drop(columns="volume"), frame.to_numpy(), {"close": [1.0]}):
        assert outcome(raw.stream, history) == outcome(raw.predict_bars, history)


def test_a_bundle_with_problems_streams_nothing(tmp_path: Path) -> None:
    # The model takes 7 steps; the metadata declares 120.
    runner = raw_bar_runner(tmp_path / "registry", model=mean_model(7))
    assert runner.problems
    for call in (runner.stream, lambda: runner.predict_bars(long_series(300))):
        with pytest.raises(ModelLoadError, match="cannot predict"):
            call()


def test_pushes_from_two_threads_wait_for_each_other(tmp_path: Path) -> None:
    runner = raw_bar_runner(tmp_path / "registry", seq=8, window=5)
    frame = long_series(400).reset_index(drop=True)  # bars without times
    stream = runner.stream(frame.iloc[:20])
    # The same bar over and over: whichever thread pushes, each window is the same.
    bar = tuple(float(v) for v in frame.iloc[30][list(OHLCV)])
    errors: list[BaseException] = []
    prices: list[float] = []

    def push_many() -> None:
        try:
            for _ in range(300):
                prediction = stream.push(bar)
                assert prediction is not None
                prices.append(prediction.price)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=push_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert stream.bars == 20 + 4 * 300
    flat = pd.DataFrame([bar] * 20, columns=list(OHLCV))
    assert set(prices[-100:]) == {runner.predict_bars(pd.concat([frame.iloc[:20], flat])).price}


def test_times_must_increase_bar_after_bar(tmp_path: Path) -> None:
    runner = raw_bar_runner(tmp_path / "registry", seq=4, window=3)
    frame = long_series(40)
    stream = runner.stream(frame.iloc[:30])
    hour = pd.Timedelta(hours=1)
    last = frame.index[29]
    values = tuple(float(frame[name].iloc[30]) for name in OHLCV)
    refusals = [
        ((last, *values), r"^times must strictly increase: bar 30 \(.*\) repeats the time of "
         r"bar 29 \(.*\); sort the bars oldest first"),
        ((last - hour, *values), r"^times must strictly increase: bar 30 \(2024-01-02T04:00:00Z\) "
         r"is earlier than bar 29 \(2024-01-02T05:00:00Z\)"),
        ((int((last - hour).value // 10**6), *values), "is earlier than bar 29"),
        (values, r"^bar 30 has no time, but the bars before it had times"),
        ((5, *values), r"^the bar's time at bar 30: 5 is not a time in a known unit"),
        ((pd.NaT, *values), r"^the bar's time at bar 30 is NaT"),
        ((np.datetime64("NaT"), *values), r"^the bar's time at bar 30 is NaT"),
        (("yesterday", *values), r"^the bar's time at bar 30: 'yesterday' is not a time \(ISO"),
        ((True, *values), r"^the bar's time: a bool is not a time$"),
        ({"time": [1], **dict(zip(OHLCV, values, strict=True))}, r"\[1\] is not a time"),
    ]  # fmt: skip
    for bar, message in refusals:
        with pytest.raises(InvalidInputError, match=message):
            stream.push(bar)
    assert stream.bars == 30  # nothing refused was taken
    # Zones are converted: 06:00 in UTC+2 is 04:00Z, before the last bar (05:00Z).
    aware = (last.tz_convert("Europe/Helsinki") - hour).to_pydatetime()
    with pytest.raises(InvalidInputError, match="is earlier than bar 29"):
        stream.push((aware, *values))
    for row in range(30, 40):
        got = outcome(stream.push, bar_forms(frame, row))
        assert got == outcome(runner.predict_bars, frame.iloc[: row + 1])


def test_a_stream_without_times_takes_them_from_when_they_start(tmp_path: Path) -> None:
    runner = raw_bar_runner(tmp_path / "registry", seq=2, window=2)
    stream = runner.stream({name: np.arange(1.0, 4.0) for name in OHLCV})  # no times
    assert stream.push((1.0, 2.0, 0.5, 1.5, 3.0)) is not None
    assert stream.push(("2024-01-01T00:00:00Z", 1.0, 2.0, 0.5, 1.5, 3.0)) is not None
    with pytest.raises(InvalidInputError, match=r"bar 5 \(2023-12-31T23:00:00Z\) is earlier"):
        stream.push(("2023-12-31T23:00:00Z", 1.0, 2.0, 0.5, 1.5, 3.0))
    with pytest.raises(InvalidInputError, match="bar 5 has no time"):
        stream.push((1.0, 2.0, 0.5, 1.5, 3.0))


def test_history_times_must_increase_too(tmp_path: Path) -> None:
    runner = raw_bar_runner(tmp_path / "registry", seq=4, window=3)
    frame = long_series(40)
    backwards = frame.iloc[::-1]
    expected = outcome(runner.predict_bars, backwards)
    assert expected[:2] == ("raised", InvalidInputError)
    assert str(expected[2]).startswith(
        "the DataFrame's index: times must strictly increase: bar 35 (2024-01-01T04:00:00Z) is "
        "earlier than bar 34 (2024-01-01T05:00:00Z)"
    )
    assert outcome(runner.stream, backwards) == expected
