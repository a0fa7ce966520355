"""The rolling window of a raw-bar bundle, one rule for live prediction, streams and sweeps:
a ``rolling_minmax`` price is mapped back with its own target column's window (issue 28,
behaviour 14), and a window longer than any history reads every bar, as a sweep does (D23),
while a window that is no window is refused before any bar is read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from atb_prediction import (
    InvalidInputError,
    ModelNotAvailableError,
    OnnxRunner,
    PredictionConfig,
    PredictionModelRegistry,
    sweep,
)
from conftest import affine_model, point_latest, write_bundle

OHLCV = ("open", "high", "low", "close", "volume")


def registry_with(
    root: Path,
    *,
    window: object = 3,
    target: str = "close",
    seq: int = 4,
    bias: float = 0.25,
    weight: float = 0.0,
) -> PredictionModelRegistry:
    """One raw-bar bundle (close and volume features) whose model answers ``weight * sum +
    bias``."""
    write_bundle(
        root,
        "BTCUSDT",
        "basic",
        "2026-01-01_1h_v1",
        model=affine_model(seq, 2, weight=weight, bias=(bias,)),
        metadata={
            "timeframe": "1h",
            "sequence_length": seq,
            "feature_strategy": "price_only",
            "feature_names": ["close_normalized", "volume_normalized"],
            "price_normalization": {
                "method": "rolling_minmax",
                "window": window,
                "target_feature": target,
            },
        },
    )
    point_latest(root, "BTCUSDT", "basic", "2026-01-01_1h_v1")
    return PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(root), prediction_cache_enabled=False)
    )


def bars(rows: int = 40, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0.0, 1.0, rows))
    return pd.DataFrame(
        {
            "open": close + rng.normal(0.0, 0.5, rows),
            "high": close + rng.uniform(1.0, 5.0, rows),
            "low": close - rng.uniform(1.0, 5.0, rows),
            "close": close,
            "volume": rng.uniform(10.0, 20.0, rows),
        },
        index=pd.date_range("2024-01-01", periods=rows, freq="h", tz="UTC"),
    )


@pytest.mark.parametrize("target", ["high", "low", "open", "volume", "close"])
def test_the_price_is_mapped_back_with_the_target_columns_window(
    tmp_path: Path, target: str
) -> None:
    registry = registry_with(tmp_path / "registry", target=target)
    runner = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h").runner
    frame = bars()
    swept = sweep(registry, frame, symbol="BTCUSDT", model_type="basic", progress=False)
    stream = runner.stream(frame.iloc[:3])
    for t in range(3, len(frame)):
        last = frame[target].iloc[t - 2 : t + 1]  # the last `window` (3) values of the target
        expected = 0.25 * (last.max() - last.min()) + last.min()
        live = runner.predict_bars(frame.iloc[: t + 1])
        assert live.price == pytest.approx(expected, rel=1e-12), t
        pushed = stream.push({"time": frame.index[t], **{n: frame[n].iloc[t] for n in OHLCV}})
        assert pushed is not None and pushed.price == live.price, t
        assert swept.price[0, t] == pytest.approx(live.price, rel=1e-12), t
    if target != "close":
        closes = frame["close"].iloc[-3:]
        assert live.price != pytest.approx(0.25 * (closes.max() - closes.min()) + closes.min())


def test_a_window_longer_than_any_history_reads_every_bar(tmp_path: Path) -> None:
    # D23: price_normalization.window = 2**64 - 1 predicts, as the sweep does.
    frame = bars(60)
    endless = registry_with(tmp_path / "endless", window=2**64 - 1, weight=0.01, bias=0.1)
    runner = endless.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h").runner
    assert runner.bundle.bars_needed == 2**64 - 1
    # Over 60 bars, a window of 2**64 - 1 bars is a window of 60: every window from bar 0.
    whole = registry_with(tmp_path / "whole", window=60, weight=0.01, bias=0.1)
    reference = whole.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h").runner
    swept = sweep(endless, frame, symbol="BTCUSDT", model_type="basic", progress=False)
    stream = runner.stream()
    for t in range(len(frame)):
        pushed = stream.push(frame.iloc[t])
        if t < 3:
            assert pushed is None
            with pytest.raises(InvalidInputError, match="needs at least 4 bars"):
                runner.predict_bars(frame.iloc[: t + 1])
            continue
        live = runner.predict_bars(frame.iloc[: t + 1])
        assert live.price == reference.predict_bars(frame.iloc[: t + 1]).price, t
        assert pushed is not None and pushed.price == live.price, t
        assert swept.price[0, t] == pytest.approx(live.price, rel=1e-12), t
    first = frame["close"].iloc[:4]
    assert runner.predict_bars(frame.iloc[:4]).price != pytest.approx(
        runner.predict_bars(frame.iloc[1:5]).price
    ), "the window reaches back to the first bar given"
    assert first.max() > first.min()


@pytest.mark.parametrize("window", [0, -1, 1.5, "120", True, [3]])
def test_a_window_that_is_no_window_is_refused_before_any_bar_is_read(
    tmp_path: Path, window: object
) -> None:
    registry_root = tmp_path / "registry"
    # The registry's schema refuses the bundle, for live use and sweeps alike.
    registry = registry_with(registry_root, window=window)
    with pytest.raises(ModelNotAvailableError, match="window"):
        registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h")
    with pytest.raises(ModelNotAvailableError, match="window"):
        sweep(registry, bars(), symbol="BTCUSDT", model_type="basic", progress=False)
    # Its model file opened on its own: refused before the bars are even looked at.
    runner = OnnxRunner(registry_root / "BTCUSDT" / "basic" / "2026-01-01_1h_v1" / "model.onnx")
    message = (
        r"cannot predict from raw bars: the bundle cannot take raw bars: metadata.json's "
        r"price_normalization.window must be a positive integer, got "
    )
    for call in (lambda: runner.predict_bars(object()), lambda: runner.stream(object())):
        with pytest.raises(InvalidInputError, match=message):
            call()
