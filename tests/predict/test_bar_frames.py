"""Reading raw bars from every kind of DataFrame pandas gives: the core reads a frame's column
blocks directly (``_core.bar_window``), and must give what pandas' own conversion gives, or the
same clear error, whatever the dtypes, block layout, strides or column order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from atb_prediction import InvalidInputError, PredictionConfig, PredictionModelRegistry
from atb_prediction._core import bar_window
from atb_prediction.models.bars import _general_window as general_window
from conftest import FIXTURE_REGISTRY

OHLCV = ["open", "high", "low", "close", "volume"]


def base(rows: int = 300, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0.0, 1.0, rows))
    return pd.DataFrame(
        {
            "open": close + rng.normal(0.0, 0.1, rows),
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": rng.uniform(1.0, 100.0, rows),
        }
    )


def unconsolidated() -> pd.DataFrame:
    frame = pd.DataFrame(index=range(300))
    for name, values in base().items():
        frame[name] = values.to_numpy()  # one block per column
    return frame


def fortran() -> pd.DataFrame:
    values = np.asfortranarray(base().to_numpy())
    return pd.DataFrame(values, columns=OHLCV, copy=False)


#: Frames of numbers, each with the names its bar columns have in it.
NUMERIC: dict[str, Callable[[], tuple[pd.DataFrame, list[str]]]] = {
    "consolidated float64": lambda: (base(), OHLCV),
    "float32": lambda: (base().astype(np.float32), OHLCV),
    "int volume": lambda: (
        base().assign(volume=lambda f: f["volume"].round().astype(np.int64)),
        OHLCV,
    ),
    "uint8 and int16": lambda: (
        base()
        .assign(volume=7, low=lambda f: f["low"].astype(np.int16))
        .astype({"volume": np.uint8}),
        OHLCV,
    ),
    "one block per column": lambda: (unconsolidated(), OHLCV),
    "fortran block": lambda: (fortran(), OHLCV),
    "shuffled with text": lambda: (
        base()[["volume", "close", "low", "open", "high"]].assign(symbol="BTC"),
        OHLCV,
    ),
    "capitalised": lambda: (
        base().rename(columns=str.capitalize),
        ["Open", "High", "Low", "Close", "Volume"],
    ),
    "upper case beside other labels": lambda: (
        base().rename(columns=str.upper).assign(**{"7": 1.0}),
        ["OPEN", "HIGH", "LOW", "CLOSE", "VOLUME"],
    ),
    "every other row": lambda: (base().iloc[::2], OHLCV),
    "reversed rows": lambda: (base().iloc[::-1], OHLCV),
    "a slice of a longer frame": lambda: (base(2_000).iloc[700:1_000], OHLCV),
    "transposed twice": lambda: (base().T.T, OHLCV),
    "integer labels beside": lambda: (
        pd.concat([base(), pd.DataFrame(np.ones((300, 2)))], axis=1),
        OHLCV,
    ),
    "datetime index": lambda: (
        base().set_index(pd.date_range("2024", periods=300, freq="h")),
        OHLCV,
    ),
    "no rows": lambda: (base().iloc[:0], OHLCV),
}


@pytest.mark.parametrize("kind", list(NUMERIC))
@pytest.mark.parametrize("rows", [1, 239, 300, 10_000, None])
def test_a_frame_of_numbers_reads_as_pandas_converts_it(kind: str, rows: int | None) -> None:
    frame, names = NUMERIC[kind]()
    expected = frame[names].to_numpy(dtype=np.float64)
    if rows is not None:
        expected = expected[len(expected) - min(rows, len(expected)) :]
    got = bar_window(frame, rows)
    assert got.dtype == np.float64 and got.flags.c_contiguous
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, _general_window(frame, 10**9 if rows is None else rows))


def _general_window(frame: pd.DataFrame, rows: int) -> Any:
    """The general reader's window (it also says how many bars the frame has)."""
    window, bars = general_window(frame, rows)
    assert bars == len(frame)
    return window


def outcome(call: Callable[[], Any]) -> tuple[object, ...]:
    try:
        return ("read", call().tobytes())
    except Exception as error:  # compared, not hidden
        return ("raised", type(error), str(error))


#: Frames the block path leaves to pandas: extension dtypes, objects, and frames it must refuse.
OTHERS: dict[str, Callable[[], pd.DataFrame]] = {
    "nullable Float64": lambda: base().astype({"close": "Float64"}),
    "nullable Float64 with NA": lambda: (
        base().astype({"close": "Float64"}).assign(close=lambda f: f["close"].mask(f.index == 5))
    ),
    "arrow float": lambda: base().astype({"volume": "float64[pyarrow]"}),
    "object numbers": lambda: base().astype({"high": object}),
    "text close": lambda: base().assign(close="x"),
    "bool volume": lambda: base().assign(volume=True),
    "datetime open": lambda: base().assign(open=pd.Timestamp("2024-01-01")),
    "categorical": lambda: base().assign(low=pd.Categorical(["a"] * 300)),
    "float16": lambda: base().astype({"open": np.float16}),
    "missing volume": lambda: base().drop(columns="volume"),
    "two closes": lambda: pd.concat([base(), base()[["close"]]], axis=1),
    "close in two cases": lambda: base().assign(Close=1.0).drop(columns="close").assign(CLOSE=2.0),
    "multi-index columns": lambda: pd.concat({"btc": base()}, axis=1),
    "sparse": lambda: base().astype({"volume": pd.SparseDtype(float)}),
}


@pytest.mark.parametrize("kind", list(OTHERS))
def test_other_frames_read_as_the_general_reader_reads_them(kind: str) -> None:
    frame = OTHERS[kind]()
    got = outcome(lambda: bar_window(frame, 120))
    assert got == outcome(lambda: _general_window(frame, 120))
    if got[0] == "raised":
        assert got[1] is InvalidInputError, got


def test_clear_errors_name_the_column() -> None:
    cases = {
        "text close": r"^bars column 'close' must hold numbers, got dtype object$",
        "bool volume": r"^bars column 'volume' must hold numbers, got dtype bool$",
        "missing volume": r"^bars lack the bar column\(s\) \"volume\" \(raw bars need open, high",
        "two closes": r"^bars have 2 columns that could be \"close\" \(\"close\", \"close\"\)",
        "close in two cases": r"^bars have 2 columns that could be \"close\" \(\"Close\", \"CLOS",
    }
    for kind, message in cases.items():
        with pytest.raises(InvalidInputError, match=message):
            bar_window(OTHERS[kind](), 120)


def test_frames_in_different_column_orders_are_read_by_name_every_time(tmp_path: Path) -> None:
    """Issue 28, behaviour 12: frames whose OHLCV columns come in different orders, one after
    the other, are each read by name (no stale column layout)."""
    registry = PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(FIXTURE_REGISTRY), prediction_cache_enabled=False)
    )
    runner = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h").runner
    frame = base(400)
    reference = runner.predict_bars(frame).price
    # The same labels on other data: close and volume swapped.
    swapped = frame.rename(columns={"close": "volume", "volume": "close"})
    swapped_price = runner.predict_bars(swapped[OHLCV]).price
    assert swapped_price != reference
    orders = [
        frame,
        frame[["volume", "close", "low", "high", "open"]],
        swapped,
        frame.rename(columns=str.upper),
        frame.iloc[-300:],
        swapped.iloc[-300:],
        frame[["close", "open", "high", "low", "volume"]].iloc[100:],
        swapped[OHLCV],
    ]
    for _ in range(3):
        for candidate in orders:
            expected = (
                swapped_price
                if "close" in candidate
                and candidate["close"].equals(frame["volume"].loc[candidate.index])
                else reference
            )
            assert runner.predict_bars(candidate).price == expected
            np.testing.assert_array_equal(
                bar_window(candidate, 239), _general_window(candidate, 239)
            )
