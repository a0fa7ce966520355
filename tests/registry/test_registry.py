"""Tests of ``PredictionModelRegistry``: upstream's selection, pinning, reload and error API.

Predictions are checked against ``upstream_predict`` (conftest), upstream's runner written out
with numpy and the ``onnxruntime`` package. Registries are the upstream fixture registry (tests
skip where it is absent) or built in ``tmp_path`` from real ONNX models.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from atb_prediction import (
    InMemoryPredictionCache,
    ModelLoadError,
    ModelNotAvailableError,
    OnnxRunner,
    PredictionConfig,
    PredictionError,
    PredictionModelRegistry,
    StrategyModel,
)
from atb_prediction.models import registry as registry_module
from atb_prediction.models.registry import ReloadSummary
from cli_helpers import run_atb
from conftest import (
    FIXTURE_KEYS,
    affine_model,
    corrupt_model_body,
    identity_model,
    linear_model,
    point_latest,
    standard_metadata,
    two_input_model,
    upstream_predict,
    write_bundle,
)

V1, V2, V3 = "2025-01-01_1h_v1", "2025-01-02_1h_v1", "2025-01-03_1h_v1"

FIXTURE_SELECTION = {
    ("BTCUSDT", "basic"): "2025-10-30_12h_v1",
    ("BTCUSDT", "sentiment"): "2025-12-23_20h_v2",
    ("ETHUSDT", "basic"): "2026-07-04_22h_v1",
    ("ETHUSDT", "sentiment"): "2025-12-23_21h_v2",
}


#: The one fixture version whose metadata disagrees with its model: metadata.json lists 9
#: feature_names, the model takes 5 features. It stays reachable, and predict refuses it.
INCONSISTENT_FIXTURE_KEY = "BTCUSDT:1d:basic:2025-09-16_legacy"


def registry_at(root: Path, **config: Any) -> PredictionModelRegistry:
    return PredictionModelRegistry(PredictionConfig(model_registry_path=str(root), **config))


def window_for(bundle: StrategyModel, seed: int) -> np.ndarray:
    """A random ``[seq, features]`` window of the shape the bundle's model takes."""
    (model_input,) = bundle.runner.session.inputs
    _, seq, features = model_input.shape
    return np.random.default_rng(seed).normal(size=(seq, features))


def assert_matches_upstream(
    bundle: StrategyModel, features: np.ndarray, config: PredictionConfig | None = None
) -> None:
    config = config or PredictionConfig()
    prediction = bundle.runner.predict(features)
    expected = upstream_predict(
        bundle.runner.model_path,
        bundle.metadata,
        features,
        confidence_scale_factor=config.confidence_scale_factor,
        direction_threshold=config.direction_threshold,
    )
    if math.isnan(expected["price"]):  # type: ignore[arg-type]
        assert math.isnan(prediction.price)
    else:
        assert prediction.price == pytest.approx(expected["price"], rel=1e-5, abs=1e-6)
    assert prediction.confidence == pytest.approx(expected["confidence"], rel=1e-5, abs=1e-6)
    assert prediction.direction == expected["direction"]
    if expected["probabilities"] is None:
        assert prediction.probabilities is None
    else:
        assert prediction.probabilities == pytest.approx(expected["probabilities"], abs=1e-6)


# --- the fixture registry ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_reg(fixture_registry: Path) -> PredictionModelRegistry:
    return registry_at(fixture_registry)


@pytest.mark.parametrize(("symbol", "model_type"), sorted(FIXTURE_SELECTION))
def test_fixture_selection_equals_upstream(
    fixture_reg: PredictionModelRegistry, fixture_registry: Path, symbol: str, model_type: str
) -> None:
    version = FIXTURE_SELECTION[(symbol, model_type)]
    bundle = fixture_reg.select_bundle(symbol=symbol, model_type=model_type, timeframe="1h")
    assert isinstance(bundle, StrategyModel)
    assert (bundle.symbol, bundle.model_type, bundle.version_id, bundle.timeframe) == (
        symbol,
        model_type,
        version,
        "1h",
    )
    assert bundle.key == f"{symbol}:1h:{model_type}:{version}"
    assert bundle.directory == fixture_registry / symbol / model_type / version
    assert bundle.problems == ()
    assert bundle.metadata["version_id"] == version


def test_fixture_list_bundles_is_the_latest_of_each_type(
    fixture_reg: PredictionModelRegistry,
) -> None:
    assert [b.key for b in fixture_reg.list_bundles()] == [
        f"{symbol}:1h:{model_type}:{version}"
        for (symbol, model_type), version in sorted(FIXTURE_SELECTION.items())
    ]
    assert fixture_reg.invalid_bundles() == []
    assert fixture_reg.unavailable() == {}


def test_every_fixture_version_is_reachable_by_key_and_predicts_like_upstream(
    fixture_reg: PredictionModelRegistry,
) -> None:
    assert [record.key for record in fixture_reg.index.versions] == FIXTURE_KEYS
    for seed, key in enumerate(FIXTURE_KEYS):
        bundle = fixture_reg.get_bundle_by_key(key)
        assert bundle is not None, key
        assert bundle.key == key
        assert fixture_reg.get_bundle_by_key(key) is bundle  # opened once, kept
        features = window_for(bundle, seed)
        if key == INCONSISTENT_FIXTURE_KEY:
            (problem,) = bundle.problems
            assert "(None, 120, 5)" in problem and "9" in problem
            with pytest.raises(ModelLoadError, match=r"\(None, 120, 5\)"):
                bundle.runner.predict(features)
            continue
        assert bundle.problems == (), key
        prediction = bundle.runner.predict(features)
        assert math.isfinite(prediction.price), key
        assert_matches_upstream(bundle, features)
    assert fixture_reg.invalid_bundles() == []


def test_fixture_unknown_keys_give_none(fixture_reg: PredictionModelRegistry) -> None:
    for key in (
        "BTCUSDT:1h:basic:2099-01-01_1h_v1",
        "BTCUSDT:4h:basic:2025-10-30_12h_v1",  # right version, wrong timeframe
        "BTCUSDT:basic:2025-10-30_12h_v1",
        "DOGEUSDT:1h:basic:2025-10-30_12h_v1",
        "",
        "garbage",
    ):
        assert fixture_reg.get_bundle_by_key(key) is None, key


def test_fixture_select_errors(fixture_reg: PredictionModelRegistry) -> None:
    with pytest.raises(ModelNotAvailableError, match="BTCUSDT 4h basic"):
        fixture_reg.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="4h")
    with pytest.raises(LookupError):
        fixture_reg.select_bundle(symbol="DOGEUSDT", model_type="basic", timeframe="1h")
    with pytest.raises(PredictionError):
        fixture_reg.select_bundle(symbol="BTCUSDT", model_type="adaptive", timeframe="1h")


def test_fixture_predictions_through_a_writable_copy(registry_copy: Path) -> None:
    """The copy behaves like the original; re-pointing latest there (as a pointer file) and
    reloading switches."""
    registry = registry_at(registry_copy, prediction_cache_enabled=False)
    bundle = registry.select_bundle(symbol="BTCUSDT", model_type="sentiment", timeframe="1h")
    assert bundle.version_id == "2025-12-23_20h_v2"
    latest = registry_copy / "BTCUSDT" / "sentiment" / "latest"
    latest.unlink()
    latest.write_text("2026-01-06_14h_v3")
    registry.reload_models()
    again = registry.select_bundle(symbol="BTCUSDT", model_type="sentiment", timeframe="1h")
    assert again.version_id == "2026-01-06_14h_v3"
    features = window_for(again, 3)
    assert_matches_upstream(again, features)


# --- generated bundles against upstream's semantics ----------------------------------------------

NAMES = ["close", "volume", "high"]


def semantic_registry(root: Path) -> dict[str, dict[str, Any]]:
    """model_type -> metadata, one model type per piece of upstream's semantics."""
    cases: dict[str, dict[str, Any]] = {
        "norm_by_name": {
            "feature_names": NAMES,
            # key order differs from feature_names; "volume" has none: left raw
            "normalization_params": {
                "high": {"mean": 3.0, "std": 2.0},
                "close": {"mean": -1.0, "std": 0.5},
            },
            "price_normalization": {"mean": 50_000.0, "std": 1_200.0},
        },
        # no feature_names: upstream applies the parameters in key order (here also sorted
        # order; test_predict covers keys written out of order)
        "norm_legacy_key_order": {
            "normalization_params": {
                "a": {"mean": 0.0, "std": 2.0},
                "b": {"mean": 1.0, "std": 4.0},
                "c": {"mean": 0.5, "std": 1.0},
            },
            "price_normalization": {"mean": 10.0, "std": 3.0, "method": "zscore"},
        },
        "norm_zero_std": {
            "feature_names": NAMES,
            "normalization_params": {n: {"mean": 0.25, "std": 0.0} for n in NAMES},
        },
        "price_std_zero": {"price_normalization": {"mean": 42.0, "std": 0.0}},
        "rolling_minmax": {
            "price_normalization": {
                "method": "rolling_minmax",
                "window": 120,
                "mean": 9.0,
                "std": 9.0,
            }
        },
        "plain": {},
        "binary": {"task_type": "binary_classification", "class_labels": [-1, 1]},
        "ternary": {"task_type": "ternary_classification", "class_labels": [-1, 0, 1]},
    }
    for index, (model_type, extra) in enumerate(cases.items()):
        metadata = {"timeframe": "1h", "sequence_length": 4, **extra}
        if model_type == "binary":
            model = linear_model(seq=4, features=3, seed=index, activation="sigmoid")
        elif model_type == "ternary":
            model = linear_model(seq=4, features=3, seed=index, outputs=3, activation="softmax")
        else:
            model = linear_model(seq=4, features=3, seed=index)
        write_bundle(root, "S", model_type, V1, model=model, metadata=metadata)
    return cases


@pytest.mark.parametrize("cache", [False, True])
def test_generated_bundles_predict_like_upstream(tmp_path: Path, cache: bool) -> None:
    cases = semantic_registry(tmp_path / "registry")
    config = PredictionConfig(
        model_registry_path=str(tmp_path / "registry"),
        prediction_cache_enabled=cache,
        confidence_scale_factor=3.0,
        direction_threshold=0.002,
    )
    registry = PredictionModelRegistry(config)
    assert registry.invalid_bundles() == []
    rng = np.random.default_rng(11)
    for model_type in cases:
        bundle = registry.select_bundle(symbol="S", model_type=model_type, timeframe="1h")
        for _ in range(3):
            features = rng.normal(scale=5.0, size=(4, 3))
            assert_matches_upstream(bundle, features, config)
            assert_matches_upstream(bundle, features, config)  # again: a cache hit, if any


def test_mean_std_price_normalization_is_applied(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    write_bundle(
        root,
        "S",
        "t",
        V1,
        model=affine_model(bias=[0.5]),
        metadata={"timeframe": "1h", "price_normalization": {"mean": 100.0, "std": 4.0}},
    )
    prediction = (
        registry_at(root)
        .select_bundle(symbol="S", model_type="t", timeframe="1h")
        .runner.predict(np.zeros((4, 3)))
    )
    assert prediction.price == 102.0
    assert (prediction.confidence, prediction.direction) == (1.0, 1)


# --- selection API -------------------------------------------------------------------------------


@pytest.fixture
def api_registry(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    for symbol in ("BTCUSDT", "ETHUSDT"):
        for version in (V1, V2):
            write_bundle(
                root,
                symbol,
                "basic",
                version,
                model=linear_model(seq=4, features=3),
                metadata=standard_metadata(symbol, "basic", version, seq=4, features=3),
                feature_schema={"sequence_length": 4, "features": [{"name": n} for n in "abc"]},
                metrics={"rmse": 0.1, "version": version},
            )
        point_latest(root, symbol, "basic", V1)
    write_bundle(
        root,
        "BTCUSDT",
        "candidate",
        V1,
        model=linear_model(seq=4, features=3),
        metadata=standard_metadata(
            "BTCUSDT", "candidate", V1, seq=4, features=3, stage="candidate"
        ),
    )
    # a model type whose latest dangles
    write_bundle(
        root,
        "ETHUSDT",
        "sentiment",
        V1,
        model=linear_model(seq=4, features=3),
        metadata={"timeframe": "1h"},
    )
    (root / "ETHUSDT" / "sentiment" / "latest").symlink_to("2024-12-31_1h_v9")
    return root


def test_select_bundle_errors_name_the_reason(api_registry: Path) -> None:
    registry = registry_at(api_registry)
    with pytest.raises(ModelNotAvailableError) as caught:
        registry.select_bundle(symbol="ETHUSDT", model_type="sentiment", timeframe="1h")
    assert isinstance(caught.value, LookupError)
    assert "dangles" in str(caught.value) and "2024-12-31_1h_v9" in str(caught.value)
    with pytest.raises(ModelNotAvailableError, match="XRPUSDT"):
        registry.select_bundle(symbol="XRPUSDT", model_type="basic", timeframe="1h")
    assert registry.unavailable() == {
        ("ETHUSDT", "sentiment"): registry.index.unavailable[("ETHUSDT", "sentiment")]
    }
    (broken,) = registry.invalid_bundles()
    assert broken.path == str(api_registry / "ETHUSDT" / "sentiment" / "latest")
    assert "dangles" in broken.reason


def test_select_many(api_registry: Path) -> None:
    registry = registry_at(api_registry)
    selected = registry.select_many([("BTCUSDT", "basic", "1h"), ("ETHUSDT", "basic", "1h")])
    assert set(selected) == {("BTCUSDT", "basic", "1h"), ("ETHUSDT", "basic", "1h")}
    assert selected[("ETHUSDT", "basic", "1h")].key == f"ETHUSDT:1h:basic:{V1}"

    with pytest.raises(ModelLoadError) as caught:
        registry.select_many(
            [
                ("BTCUSDT", "basic", "1h"),
                ("XRPUSDT", "basic", "1h"),
                ("ETHUSDT", "sentiment", "1h"),
                ("BTCUSDT", "basic", "4h"),
            ]
        )
    message = str(caught.value)
    assert "XRPUSDT/basic/1h" in message
    assert "ETHUSDT/sentiment/1h" in message and "dangles" in message
    assert "BTCUSDT/basic/4h" in message
    assert "BTCUSDT/basic/1h" not in message
    assert registry.select_many([]) == {}


def test_stage_filter(api_registry: Path) -> None:
    registry = registry_at(api_registry)
    bundle = registry.select_bundle(
        symbol="BTCUSDT", model_type="basic", timeframe="1h", stage=None
    )
    assert (
        registry.select_bundle(
            symbol="BTCUSDT", model_type="basic", timeframe="1h", stage="production"
        )
        is bundle
    )
    with pytest.raises(ModelNotAvailableError, match="candidate"):
        registry.select_bundle(
            symbol="BTCUSDT", model_type="basic", timeframe="1h", stage="candidate"
        )
    candidate = registry.select_bundle(
        symbol="BTCUSDT", model_type="candidate", timeframe="1h", stage="candidate"
    )
    assert candidate.metadata["stage"] == "candidate"
    with pytest.raises(ModelNotAvailableError, match="production"):
        registry.select_bundle(
            symbol="BTCUSDT", model_type="candidate", timeframe="1h", stage="production"
        )


def test_defaults_and_iter_runners(api_registry: Path) -> None:
    registry = registry_at(api_registry)
    bundles = registry.list_bundles()
    assert [b.key for b in bundles] == [
        f"BTCUSDT:1h:basic:{V1}",
        f"BTCUSDT:1h:candidate:{V1}",
        f"ETHUSDT:1h:basic:{V1}",
    ]
    assert registry.get_default_bundle() is bundles[0]
    assert registry.get_default_runner() is bundles[0].runner
    runners = registry.iter_runners()
    assert runners == [b.runner for b in bundles]
    assert all(isinstance(runner, OnnxRunner) for runner in runners)
    for runner in runners:
        assert math.isfinite(runner.predict(np.ones((4, 3))).price)


def test_empty_and_missing_registries(tmp_path: Path) -> None:
    for root in (tmp_path, tmp_path / "does-not-exist"):
        registry = registry_at(root)
        assert registry.list_bundles() == []
        assert registry.iter_runners() == []
        assert registry.invalid_bundles() == []
        with pytest.raises(ModelNotAvailableError, match="No strategy models available"):
            registry.get_default_bundle()
        with pytest.raises(ModelNotAvailableError):
            registry.get_default_runner()
        with pytest.raises(ModelNotAvailableError):
            registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h")
        assert registry.get_bundle_by_key(f"BTCUSDT:1h:basic:{V1}") is None
        registry.reload_models()
        assert registry.list_bundles() == []


def test_a_registry_created_later_is_found_on_reload(tmp_path: Path) -> None:
    root = tmp_path / "later"
    registry = registry_at(root)
    assert registry.list_bundles() == [] and registry.index is None
    constant_bundle(root, V1, 1.0, 100.0)
    registry.reload_models()
    assert select(registry).runner.predict(np.zeros((4, 3))).price == 110.0


def test_strategy_model_fields(api_registry: Path) -> None:
    registry = registry_at(api_registry)
    bundle = registry.select_bundle(symbol="ETHUSDT", model_type="basic", timeframe="1h")
    directory = api_registry / "ETHUSDT" / "basic" / V1
    on_disk = json.loads((directory / "metadata.json").read_text())
    assert bundle.symbol == "ETHUSDT"
    assert bundle.timeframe == "1h"
    assert bundle.model_type == "basic"
    assert bundle.version_id == V1
    assert bundle.directory == directory and isinstance(bundle.directory, Path)
    assert bundle.metadata == on_disk
    assert bundle.feature_schema == {"sequence_length": 4, "features": [{"name": n} for n in "abc"]}
    assert bundle.metrics == {"rmse": 0.1, "version": V1}
    assert isinstance(bundle.runner, OnnxRunner)
    assert bundle.runner.model_path == str(directory / "model.onnx")
    assert bundle.key == f"ETHUSDT:1h:basic:{V1}"
    assert bundle.problems == ()


def test_strategy_model_metadata_is_merged_with_the_path(tmp_path: Path) -> None:
    """Upstream starts from symbol/model_type/version_id of the path, then updates with
    metadata.json: keys the file lacks come from the path, keys it has win."""
    root = tmp_path / "registry"
    write_bundle(
        root,
        "BTCUSDT",
        "basic",
        "2025-10-30_1h_v1",
        model=linear_model(seq=4, features=3),
        metadata={"timeframe": "1h", "model_type": "price"},
    )
    write_bundle(root, "BTCUSDT", "bare", "2025-10-30_1h_v1", model=linear_model(seq=4, features=3))
    registry = registry_at(root)
    bundle = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h")
    assert bundle.metadata == {
        "symbol": "BTCUSDT",
        "model_type": "price",
        "version_id": "2025-10-30_1h_v1",
        "timeframe": "1h",
    }
    assert bundle.model_type == "basic"  # the directory's name, as upstream
    bare = registry.select_bundle(symbol="BTCUSDT", model_type="bare", timeframe="1h")
    assert bare.metadata == {
        "symbol": "BTCUSDT",
        "model_type": "bare",
        "version_id": "2025-10-30_1h_v1",
    }
    assert bare.feature_schema == {} and bare.metrics == {}  # upstream: {} when absent


def test_schema_override_through_the_config(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    write_bundle(root, "S", "a", V1, model=linear_model(seq=4, features=3), metadata={"owner": "q"})
    write_bundle(
        root, "S", "b", V1, model=linear_model(seq=4, features=3), metadata={"timeframe": "1h"}
    )
    schema = tmp_path / "metadata.schema.json"
    schema.write_text(json.dumps({"type": "object", "required": ["owner"]}))
    registry = registry_at(root, metadata_schema_path=str(schema))
    assert [b.model_type for b in registry.list_bundles()] == ["a"]
    assert any("owner" in bundle.reason for bundle in registry.invalid_bundles())
    assert [b.model_type for b in registry_at(root).list_bundles()] == ["a", "b"]


# --- consistency and broken models ---------------------------------------------------------------


def test_a_bundle_whose_declarations_disagree_with_its_model(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    write_bundle(
        root,
        "S",
        "mismatch",
        V1,
        model=linear_model(seq=4, features=5),
        metadata={"timeframe": "1h", "sequence_length": 4},
        feature_schema={"features": [{"name": n} for n in ("a", "b", "c")]},
    )
    write_bundle(
        root,
        "S",
        "seq_mismatch",
        V1,
        model=linear_model(seq=4, features=3),
        metadata={"timeframe": "1h", "sequence_length": 30},
    )
    write_bundle(
        root,
        "S",
        "fine",
        V1,
        model=linear_model(seq=4, features=5),
        metadata=standard_metadata("S", "fine", V1, seq=4, features=5),
    )
    registry = registry_at(root)
    bundle = registry.select_bundle(symbol="S", model_type="mismatch", timeframe="1h")
    (problem,) = bundle.problems
    assert "(None, 4, 5)" in problem  # the model's input
    assert "feature_schema.json" in problem and "3" in problem  # what the file declares
    assert bundle.runner.problems == bundle.problems
    with pytest.raises(ModelLoadError) as caught:
        bundle.runner.predict(np.zeros((4, 5)))
    assert "(None, 4, 5)" in str(caught.value) and "(None, None, 3)" in str(caught.value)
    with pytest.raises(ModelLoadError):
        bundle.runner.predict_batch(np.zeros((2, 4, 5)))
    # still reachable by key
    assert registry.get_bundle_by_key(bundle.key) is bundle

    (seq_problem,) = registry.select_bundle(
        symbol="S", model_type="seq_mismatch", timeframe="1h"
    ).problems
    assert "(None, 4, 3)" in seq_problem and "30" in seq_problem

    fine = registry.select_bundle(symbol="S", model_type="fine", timeframe="1h")
    assert fine.problems == ()
    assert math.isfinite(fine.runner.predict(np.zeros((4, 5))).price)


def test_models_a_registry_bundle_cannot_take_are_flagged(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    write_bundle(root, "S", "two_inputs", V1, model=two_input_model(), metadata={"timeframe": "1h"})
    write_bundle(
        root,
        "S",
        "rank2",
        V1,
        model=identity_model([np.dtype(np.float32)]),
        metadata={"timeframe": "1h"},
    )
    registry = registry_at(root)
    two = registry.select_bundle(symbol="S", model_type="two_inputs", timeframe="1h")
    assert "2 inputs" in two.problems[0]
    rank2 = registry.select_bundle(symbol="S", model_type="rank2", timeframe="1h")
    assert "(2, 3)" in rank2.problems[0]
    for bundle in (two, rank2):
        with pytest.raises(ModelLoadError):
            bundle.runner.predict(np.zeros((2, 3)))


def test_a_production_model_corrupt_beyond_its_header(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    write_bundle(
        root, "S", "broken", V1, model=linear_model(seq=4, features=3), metadata={"timeframe": "1h"}
    )
    broken = write_bundle(
        root, "S", "broken", V2, model=corrupt_model_body(), metadata={"timeframe": "1h"}
    )
    point_latest(root, "S", "broken", V2)
    write_bundle(
        root, "S", "ok", V1, model=linear_model(seq=4, features=3), metadata={"timeframe": "1h"}
    )
    registry = registry_at(root)
    assert registry.index.production[("S", "broken")] == V2  # the cheap header check passes
    (failure,) = registry.invalid_bundles()
    assert failure.path == str(broken)
    assert failure.reason
    with pytest.raises(ModelNotAvailableError) as caught:
        registry.select_bundle(symbol="S", model_type="broken", timeframe="1h")
    assert V2 in str(caught.value)
    assert V2 in registry.unavailable()[("S", "broken")]
    # no fallback to V1, which still works when pinned explicitly
    assert [b.model_type for b in registry.list_bundles()] == ["ok"]
    pinned = registry.get_bundle_by_key(f"S:1h:broken:{V1}")
    assert pinned is not None and math.isfinite(pinned.runner.predict(np.ones((4, 3))).price)
    assert registry.select_bundle(symbol="S", model_type="ok", timeframe="1h").runner.predict(
        np.ones((4, 3))
    ).direction in (-1, 0, 1)


def test_sessions_open_lazily_for_versions_other_than_latest(tmp_path: Path) -> None:
    """Only latest is opened at construction; a corrupt body in another version is unseen
    until that version is pinned."""
    root = tmp_path / "registry"
    versions = [f"2025-01-{day:02d}_1h_v1" for day in range(1, 21)]
    corrupt = versions[4]
    for version in versions:
        model = corrupt_model_body() if version == corrupt else affine_model(bias=[0.5])
        write_bundle(root, "S", "t", version, model=model, metadata={"timeframe": "1h"})
    point_latest(root, "S", "t", versions[-1])
    registry = registry_at(root)
    assert len(registry.index.versions) == 20
    assert len(registry._pinned) == 0  # the production bundle is served, not pinned
    assert registry.invalid_bundles() == []

    assert registry.get_bundle_by_key(f"S:1h:t:{corrupt}") is None
    (failure,) = registry.invalid_bundles()
    assert failure.path == str(root / "S" / "t" / corrupt)
    assert "model.onnx" in failure.reason

    other = registry.get_bundle_by_key(f"S:1h:t:{versions[9]}")
    assert other is not None and other.version_id == versions[9]
    assert registry.get_bundle_by_key(other.key) is other
    assert len(registry._pinned) == 1
    assert other.runner.predict(np.zeros((4, 3))).price == 0.5
    latest = registry.select_bundle(symbol="S", model_type="t", timeframe="1h")
    assert registry.get_bundle_by_key(latest.key) is latest  # the production session is shared
    assert len(registry._pinned) == 1


def test_a_version_that_fails_to_open_is_listed_once(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    write_bundle(root, "S", "t", V1, model=corrupt_model_body(), metadata={"timeframe": "1h"})
    write_bundle(root, "S", "t", V2, model=affine_model(bias=[0.5]), metadata={"timeframe": "1h"})
    registry = registry_at(root)
    for _ in range(3):
        assert registry.get_bundle_by_key(f"S:1h:t:{V1}") is None
    assert [failure.path for failure in registry.invalid_bundles()] == [str(root / "S" / "t" / V1)]


# --- reload --------------------------------------------------------------------------------------


def constant_bundle(root: Path, version: str, bias: float, mean: float) -> None:
    """A bundle predicting exactly ``bias * 10 + mean`` whatever the window."""
    write_bundle(
        root,
        "S",
        "t",
        version,
        model=affine_model(bias=[bias]),
        metadata={"timeframe": "1h", "price_normalization": {"mean": mean, "std": 10.0}},
    )


def repoint(root: Path, version: str) -> None:
    """Re-point S/t/latest atomically (a rename over the old link)."""
    type_dir = root / "S" / "t"
    temporary = type_dir / f".latest-{version}"
    temporary.symlink_to(version)
    os.replace(temporary, type_dir / "latest")


def select(registry: PredictionModelRegistry) -> StrategyModel:
    return registry.select_bundle(symbol="S", model_type="t", timeframe="1h")


def test_reload_picks_up_a_promotion_and_new_versions(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    constant_bundle(root, V1, 1.0, 100.0)
    constant_bundle(root, V2, 2.0, 200.0)
    repoint(root, V1)
    registry = registry_at(root)
    before = select(registry)
    assert before.version_id == V1
    assert before.runner.predict(np.zeros((4, 3))).price == 110.0

    repoint(root, V2)
    constant_bundle(root, V3, 3.0, 300.0)
    assert select(registry).version_id == V1  # nothing changes before reload
    assert registry.get_bundle_by_key(f"S:1h:t:{V3}") is None
    registry.reload_models()
    after = select(registry)
    assert after.version_id == V2
    assert after.runner.predict(np.zeros((4, 3))).price == 220.0
    v3 = registry.get_bundle_by_key(f"S:1h:t:{V3}")
    assert v3 is not None and v3.runner.predict(np.zeros((4, 3))).price == 330.0
    # a bundle held from the old generation keeps working
    assert before.runner.predict(np.zeros((4, 3))).price == 110.0


def test_reload_keeps_the_old_generation_when_the_new_scan_finds_nothing(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    constant_bundle(root, V1, 1.0, 100.0)
    registry = registry_at(root)
    bundle = select(registry)
    shutil.rmtree(root / "S" / "t" / V1)  # every version deleted
    registry.reload_models()
    assert select(registry) is bundle
    assert bundle.runner.predict(np.zeros((4, 3))).price == 110.0
    shutil.rmtree(root)  # the whole registry gone (an unmounted disk)
    registry.reload_models()
    assert select(registry) is bundle
    assert [b.key for b in registry.list_bundles()] == [bundle.key]


def typed_registry(root: Path, types: int) -> None:
    """``types`` model types S/t0..., each with V1 and V2 (latest -> V1); tN predicts 10 * N."""
    for number in range(types):
        for version in (V1, V2):
            write_bundle(
                root,
                "S",
                f"t{number}",
                version,
                model=affine_model(bias=[float(number)]),
                metadata={"timeframe": "1h", "price_normalization": {"mean": 0.0, "std": 10.0}},
            )
        point_latest(root, "S", f"t{number}", V1)


def served(registry: PredictionModelRegistry) -> dict[str, StrategyModel]:
    return {bundle.model_type: bundle for bundle in registry.list_bundles()}


def test_an_unchanged_reload_keeps_every_open_bundle(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    typed_registry(root, 4)
    registry = registry_at(root)
    before = served(registry)
    summary = registry.reload_models()
    assert summary.opened == 0
    assert (summary.added, summary.changed, summary.removed, summary.failed) == ((), (), (), ())
    assert sorted(summary.kept) == sorted(bundle.key for bundle in before.values())
    after = served(registry)
    assert all(after[name] is before[name] for name in before)  # the same sessions, not reopened


def test_a_reload_after_one_promotion_opens_exactly_one_session(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    typed_registry(root, 4)
    registry = registry_at(root)
    before = served(registry)
    point_latest(root, "S", "t2", V2)
    summary = registry.reload_models()
    assert summary.opened == 1
    assert summary.changed == (f"S:1h:t2:{V2}",)
    assert len(summary.kept) == 3 and summary.added == summary.removed == ()
    after = served(registry)
    assert after["t2"].version_id == V2 and after["t2"] is not before["t2"]
    assert all(after[name] is before[name] for name in ("t0", "t1", "t3"))
    assert after["t2"].runner.predict(np.zeros((4, 3))).price == 20.0


def test_a_version_already_pinned_is_taken_over_when_promoted(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    typed_registry(root, 1)
    registry = registry_at(root)
    pinned = registry.get_bundle_by_key(f"S:1h:t0:{V2}")
    assert pinned is not None
    point_latest(root, "S", "t0", V2)
    summary = registry.reload_models()
    assert summary.opened == 0 and summary.changed == (pinned.key,)
    assert served(registry)["t0"] is pinned
    assert len(registry._pinned) == 0


def test_reload_invalidates_the_cache_only_for_changed_bundles(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    typed_registry(root, 2)
    cache = InMemoryPredictionCache(ttl=60, max_size=10)
    registry = PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(root)), cache_manager=cache
    )
    for bundle in registry.list_bundles():
        bundle.runner.predict(np.zeros((4, 3)))
    assert len(cache) == 2
    registry.reload_models()
    assert len(cache) == 2  # nothing changed, nothing dropped
    # Rewriting t1's production files in place changes its stamps: same key, new bundle.
    write_bundle(
        root,
        "S",
        "t1",
        V1,
        model=affine_model(bias=[5.0]),
        metadata={"timeframe": "1h", "price_normalization": {"mean": 1.0, "std": 10.0}},
    )
    summary = registry.reload_models()
    assert summary.changed == (f"S:1h:t1:{V1}",) and summary.opened == 1
    assert len(cache) == 1
    assert served(registry)["t1"].runner.predict(np.zeros((4, 3))).price == 51.0


def test_a_promoted_version_that_fails_to_open_leaves_the_old_one_serving(
    tmp_path: Path,
) -> None:
    root = tmp_path / "registry"
    typed_registry(root, 1)
    write_bundle(root, "S", "t0", V3, model=corrupt_model_body(), metadata={"timeframe": "1h"})
    registry = registry_at(root)
    before = served(registry)["t0"]
    point_latest(root, "S", "t0", V3)
    summary = registry.reload_models()
    assert summary.opened == 0 and summary.kept == (before.key,)
    assert [path for path, _ in summary.failed] == [str(root / "S" / "t0" / V3)]
    assert served(registry)["t0"] is before
    assert before.runner.predict(np.zeros((4, 3))).price == 0.0
    (failure,) = registry.invalid_bundles()
    assert failure.path == str(root / "S" / "t0" / V3) and "model.onnx" in failure.reason
    assert registry.unavailable() == {}
    # Polling again does not retry the unchanged broken version, and still reports it.
    again = registry.reload_models()
    assert again.opened == 0 and len(again.failed) == 1
    # Fixing it by promoting a good version serves that one.
    point_latest(root, "S", "t0", V2)
    assert registry.reload_models().changed == (f"S:1h:t0:{V2}",)
    assert registry.invalid_bundles() == []


def test_a_promoted_version_that_fails_validation_leaves_the_old_one_serving(
    tmp_path: Path,
) -> None:
    root = tmp_path / "registry"
    typed_registry(root, 1)
    write_bundle(
        root, "S", "t0", V3, model=affine_model(), metadata={"sequence_length": "not a number"}
    )
    registry = registry_at(root)
    before = served(registry)["t0"]
    point_latest(root, "S", "t0", V3)
    summary = registry.reload_models()
    assert summary.opened == 0 and summary.kept == (before.key,) and not summary.has_changes
    assert served(registry)["t0"] is before
    reasons = [bundle.reason for bundle in registry.invalid_bundles()]
    assert any("sequence_length" in reason for reason in reasons), reasons


def test_a_model_type_that_leaves_the_registry_is_removed(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    typed_registry(root, 2)
    registry = registry_at(root)
    shutil.rmtree(root / "S" / "t1")
    summary = registry.reload_models()
    assert summary.removed == (f"S:1h:t1:{V1}",) and summary.opened == 0
    assert sorted(served(registry)) == ["t0"]


def test_a_reload_removing_a_model_type_drops_its_cached_predictions(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    typed_registry(root, 2)
    cache = InMemoryPredictionCache(ttl=60, max_size=10)
    registry = PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(root)), cache_manager=cache
    )
    before = served(registry)
    for bundle in before.values():
        for value in (0.0, 1.0):
            bundle.runner.predict(np.full((4, 3), value))
    assert len(cache) == 4 and cache.get_stats()["size"] == 4

    shutil.rmtree(root / "S" / "t1")
    summary = registry.reload_models()
    assert summary.removed == (f"S:1h:t1:{V1}",)
    assert len(cache) == 2 and cache.get_stats()["size"] == 2
    # The removed type's bundle, still held by a caller, finds none of its entries (two misses);
    # the type still served finds both of its own (two hits).
    stats = cache.get_stats()
    for name in ("t1", "t0"):
        for value in (0.0, 1.0):
            before[name].runner.predict(np.full((4, 3), value))
    after = cache.get_stats()
    assert (after["misses"] - stats["misses"], after["hits"] - stats["hits"]) == (2, 2)


def test_pinned_versions_are_bounded_and_eviction_never_breaks_a_holder(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    versions = [f"2025-02-{day:02d}_1h_v1" for day in range(1, 7)]
    for number, version in enumerate(versions):
        constant_bundle(root, version, float(number), 0.0)
    registry = registry_at(root, max_pinned_sessions=2)
    held = [registry.get_bundle_by_key(f"S:1h:t:{version}") for version in versions[:5]]
    assert all(bundle is not None for bundle in held)
    assert len(registry._pinned) == 2
    assert registry.get_bundle_by_key(held[4].key) is held[4]  # type: ignore[union-attr]
    for number, bundle in enumerate(held):
        assert bundle is not None
        assert bundle.runner.predict(np.zeros((4, 3))).price == number * 10.0
    # An evicted version opens again on demand.
    again = registry.get_bundle_by_key(held[0].key)  # type: ignore[union-attr]
    assert again is not None and again is not held[0]
    assert len(registry._pinned) == 2


def test_json_views_come_from_the_scans_parse(tmp_path: Path) -> None:
    """``metadata`` is the scan's parse of the file (NaN and Infinity kept): the registry never
    parses it again, so a token the scan accepted cannot fail later in Python."""
    root = tmp_path / "registry"
    write_bundle(
        root,
        "S",
        "t",
        V1,
        model=affine_model(bias=[0.5]),
        metadata='{"timeframe": "1h", "mape": Infinity, "odd": NaN, "nested": {"x": [1, 2.5]}}',
        metrics='{"rmse": 0.25, "weird": NaN}',
    )
    registry = registry_at(root)
    bundle = select(registry)
    assert bundle.metadata["mape"] == math.inf and math.isnan(bundle.metadata["odd"])
    assert bundle.metadata["nested"] == {"x": [1, 2.5]}
    assert bundle.metadata["symbol"] == "S"
    assert bundle.metrics is not None
    assert bundle.metrics["rmse"] == 0.25 and math.isnan(bundle.metrics["weird"])
    # A token Python's json refuses (`4NaN`) makes the scan refuse the bundle (test_scan.py).


def two_version_registry(
    tmp_path: Path,
) -> tuple[Path, PredictionModelRegistry, dict[str, float]]:
    """S/t with V1 (predicts 110, production) and V2 (predicts 220), and its registry."""
    root = tmp_path / "registry"
    constant_bundle(root, V1, 1.0, 100.0)
    constant_bundle(root, V2, 2.0, 200.0)
    repoint(root, V1)
    return root, registry_at(root), {V1: 110.0, V2: 220.0}


def test_concurrent_selection_and_prediction_during_reloads(tmp_path: Path) -> None:
    """8 threads select and predict while another re-points latest and reloads in a loop.

    V1 predicts 1 * 10 + 100 = 110, V2 predicts 2 * 10 + 200 = 220. A bundle mixing one
    version's session with the other's metadata would give 210 or 120.
    """
    root, registry, expected = two_version_registry(tmp_path)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[set[str]] = [set() for _ in range(8)]
    counts = [0] * 8
    reloads = 0

    def reader(slot: int) -> None:
        rng = np.random.default_rng(slot)
        try:
            while not stop.is_set():
                bundle = select(registry)
                features = rng.normal(size=(4, 3))
                prediction = bundle.runner.predict(features)
                assert prediction.price == expected[bundle.version_id], (
                    bundle.version_id,
                    prediction.price,
                )
                assert prediction.model_name == bundle.key
                pinned = registry.get_bundle_by_key(bundle.key)
                if pinned is not None:
                    assert pinned.runner.predict(features).price == expected[pinned.version_id]
                seen[slot].add(bundle.version_id)
                counts[slot] += 1
        except BaseException as error:
            errors.append(error)
            stop.set()

    def reloader() -> None:
        nonlocal reloads
        try:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and not stop.is_set():
                repoint(root, V2 if reloads % 2 == 0 else V1)
                registry.reload_models()
                reloads += 1
                time.sleep(0.005)
        except BaseException as error:
            errors.append(error)
        finally:
            stop.set()

    threads = [threading.Thread(target=reader, args=(slot,)) for slot in range(8)]
    threads.append(threading.Thread(target=reloader))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert reloads >= 4
    assert all(count > 0 for count in counts)
    assert set().union(*seen) == {V1, V2}


# --- hot reload ----------------------------------------------------------------------------------


def test_watch_serves_a_promotion_from_another_process_within_two_polls(tmp_path: Path) -> None:
    """``atb models promote`` in another process, 8 threads predicting all along: the promoted
    version serves by the second poll after the promotion returns, with no error anywhere."""
    root, registry, expected = two_version_registry(tmp_path)
    promoted = threading.Event()
    served_after: list[str] = []
    summaries: list[ReloadSummary] = []
    stop = threading.Event()
    errors: list[BaseException] = []
    counts = [0] * 8

    def on_reload(summary: ReloadSummary) -> None:
        summaries.append(summary)
        if promoted.is_set():
            served_after.append(select(registry).version_id)

    def reader(slot: int) -> None:
        rng = np.random.default_rng(slot)
        try:
            while not stop.is_set():
                bundle = select(registry)
                prediction = bundle.runner.predict(rng.normal(size=(4, 3)))
                assert prediction.price == expected[bundle.version_id]
                counts[slot] += 1
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=reader, args=(slot,)) for slot in range(8)]
    with registry.watch(interval=0.2, callback=on_reload) as watching:
        assert watching is registry and registry.watching
        for thread in threads:
            thread.start()
        run_atb("models", "promote", "S", "t", V2, "--registry", root)
        promoted.set()
        deadline = time.monotonic() + 60  # a bound for a stuck test, not a timing assertion
        while len(served_after) < 2 and time.monotonic() < deadline and not errors:
            time.sleep(0.05)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not registry.watching
    assert errors == []
    assert all(count > 0 for count in counts)
    assert V2 in served_after[:2], served_after
    assert any(summary.changed == (f"S:1h:t:{V2}",) for summary in summaries)
    assert sum(summary.opened for summary in summaries) == 1  # the polls reopened nothing else


def test_watch_hands_every_summary_to_the_callback_and_survives_a_failing_one(
    tmp_path: Path,
) -> None:
    root = tmp_path / "registry"
    constant_bundle(root, V1, 1.0, 100.0)
    registry = registry_at(root)
    calls: list[ReloadSummary] = []

    def failing(summary: ReloadSummary) -> None:
        calls.append(summary)
        raise RuntimeError("a callback bug must not end the watch")

    registry.watch(interval=0.05, callback=failing)
    deadline = time.monotonic() + 60
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    registry.stop_watching()
    assert len(calls) >= 3
    assert all(summary.opened == 0 and not summary.has_changes for summary in calls)
    with pytest.raises(ValueError, match="interval"):
        registry.watch(interval=0)


def test_reload_summary_text_names_every_count() -> None:
    summary = ReloadSummary(
        added=("a",),
        changed=("b", "c"),
        removed=("d", "e", "f"),
        kept=("g", "h", "i", "j"),
        failed=tuple((f"path{n}", "reason") for n in range(5)),
        opened=6,
    )
    assert str(summary) == "1 added, 2 changed, 3 removed, 4 kept, 5 failed"
    assert str(ReloadSummary()) == "0 added, 0 changed, 0 removed, 0 kept, 0 failed"


def test_a_second_watch_stops_the_first(tmp_path: Path) -> None:
    """One reload thread per registry: the first watch's thread ends before the second's
    starts, and its callback is never called again."""
    root = tmp_path / "registry"
    constant_bundle(root, V1, 1.0, 100.0)
    registry = registry_at(root)
    first: list[ReloadSummary] = []
    second: list[ReloadSummary] = []

    earlier = {t for t in threading.enumerate() if t.name == "atb-registry-watch"}

    def watchers() -> list[threading.Thread]:
        """The reload threads started by this test."""
        return [
            t for t in threading.enumerate() if t.name == "atb-registry-watch" and t not in earlier
        ]

    registry.watch(interval=0.02, callback=first.append)
    deadline = time.monotonic() + 60  # a bound for a stuck test, not a timing assertion
    while not first and time.monotonic() < deadline:
        time.sleep(0.01)
    [first_thread] = watchers()
    registry.watch(interval=0.02, callback=second.append)
    assert not first_thread.is_alive()
    assert len(watchers()) == 1 and watchers()[0] is not first_thread
    calls = len(first)
    while len(second) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(second) >= 3 and len(first) == calls
    registry.stop_watching()
    assert watchers() == [] and not registry.watching


def test_registry_module_exports() -> None:
    assert registry_module.PredictionModelRegistry is PredictionModelRegistry
    assert registry_module.StrategyModel is StrategyModel


def test_list_bundles_is_sorted_by_key_not_by_folder(tmp_path: Path) -> None:
    """Folders scan as (symbol, model type); keys sort as (symbol, timeframe, model type)."""
    root = tmp_path / "registry"
    for model_type, timeframe in (("alpha", "4h"), ("beta", "1h")):
        metadata = standard_metadata("S", model_type, V1, seq=4, features=3, timeframe=timeframe)
        write_bundle(root, "S", model_type, V1, model=affine_model(), metadata=metadata)
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(root)))
    keys = [bundle.key for bundle in registry.list_bundles()]
    assert keys == [f"S:1h:beta:{V1}", f"S:4h:alpha:{V1}"]


def test_a_version_is_opened_once_when_two_threads_pin_it_together(
    fixture_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The double-checked pinning lock: the first thread to open a version holds the others
    back (here it waits a moment for a second one to arrive), and they then find it pinned."""
    import threading

    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(fixture_registry)))
    key = "BTCUSDT:1h:basic:2025-10-26_21h_v1"
    opened = []
    second_arrived = threading.Event()
    from atb_prediction.models import registry as registry_module

    real_open = registry_module.open_version

    def slow_open(*args: object) -> object:
        opened.append(args)
        if len(opened) == 1:
            second_arrived.wait(timeout=1.0)  # with the lock, nobody comes: go on after 1 s
        else:
            second_arrived.set()
        return real_open(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(registry_module, "open_version", slow_open)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(registry.get_bundle_by_key(key)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert len(opened) == 1
    assert results[0] is not None and results[0] is results[1]
