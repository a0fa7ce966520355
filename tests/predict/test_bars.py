"""Raw OHLCV bars in, prices out: ``predict_bars`` and sweeps over raw bars against upstream's
live path, computed by upstream's own code (``tests/data/atb-live-golden.json``, written by
``scripts/make_live_golden.py``)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from atb_prediction import PredictionConfig, PredictionModelRegistry, sweep
from atb_prediction._core import seal_bundle
from atb_prediction.models.exceptions import InferenceError, InvalidInputError
from atb_prediction.models.version_resolver import resolve_version_as_of
from conftest import (
    FIXTURE_REGISTRY,
    OHLCV,
    affine_model,
    golden_bundle,
    golden_frame,
    linear_model,
    point_latest,
    write_bundle,
)

#: The fixture's BTCUSDT/basic versions, and which of them compute features from raw bars.
BTC_VERSIONS = (
    "2025-09-16_legacy",
    "2025-09-17_1h_v1",
    "2025-10-26_21h_v1",
    "2025-10-27_14h_v1",
    "2025-10-30_12h_v1",
)
RAW_BAR_VERSIONS = ("2025-10-26_21h_v1", "2025-10-30_12h_v1")


def expected(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@pytest.fixture(scope="module")
def registry() -> PredictionModelRegistry:
    return PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(FIXTURE_REGISTRY), prediction_cache_enabled=False)
    )


# --- live: predict_bars ---------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_predict_bars_is_upstreams_live_path(
    registry: PredictionModelRegistry, symbol: str
) -> None:
    golden = golden_bundle(symbol)
    frame = golden_frame(symbol)
    bundle = registry.select_bundle(symbol=symbol, model_type="basic", timeframe="1h")
    assert bundle.version_id == golden["version"]
    checked = 0
    for t in range(len(frame)):
        bars = frame.iloc[: t + 1]
        if golden["price"][t] is None:
            message = "needs at least 120 bars" if t < 119 else "NaN or infinite values"
            with pytest.raises(InvalidInputError, match=message):
                bundle.runner.predict_bars(bars)
            continue
        prediction = bundle.runner.predict_bars(bars)
        assert prediction.price == pytest.approx(golden["price"][t], rel=1e-5), t
        assert prediction.confidence == pytest.approx(golden["confidence"][t], rel=1e-5), t
        assert prediction.direction == golden["direction"][t], t
        assert prediction.model_name == bundle.key
        checked += 1
    assert checked == 400 - 119 - 5  # the windows before the first full one, and the NaN volume


def test_flat_bars_give_the_constant_price(registry: PredictionModelRegistry) -> None:
    """A window of identical bars: every feature 0.5 and the price the constant close."""
    frame = golden_frame("BTCUSDT")
    bundle = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h")
    flat = frame.iloc[:370]  # bars 239..369 are identical
    assert flat["close"].iloc[-120:].nunique() == 1
    assert bundle.runner.predict_bars(flat).price == flat["close"].iloc[-1]


def test_predict_bars_reads_only_the_bars_it_needs(registry: PredictionModelRegistry) -> None:
    frame = golden_frame("ETHUSDT").iloc[:240]  # a random walk
    bundle = registry.select_bundle(symbol="ETHUSDT", model_type="basic", timeframe="1h")
    assert bundle.runner.bundle.bars_needed == 120 + 120 - 1
    # Garbage before the last 239 bars is never read.
    history = pd.concat([pd.DataFrame(np.nan, index=range(10_000), columns=OHLCV), frame])
    long, short = bundle.runner.predict_bars(history), bundle.runner.predict_bars(frame.iloc[-239:])
    assert (long.price, long.confidence, long.direction) == (
        short.price,
        short.confidence,
        short.direction,
    )


def test_the_oldest_bar_read_matters_and_the_one_before_does_not(tmp_path: Path) -> None:
    # Features sum into the output (seq 4, window 3): each of the last 6 bars counts.
    root = _raw_bar_registry(tmp_path / "registry", bias=0.0, weight=1.0)
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(root)))
    runner = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h").runner
    assert runner.bundle.bars_needed == 6
    bars = _bars([5.0, 4.0, 6.0, 3.0, 7.0, 2.0, 8.0, 1.0])
    bars["volume"] = np.array([5.0, 4.0, 6.0, 3.0, 7.0, 2.0, 8.0, 1.0])
    base = runner.predict_bars(bars).price
    outside = {name: values.copy() for name, values in bars.items()}
    outside["volume"][1] = 100.0  # the 7th bar from the end
    inside = {name: values.copy() for name, values in bars.items()}
    inside["volume"][2] = 100.0  # the 6th
    assert runner.predict_bars(outside).price == base
    assert runner.predict_bars(inside).price != base


def test_bars_come_as_a_frame_a_mapping_or_a_structured_array(
    registry: PredictionModelRegistry,
) -> None:
    frame = golden_frame("BTCUSDT").iloc[:260]
    runner = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h").runner
    reference = runner.predict_bars(frame)
    mapping = {name: frame[name].to_numpy() for name in reversed(OHLCV)}
    mapping["extra"] = np.zeros(len(frame))
    structured = np.zeros(len(frame), dtype=[(name, "f8") for name in ("time", *OHLCV)])
    structured["time"] = 1.7e9 + 3_600.0 * np.arange(len(frame))  # epoch seconds: times
    for name in OHLCV:
        structured[name] = frame[name]
    lists = {name: frame[name].tolist() for name in OHLCV}
    float32 = frame.astype(np.float32).astype(np.float64)  # values a float32 feed would carry
    for bars in (mapping, structured, lists):
        assert runner.predict_bars(bars).price == reference.price
    assert (
        runner.predict_bars(float32.astype(np.float32)).price == runner.predict_bars(float32).price
    )
    volumes = frame.assign(volume=frame["volume"].round().astype(np.int64))
    assert np.isfinite(runner.predict_bars(volumes).price)
    # Other column orders, text columns beside, and a history far longer than the bars read.
    shuffled = frame[["volume", "close", "open", "low", "high"]].assign(symbol="BTCUSDT")
    assert runner.predict_bars(shuffled).price == reference.price
    longer = pd.concat([golden_frame("ETHUSDT").iloc[:150]] * 20 + [frame])
    assert runner.predict_bars(longer).price == reference.price
    assert runner.predict_bars(longer.assign(symbol="x")).price == reference.price


def test_bars_that_cannot_be_read_are_refused_by_name(registry: PredictionModelRegistry) -> None:
    frame = golden_frame("BTCUSDT").iloc[:200]
    runner = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h").runner
    with pytest.raises(InvalidInputError, match=r"^bars lack the bar column\(s\) \"volume\" \(raw"):
        runner.predict_bars(frame.drop(columns="volume"))
    with pytest.raises(
        InvalidInputError, match=r"^predict_bars needs at least 120 bars \(the model's "
    ):
        runner.predict_bars(frame.iloc[:50])
    with pytest.raises(InvalidInputError, match="column 'close' must hold numbers"):
        runner.predict_bars(frame.assign(close="x"))
    with pytest.raises(InvalidInputError, match=r"columns differ in length \(open: 3, high: 2"):
        runner.predict_bars(
            {"open": [1, 2, 3], "high": [1, 2], "low": [1], "close": [], "volume": []}
        )
    with pytest.raises(InvalidInputError, match="must be a pandas DataFrame, a mapping"):
        runner.predict_bars(frame.to_numpy())


def test_a_bundle_without_raw_bar_features_says_which_it_needs(
    registry: PredictionModelRegistry,
) -> None:
    bundle = registry.get_bundle_by_key("BTCUSDT:1d:basic:2025-10-27_14h_v1")
    assert bundle is not None
    assert bundle.runner.bundle.bars_needed is None
    with pytest.raises(InvalidInputError) as raised:
        bundle.runner.predict_bars(golden_frame("BTCUSDT"))
    message = str(raised.value)
    assert (
        "cannot predict from raw bars: the bundle cannot take raw bars: its feature_strategy "
        "is not given" in message
    )
    assert (
        '"close_normalized", "volume_normalized", "high_normalized", "low_normalized", '
        '"open_normalized"' in message
    )


def _raw_bar_registry(
    root: Path, *, bias: float, weight: float = 0.0, features: tuple[str, ...] = ("volume",)
) -> Path:
    """One raw-bar bundle (seq 4, window 3) whose model answers ``weight * sum(features) +
    bias``: with the default weight 0, ``bias`` for every window."""
    write_bundle(
        root,
        "BTCUSDT",
        "basic",
        "2026-01-01_1h_v1",
        model=affine_model(4, len(features), weight=weight, bias=(bias,)),
        metadata={
            "timeframe": "1h",
            "sequence_length": 4,
            "feature_strategy": "price_only",
            "feature_names": [f"{name}_normalized" for name in features],
            "price_normalization": {"method": "rolling_minmax", "window": 3},
        },
    )
    point_latest(root, "BTCUSDT", "basic", "2026-01-01_1h_v1")
    return root


def _bars(close: list[float]) -> dict[str, np.ndarray]:
    values = np.array(close, dtype=float)
    return {
        "open": values,
        "high": values,
        "low": values,
        "close": values,
        "volume": np.ones(len(close)),
    }


def test_the_price_window_is_the_last_window_closes(tmp_path: Path) -> None:
    root = _raw_bar_registry(tmp_path / "registry", bias=0.25)
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(root)))
    runner = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h").runner
    # The last 3 closes are 10, 30, 20: 0.25 * (30 - 10) + 10.
    prediction = runner.predict_bars(_bars([500.0, 1.0, 10.0, 30.0, 20.0]))
    assert prediction.price == 15.0
    assert (prediction.confidence, prediction.direction) == (1.0, 1)  # from the output, 0.25
    assert runner.predict_bars(_bars([9.0, 1.0, 7.0, 7.0, 7.0])).price == 7.0  # flat window
    with pytest.raises(InvalidInputError, match=r"price window holds no number \(the last 3 "):
        runner.predict_bars(_bars([1.0, 2.0, np.nan, np.nan, np.nan]))
    with pytest.raises(InvalidInputError, match="price window is not finite"):
        runner.predict_bars(_bars([1.0, 2.0, 3.0, np.inf, 4.0]))


def test_a_nan_output_raises_live_and_is_nan_in_a_sweep(tmp_path: Path) -> None:
    root = _raw_bar_registry(tmp_path / "registry", bias=float("nan"))
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(root)))
    runner = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h").runner
    bars = _bars([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    with pytest.raises(InferenceError, match="model output is NaN, which cannot be mapped back"):
        runner.predict_bars(bars)
    with pytest.warns(
        RuntimeWarning,
        match=r"BTCUSDT:1h:basic:2026-01-01_1h_v1: 3 bars have a "
        r"NaN or infinite model output or price window \(the first is bar 3\)",
    ):
        result = sweep(registry, bars, symbol="BTCUSDT", model_type="basic", progress=False)
    assert np.isnan(result.price).all() and np.isnan(result.confidence).all()
    assert not result.direction.any()


def test_predict_bars_is_cached_by_the_bars_it_reads(tmp_path: Path) -> None:
    root = _raw_bar_registry(tmp_path / "registry", bias=0.5)
    registry = PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(root), prediction_cache_enabled=True)
    )
    runner = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h").runner
    cache = registry.cache_manager
    assert cache is not None
    runner.predict_bars(_bars([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    # Same last 6 bars (seq 4 + window 3 - 1) behind a different history: a hit.
    runner.predict_bars(_bars([99.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    # A different close in the bars read: a miss.
    runner.predict_bars(_bars([1.0, 2.0, 3.0, 4.0, 5.0, 7.0]))
    stats = cache.get_stats()
    assert (stats["hits"], stats["misses"], stats["size"]) == (1, 2, 2)


def test_a_python_cache_manager_sees_the_bars_read(tmp_path: Path) -> None:
    root = _raw_bar_registry(tmp_path / "registry", bias=0.5)

    class Recorder:
        def __init__(self) -> None:
            self.features: list[np.ndarray] = []

        def get(self, features: np.ndarray, model_name: str, config: object) -> None:
            self.features.append(np.array(features))

        def set(self, *args: object) -> None:
            pass

        def clear(self) -> int:
            return 0

        def invalidate_model(self, model_name: str) -> int:
            return 0

    recorder = Recorder()
    registry = PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(root), prediction_cache_enabled=True),
        cache_manager=recorder,
    )
    runner = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h").runner
    prediction = runner.predict_bars(_bars([9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    (seen,) = recorder.features
    assert seen.shape == (6, 5) and seen.dtype == np.float64
    assert seen[:, 3].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # close, in OHLCV order
    assert prediction.price == 0.5 * (6.0 - 4.0) + 4.0


# --- sweeps over raw bars ---------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_a_sweep_over_raw_bars_is_upstreams_live_path(
    registry: PredictionModelRegistry, symbol: str
) -> None:
    golden = golden_bundle(symbol)
    # The first window upstream could not predict after the first full one: the NaN volume.
    first_nan = next(t for t in range(119, 400) if golden["price"][t] is None)
    with pytest.warns(RuntimeWarning, match=rf"5 windows hold NaN .* ends at bar {first_nan}\)"):
        result = sweep(
            registry, golden_frame(symbol), symbol=symbol, model_type="basic", progress=False
        )
    assert result.versions == (golden["version"],)
    assert result.price_units == (True,)
    np.testing.assert_allclose(result.price[0], expected(golden["price"]), rtol=1e-5)
    np.testing.assert_allclose(result.confidence[0], expected(golden["confidence"]), rtol=1e-5)
    directions = expected(golden["direction"])
    defined = ~np.isnan(directions)
    assert np.array_equal(result.direction[0][defined], directions[defined])
    assert not result.direction[0][~defined].any()
    assert (
        result.close is not None and result.close.tolist() == golden_frame(symbol)["close"].tolist()
    )


def test_a_sweep_value_is_predict_bars_of_the_bars_up_to_it(
    registry: PredictionModelRegistry,
) -> None:
    frame = golden_frame("ETHUSDT").iloc[:280]
    result = sweep(
        registry, frame, symbol="ETHUSDT", model_type="basic", progress=False, batch_size=7
    )
    runner = registry.select_bundle(symbol="ETHUSDT", model_type="basic", timeframe="1h").runner
    for t in (119, 120, 200, 237, 238, 239, 279):
        live = runner.predict_bars(frame.iloc[: t + 1])
        assert result.price[0, t] == pytest.approx(live.price, rel=1e-6), t
        assert result.direction[0, t] == live.direction


def test_all_versions_over_raw_bars_leave_out_those_that_cannot_read_them(
    registry: PredictionModelRegistry,
) -> None:
    frame = golden_frame("BTCUSDT").iloc[:300]
    with pytest.warns(UserWarning) as caught:
        result = sweep(
            registry, frame, symbol="BTCUSDT", model_type="basic", versions="all", progress=False
        )
    left_out = [str(w.message) for w in caught if "is left out" in str(w.message)]
    assert len(left_out) == 3
    assert left_out[0] == (
        "sweep of BTCUSDT/basic: BTCUSDT:1d:basic:2025-09-16_legacy is left out: model input "
        "'keras_tensor' has shape (None, 120, 5) but metadata.json declares (None, 120, 9) "
        "(sequence_length=120, features=9)"
    )
    assert left_out[1] == (
        "sweep of BTCUSDT/basic: BTCUSDT:1h:basic:2025-09-17_1h_v1 is left out: the DataFrame "
        "has 5 columns; BTCUSDT:1h:basic:2025-09-17_1h_v1 takes 3 and names no feature_names "
        "to choose them by"
    )
    assert left_out[2].startswith(
        "sweep of BTCUSDT/basic: BTCUSDT:1d:basic:2025-10-27_14h_v1 is left out: "
        "BTCUSDT:1d:basic:2025-10-27_14h_v1 cannot read the DataFrame: the DataFrame lacks the "
        'feature column(s) "close_normalized"'
    )
    assert not any("bytes in memory" in str(w.message) for w in caught)
    assert result.versions == RAW_BAR_VERSIONS
    assert result.price_units == (False, True)
    # The 0.5-scaled model of 2025-10-26 (price_only_minmax, no price_normalization) stays so.
    older = registry.get_bundle_by_key("BTCUSDT:1h:basic:2025-10-26_21h_v1")
    assert older is not None
    assert result.price[0, 250] == pytest.approx(
        older.runner.predict_bars(frame.iloc[:251]).price, rel=1e-6
    )
    assert 0.0 < result.price[0, 250] < 2.0
    np.testing.assert_allclose(
        result.price[1], expected(golden_bundle("BTCUSDT")["price"][:300]), rtol=1e-5
    )


def test_a_listed_version_that_cannot_read_the_bars_fails_before_any_work(
    registry: PredictionModelRegistry,
) -> None:
    with pytest.raises(
        InvalidInputError,
        match=r"^BTCUSDT:1d:basic:2025-10-27_14h_v1 cannot read the DataFrame: the DataFrame "
        r"lacks the feature column\(s\) \"close_normalized\"",
    ):
        sweep(
            registry,
            golden_frame("BTCUSDT"),
            symbol="BTCUSDT",
            model_type="basic",
            versions=["2025-10-30_12h_v1", "2025-10-27_14h_v1"],
            progress=False,
        )


def test_as_live_over_raw_bars_leaves_unreadable_versions_nan(
    registry: PredictionModelRegistry,
) -> None:
    frame = golden_frame("BTCUSDT")
    # Hourly bars from 2025-10-25: live versions switch during the series.
    frame.index = pd.date_range("2025-10-25", periods=len(frame), freq="h", tz="UTC")
    with pytest.warns(Warning) as caught:
        result = sweep(
            registry,
            frame,
            symbol="BTCUSDT",
            model_type="basic",
            versions="as-live",
            progress=False,
        )
    nan_warnings = [str(w.message) for w in caught if "while it was live" in str(w.message)]
    assert nan_warnings == [
        "sweep of BTCUSDT/basic: BTCUSDT:1h:basic:2025-09-17_1h_v1 has no prediction while it "
        "was live (NaN): the DataFrame has 5 columns; BTCUSDT:1h:basic:2025-09-17_1h_v1 takes 3 "
        "and names no feature_names to choose them by",
        "sweep of BTCUSDT/basic: BTCUSDT:1d:basic:2025-10-27_14h_v1 has no prediction while it "
        "was live (NaN): BTCUSDT:1d:basic:2025-10-27_14h_v1 cannot read the DataFrame: the "
        'DataFrame lacks the feature column(s) "close_normalized", "volume_normalized", '
        '"high_normalized", "low_normalized", "open_normalized" that metadata.json\'s '
        'feature_names lists ("close_normalized", "volume_normalized", "high_normalized", '
        '"low_normalized", "open_normalized"); it has the columns "open", "high", "low", '
        '"close", "volume"',
    ]
    assert result.versions == RAW_BAR_VERSIONS
    live_ids = [
        resolve_version_as_of(FIXTURE_REGISTRY, "BTCUSDT", "basic", moment.to_pydatetime())
        for moment in frame.index
    ]
    live_ids = [getattr(live, "version_id", live) for live in live_ids]
    for t, live_id in enumerate(live_ids):
        row = RAW_BAR_VERSIONS.index(live_id) if live_id in RAW_BAR_VERSIONS else -1
        assert result.live_version is not None and result.live_version[t] == row, t
    assert set(live_ids) >= {
        "2025-09-17_1h_v1",
        "2025-10-26_21h_v1",
        "2025-10-27_14h_v1",
        "2025-10-30_12h_v1",
    }
    # Each bar of a readable version is what that version predicts live from the bars up to it.
    for t in (150, 200, 330, 390):
        row = int(result.live_version[t])
        if row < 0:
            assert np.isnan(result.price[:, t]).all()
            continue
        (key,) = [r.key for r in registry.index.versions if r.version_id == RAW_BAR_VERSIONS[row]]
        bundle = registry.get_bundle_by_key(key)
        assert bundle is not None
        live = bundle.runner.predict_bars(frame.iloc[: t + 1])
        assert result.price[row, t] == pytest.approx(live.price, rel=1e-6), t


def test_integer_and_mapping_series_sweep_like_floats(registry: PredictionModelRegistry) -> None:
    frame = golden_frame("ETHUSDT").iloc[:260]
    frame = frame.assign(volume=frame["volume"].round())
    floats = sweep(registry, frame, symbol="ETHUSDT", model_type="basic", progress=False)
    integers = sweep(
        registry,
        frame.assign(volume=frame["volume"].astype(np.int64)),
        symbol="ETHUSDT",
        model_type="basic",
        progress=False,
    )
    mapping = sweep(
        registry,
        {name: frame[name].to_numpy() for name in OHLCV},
        symbol="ETHUSDT",
        model_type="basic",
        progress=False,
    )
    for other in (integers, mapping):
        assert np.array_equal(other.price, floats.price, equal_nan=True)


def test_a_strictly_verified_model_changed_after_opening_is_not_swept(
    registry_copy: Path,
) -> None:
    version = registry_copy / "BTCUSDT" / "basic" / "2025-10-30_12h_v1"
    seal_bundle(version, registry_copy)
    strict = PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(registry_copy), verify_integrity="strict")
    )
    # Replaced on disk after the registry verified and opened it.
    shutil.copyfile(version.parent / "2025-10-26_21h_v1" / "model.onnx", version / "model.onnx")
    frame = golden_frame("BTCUSDT").iloc[:260]
    result = sweep(strict, frame, symbol="BTCUSDT", model_type="basic", progress=False)
    np.testing.assert_allclose(
        result.price[0], expected(golden_bundle("BTCUSDT")["price"][:260]), rtol=1e-5
    )
    assert (
        strict.select_bundle(
            symbol="BTCUSDT", model_type="basic", timeframe="1h"
        ).runner.bundle.model_bytes
        == (
            FIXTURE_REGISTRY / "BTCUSDT" / "basic" / "2025-10-30_12h_v1" / "model.onnx"
        ).read_bytes()
    )


def test_a_linear_model_sweeps_raw_bars_against_the_reference(tmp_path: Path) -> None:
    """Features from raw bars, checked against onnxruntime and pandas on a small bundle."""
    import onnxruntime

    features = ("close", "volume", "high")
    root = tmp_path / "registry"
    model = linear_model(6, 3, seed=3)
    write_bundle(
        root,
        "BTCUSDT",
        "basic",
        "2026-01-01_1h_v1",
        model=model,
        metadata={
            "timeframe": "1h",
            "sequence_length": 6,
            "feature_strategy": "price_only_minmax",
            "feature_names": [f"{name}_normalized" for name in features],
            "price_normalization": {"method": "rolling_minmax", "window": 4},
        },
    )
    point_latest(root, "BTCUSDT", "basic", "2026-01-01_1h_v1")
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(root)))
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({name: rng.uniform(1.0, 2.0, 30) for name in OHLCV})
    result = sweep(registry, frame, symbol="BTCUSDT", model_type="basic", progress=False)
    scaled = {}
    for name in features:
        low = frame[name].rolling(4, min_periods=1).min()
        high = frame[name].rolling(4, min_periods=1).max()
        scaled[name] = np.where(high != low, (frame[name] - low) / (high - low), 0.5)
    x = np.column_stack([scaled[name] for name in features]).astype(np.float32)
    windows = np.stack([x[t - 5 : t + 1] for t in range(5, 30)])
    session = onnxruntime.InferenceSession(model)
    outputs = session.run(None, {session.get_inputs()[0].name: windows})[0][:, 0]
    low = frame["close"].rolling(4).min().to_numpy()[5:]
    high = frame["close"].rolling(4).max().to_numpy()[5:]
    np.testing.assert_allclose(result.price[0, 5:], outputs * (high - low) + low, rtol=1e-6)
    assert np.isnan(result.price[0, :5]).all()


def test_cli_warnings_are_log_lines(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from atb_prediction.cli import main

    path = tmp_path / "bars.csv"
    frame = golden_frame("BTCUSDT").iloc[:200]
    frame.to_csv(path, index_label="timestamp")
    with caplog.at_level(logging.WARNING):
        code = main(
            [
                "backtest",
                "sweep",
                "BTCUSDT",
                "basic",
                "--series",
                str(path),
                "--versions",
                "all",
                "--registry",
                str(FIXTURE_REGISTRY),
                "--json",
            ]
        )
    assert code == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line]
    assert lines and all(line.startswith("atb backtest sweep: WARNING: ") for line in lines), err
    assert sum("is left out" in line for line in lines) == 3


def _write_klines(path: Path, frame: pd.DataFrame, *, header: bool, unit: str = "ms") -> None:
    """A Binance kline CSV (data.binance.vision's columns; no header row there)."""
    scale = {"ms": 1_000, "us": 1_000_000}[unit]
    opened = (frame.index - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1) * scale
    rows = [
        [int(t), o, h, lo, c, v, int(t) + 3_600 * scale - 1, c * v, 100, v / 2, c * v / 2, 0]
        for t, o, h, lo, c, v in zip(opened, *(frame[n] for n in OHLCV), strict=True)
    ]
    lines = [",".join(str(value) for value in row) for row in rows]
    if header:
        lines.insert(
            0,
            "open_time,open,high,low,close,volume,close_time,quote_asset_volume,"
            "number_of_trades,taker_buy_base,taker_buy_quote,ignore",
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize(("header", "unit"), [(False, "ms"), (True, "ms"), (True, "us")])
def test_cli_sweeps_binance_klines_every_version_and_as_live(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, header: bool, unit: str
) -> None:
    from atb_prediction.cli import main

    frame = golden_frame("BTCUSDT").iloc[:300]
    frame.index = pd.date_range("2025-10-25", periods=len(frame), freq="h", tz="UTC")
    path = tmp_path / "klines.csv"
    _write_klines(path, frame, header=header, unit=unit)
    common = ["--series", str(path), "--registry", str(FIXTURE_REGISTRY), "--json"]
    out = tmp_path / "all.npz"
    code = main(
        ["backtest", "sweep", "BTCUSDT", "basic", *common, "--versions", "all", "--out", str(out)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    document = json.loads(captured.out)
    assert [line["version"] for line in document["versions"]] == list(RAW_BAR_VERSIONS)
    saved = np.load(out)
    assert np.array_equal(saved["timestamps"], frame.index.tz_localize(None).to_numpy())
    np.testing.assert_allclose(
        saved["price"][1], expected(golden_bundle("BTCUSDT")["price"][:300]), rtol=1e-5
    )
    code = main(
        [
            "backtest",
            "sweep",
            "BTCUSDT",
            "basic",
            *common,
            "--versions",
            "as-live",
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert np.load(out, allow_pickle=True)["live_version"].max() == 1
    assert "has no prediction while it was live" in captured.err


def test_a_csv_of_numbers_without_a_header_must_be_binance_klines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from atb_prediction.cli import main

    path = tmp_path / "bars.csv"
    path.write_text("1,2,3\n4,5,6\n", encoding="utf-8")
    code = main(
        [
            "backtest",
            "sweep",
            "BTCUSDT",
            "basic",
            "--series",
            str(path),
            "--registry",
            str(FIXTURE_REGISTRY),
        ]
    )
    assert code == 1
    assert capsys.readouterr().err == (
        f"atb backtest sweep: error: cannot read series {path}: the first line holds numbers, "
        "not column names: add a header row (a Binance kline file without one has 12 columns, "
        "this one 3)\n"
    )


def test_named_features_without_a_close_keep_the_models_scaled_prices(
    registry: PredictionModelRegistry,
) -> None:
    frame = golden_frame("BTCUSDT").iloc[:200]
    bundle = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h")
    names = bundle.metadata["feature_names"]
    features = pd.DataFrame(
        {name: frame[name.removesuffix("_normalized")] for name in names}, index=frame.index
    )
    with pytest.warns(UserWarning, match=r"^sweep of BTCUSDT:1h:basic:2025-10-30_12h_v1: its "
                      r"prices stay the model's scaled output: the series has no 'close' "
                      r"column to map them back with$"):  # fmt: skip
        scaled = sweep(registry, features, symbol="BTCUSDT", model_type="basic", progress=False)
    assert scaled.price_units == (False,) and scaled.close is None
    window = features.iloc[80:200].to_numpy()
    assert scaled.price[0, 199] == pytest.approx(bundle.runner.predict(window).price, rel=1e-6)
    # With the close beside them, the same features give prices.
    priced = sweep(registry, features.assign(close=frame["close"]), symbol="BTCUSDT",
                   model_type="basic", progress=False)  # fmt: skip
    assert priced.price_units == (True,)
    closes = frame["close"].iloc[80:200]
    assert priced.price[0, 199] == pytest.approx(
        scaled.price[0, 199] * (closes.max() - closes.min()) + closes.min(), rel=1e-9
    )
