"""Which name a prediction carries, and what that name keys (issue 28, the drop-in
differences): a registry runner names its predictions by bundle key, which upstream's engine
looks bundles up by; a runner of a model file names them by the file, as upstream does; the
built-in cache never lets two bundles share entries; ``model_metadata`` cannot be assigned."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from atb_prediction import (
    InMemoryPredictionCache,
    OnnxRunner,
    PredictionConfig,
    PredictionModelRegistry,
)
from conftest import affine_model, point_latest, write_bundle

OHLCV = ("open", "high", "low", "close", "volume")


def two_version_registry(root: Path) -> Path:
    """BTCUSDT/basic with two versions whose models differ only in their constant answer, and
    ETHUSDT/basic a copy of the first: every window is predicted differently by each."""
    for symbol, version, bias in (
        ("BTCUSDT", "2026-01-01_1h_v1", 0.25),
        ("BTCUSDT", "2026-01-02_1h_v1", 0.75),
        ("ETHUSDT", "2026-01-01_1h_v1", 0.5),
    ):
        write_bundle(
            root,
            symbol,
            "basic",
            version,
            model=affine_model(4, 2, bias=(bias,)),
            metadata={
                "timeframe": "1h",
                "sequence_length": 4,
                "feature_strategy": "price_only",
                "feature_names": ["close_normalized", "volume_normalized"],
                "price_normalization": {"method": "rolling_minmax", "window": 3},
            },
        )
    point_latest(root, "BTCUSDT", "basic", "2026-01-02_1h_v1")
    point_latest(root, "ETHUSDT", "basic", "2026-01-01_1h_v1")
    return root


def bars(rows: int = 12) -> pd.DataFrame:
    close = 100.0 + np.arange(rows, dtype=float) % 5
    return pd.DataFrame({name: close for name in OHLCV[:4]} | {"volume": np.ones(rows)})


def test_a_registry_prediction_is_named_by_its_bundle_key(tmp_path: Path) -> None:
    registry = PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(two_version_registry(tmp_path / "r")))
    )
    frame = bars()
    names = set()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        bundle = registry.select_bundle(symbol=symbol, model_type="basic", timeframe="1h")
        runner = bundle.runner
        stream = runner.stream(frame.iloc[:-1])
        window = np.full((4, 2), 0.5)
        for prediction in (
            runner.predict(window),
            runner.predict_bars(frame),
            stream.push(frame.iloc[-1]),
        ):
            assert prediction is not None
            assert prediction.model_name == bundle.key
            # What upstream's engine does with it (get_model_info, predict(model_name=...)):
            # look the bundle up by key.
            found = registry.get_bundle_by_key(prediction.model_name)
            assert found is not None and found.version_id == bundle.version_id
        names.add(prediction.model_name)
    # Upstream's engine keys its per-model statistics by this name: one entry per bundle.
    assert names == {"BTCUSDT:1h:basic:2026-01-02_1h_v1", "ETHUSDT:1h:basic:2026-01-01_1h_v1"}


def test_a_model_file_runner_is_named_by_its_file_as_upstream(tmp_path: Path) -> None:
    root = two_version_registry(tmp_path / "r")
    path = root / "BTCUSDT" / "basic" / "2026-01-01_1h_v1" / "model.onnx"
    runner = OnnxRunner(path)
    assert runner.predict(np.full((4, 2), 0.5)).model_name == "model.onnx"
    assert runner.predict_bars(bars()).model_name == "model.onnx"


def test_two_bundles_never_share_cache_entries(tmp_path: Path) -> None:
    root = two_version_registry(tmp_path / "r")
    cache = InMemoryPredictionCache()
    config = PredictionConfig(model_registry_path=str(root), prediction_cache_enabled=True)
    # Three model files all named "model.onnx", one cache: each answers for itself.
    paths = sorted(root.glob("*/basic/*_v1/model.onnx"))
    assert [path.name for path in paths] == ["model.onnx"] * 3
    window = np.full((4, 2), 0.5)
    for _ in range(2):  # the second round is served from the cache
        prices = [OnnxRunner(path, config, cache).predict(window).price for path in paths]
        assert sorted(prices) == [0.25, 0.5, 0.75]
    assert cache.get_stats()["size"] == 3
    # Registry runners of two versions with the same features and settings: the same.
    registry = PredictionModelRegistry(config, cache_manager=cache)
    old = registry.get_bundle_by_key("BTCUSDT:1h:basic:2026-01-01_1h_v1")
    new = registry.get_bundle_by_key("BTCUSDT:1h:basic:2026-01-02_1h_v1")
    assert old is not None and new is not None
    for _ in range(2):
        assert old.runner.predict(window).price == 0.25
        assert new.runner.predict(window).price == 0.75


def test_model_metadata_reads_but_cannot_be_assigned(tmp_path: Path) -> None:
    root = two_version_registry(tmp_path / "r")
    runner = OnnxRunner(root / "BTCUSDT" / "basic" / "2026-01-01_1h_v1" / "model.onnx")
    assert runner.model_metadata["sequence_length"] == 4
    with pytest.raises(AttributeError, match=r"^OnnxRunner.model_metadata is read-only: "):
        runner.model_metadata = {"normalization_params": {}}  # type: ignore[misc]
    assert runner.model_metadata["sequence_length"] == 4
    # A runner without metadata.json reads upstream's defaults.
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(root / "BTCUSDT" / "basic" / "2026-01-01_1h_v1" / "model.onnx", bare)
    assert OnnxRunner(bare / "model.onnx").model_metadata == {
        "sequence_length": 120,
        "feature_count": 5,
        "normalization_params": {},
    }
