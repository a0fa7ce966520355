"""``StrategyModel`` as upstream builds and uses it: by keyword, with any runner, its fields plain
attributes; and the registry's bundles, which read the Rust bundle without copying it first.

The engine-like flow below follows how upstream's ``PredictionEngine`` reaches a bundle (its
``_resolve_bundle``, ``predict``, ``_apply_rolling_denormalization``, ensemble filter and
``get_model_info``), so a strategy or test that builds bundles by hand runs unchanged.
"""

from __future__ import annotations

import copy
import inspect
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from atb_prediction import (
    ModelNotAvailableError,
    ModelPrediction,
    OnnxRunner,
    PredictionConfig,
    PredictionModelRegistry,
    StrategyModel,
)
from conftest import affine_model, write_bundle

V1 = "2025-01-01_1h_v1"
V2 = "2025-02-01_1h_v2"

#: Upstream's constructor, parameter by parameter: all keyword-only and required.
UPSTREAM_PARAMETERS = [
    "symbol",
    "timeframe",
    "model_type",
    "version_id",
    "directory",
    "metadata",
    "feature_schema",
    "metrics",
    "runner",
]


class StandInRunner:
    """What upstream's engine tests hand a bundle: anything with ``predict``."""

    def __init__(self, price: float, name: str = "stand-in") -> None:
        self.price = price
        self.name = name
        self.calls: list[np.ndarray] = []

    def predict(self, features: np.ndarray) -> ModelPrediction:
        self.calls.append(features)
        return ModelPrediction(self.price, 0.5, 1, self.name, 0.001)


def stand_in_bundle(
    runner: Any,
    *,
    symbol: str = "BTCUSDT",
    model_type: str = "basic",
    version: str = "v1",
    metadata: dict[str, Any] | None = None,
) -> StrategyModel:
    """Upstream's test helper, as its engine tests write it."""
    return StrategyModel(
        symbol=symbol,
        timeframe="1h",
        model_type=model_type,
        version_id=version,
        directory=Path(f"/tmp/{symbol}/{model_type}/{version}"),
        metadata=metadata or {},
        feature_schema=None,
        metrics=None,
        runner=runner,
    )


class ListRegistry:
    """The registry calls upstream's engine makes, over a list of bundles (what its tests mock)."""

    def __init__(self, bundles: list[StrategyModel], by_key: dict[str, StrategyModel]) -> None:
        self.bundles = bundles
        self.by_key = by_key

    def list_bundles(self) -> list[StrategyModel]:
        return list(self.bundles)

    def get_default_bundle(self) -> StrategyModel:
        return self.bundles[0]

    def get_bundle_by_key(self, key: str) -> StrategyModel | None:
        return self.by_key.get(key)


class EngineLike:
    """The part of upstream's ``PredictionEngine`` that touches bundles, step by step."""

    def __init__(self, registry: Any) -> None:
        self.model_registry = registry

    def resolve_bundle(self, model_name: str | None) -> StrategyModel:
        bundles = list(self.model_registry.list_bundles())
        if model_name:
            for bundle in bundles:
                if bundle.key == model_name:
                    return bundle
            pinned: StrategyModel | None = self.model_registry.get_bundle_by_key(model_name)
            if pinned is not None:
                return pinned
        if not bundles:
            raise ModelNotAvailableError("No strategy models available")
        default: StrategyModel = self.model_registry.get_default_bundle()
        return default

    def predict(self, data: pd.DataFrame, features: np.ndarray, model_name: str | None) -> float:
        bundle = self.resolve_bundle(model_name)
        prediction = bundle.runner.predict(features)
        return self.denormalize(prediction.price, bundle, data)

    @staticmethod
    def denormalize(price: float, bundle: StrategyModel, data: pd.DataFrame) -> float:
        metadata = bundle.metadata
        if not metadata:
            return price
        scaling = metadata.get("price_normalization", {})
        if scaling.get("method") != "rolling_minmax":
            return price
        window = data[scaling.get("target_feature", "close")].tail(scaling.get("window", len(data)))
        low, high = float(window.min()), float(window.max())
        return low if high == low else price * (high - low) + low

    def ensemble_members(self, bundle: StrategyModel) -> list[StrategyModel]:
        return [
            b
            for b in self.model_registry.list_bundles()
            if (b.symbol, b.timeframe, b.model_type)
            == (bundle.symbol, bundle.timeframe, bundle.model_type)
        ]

    def model_info(self, model_name: str) -> dict[str, Any]:
        bundle = self.resolve_bundle(model_name)
        return {
            "name": bundle.key,
            "path": getattr(bundle.runner, "model_path", None),
            "metadata": bundle.metadata,
        }


BARS = pd.DataFrame({"close": [10.0, 14.0, 12.0, 11.0], "volume": [1.0, 2.0, 3.0, 4.0]})


# --- construction --------------------------------------------------------------------------------


def test_the_constructor_is_upstreams_keyword_form() -> None:
    parameters = inspect.signature(StrategyModel).parameters
    assert list(parameters) == UPSTREAM_PARAMETERS
    assert {p.kind for p in parameters.values()} == {inspect.Parameter.KEYWORD_ONLY}
    assert all(p.default is inspect.Parameter.empty for p in parameters.values())
    with pytest.raises(TypeError):
        StrategyModel(StandInRunner(1.0))  # type: ignore[call-arg,misc]


def test_fields_are_the_values_given_and_missing_documents_are_empty_dicts() -> None:
    runner = StandInRunner(101.0)
    metadata = {"timeframe": "1h", "stage": "production"}
    bundle = StrategyModel(
        symbol="ETHUSDT",
        timeframe="4h",
        model_type="sentiment",
        version_id="2026-01-01_4h_v3",
        directory=Path("/models/ETHUSDT/sentiment/2026-01-01_4h_v3"),
        metadata=metadata,
        feature_schema=None,
        metrics={},
        runner=runner,
    )
    assert (bundle.symbol, bundle.timeframe, bundle.model_type, bundle.version_id) == (
        "ETHUSDT",
        "4h",
        "sentiment",
        "2026-01-01_4h_v3",
    )
    assert bundle.directory == Path("/models/ETHUSDT/sentiment/2026-01-01_4h_v3")
    assert bundle.metadata is metadata  # kept as given, as upstream keeps it
    assert bundle.feature_schema == {} and bundle.metrics == {}
    assert bundle.runner is runner
    assert bundle.key == "ETHUSDT:4h:sentiment:2026-01-01_4h_v3"
    assert bundle.problems == ()
    assert repr(bundle) == "StrategyModel('ETHUSDT:4h:sentiment:2026-01-01_4h_v3')"


def test_fields_write_like_plain_attributes_and_the_key_follows() -> None:
    bundle = stand_in_bundle(StandInRunner(1.0))
    bundle.version_id = "v9"
    bundle.timeframe = "15m"
    assert bundle.key == "BTCUSDT:15m:basic:v9"
    bundle.metadata["stage"] = "candidate"
    assert bundle.metadata == {"stage": "candidate"}
    bundle.metadata = {"replaced": True}
    bundle.feature_schema = {"features": []}
    bundle.metrics = {"rmse": 0.5}
    other = StandInRunner(2.0)
    bundle.runner = other
    assert bundle.metadata == {"replaced": True}
    assert bundle.feature_schema == {"features": []} and bundle.metrics == {"rmse": 0.5}
    assert bundle.runner is other
    assert vars(bundle)["metadata"] == {"replaced": True}


def test_a_stand_in_bundle_pickles_and_copies_with_its_fields() -> None:
    bundle = stand_in_bundle(StandInRunner(3.0), metadata={"a": 1})
    for clone in (pickle.loads(pickle.dumps(bundle)), copy.deepcopy(bundle)):
        assert clone.key == bundle.key and clone.metadata == {"a": 1}
        assert clone.runner.predict(np.zeros(3)).price == 3.0


# --- an engine-like flow -------------------------------------------------------------------------


def test_an_engine_resolves_and_predicts_through_stand_in_bundles() -> None:
    default = stand_in_bundle(StandInRunner(100.0, "default"))
    specific = stand_in_bundle(StandInRunner(0.5, "specific"), symbol="ETHUSDT", version="v2")
    rolling = stand_in_bundle(
        StandInRunner(0.25, "rolling"),
        model_type="price",
        metadata={"price_normalization": {"method": "rolling_minmax", "window": 3}},
    )
    pinned = stand_in_bundle(StandInRunner(7.0, "pinned"), version="v0")
    engine = EngineLike(ListRegistry([default, specific, rolling], {pinned.key: pinned}))
    features = np.ones((4, 2), dtype=np.float32)

    assert engine.predict(BARS, features, None) == 100.0
    assert engine.predict(BARS, features, "ETHUSDT:1h:basic:v2") == 0.5
    # The last 3 closes are 14, 12, 11: 0.25 of the way from 11 to 14.
    assert engine.predict(BARS, features, rolling.key) == 0.25 * (14.0 - 11.0) + 11.0
    assert engine.predict(BARS, features, "BTCUSDT:1h:basic:v0") == 7.0
    assert engine.predict(BARS, features, "no:such:model:key") == 100.0
    assert all(r.runner.calls[0] is features for r in (default, specific, rolling, pinned))
    assert engine.ensemble_members(default) == [default]
    assert engine.model_info(specific.key) == {
        "name": "ETHUSDT:1h:basic:v2",
        "path": None,
        "metadata": {},
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    for version, bias in ((V1, 0.5), (V2, 0.75)):
        write_bundle(
            root,
            "BTCUSDT",
            "basic",
            version,
            model=affine_model(bias=(bias,)),
            metadata={
                "timeframe": "1h",
                "stage": "production",
                "price_normalization": {"method": "rolling_minmax", "window": 3},
            },
            metrics={"rmse": 0.125},
        )
    (root / "BTCUSDT" / "basic" / "latest").symlink_to(V2)
    return root


def registry_of(root: Path) -> PredictionModelRegistry:
    return PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(root), prediction_cache_enabled=False)
    )


def test_an_engine_runs_on_the_registry_and_on_bundles_built_around_its_runners(
    root: Path,
) -> None:
    registry = registry_of(root)
    engine = EngineLike(registry)
    window = np.zeros((4, 3), dtype=np.float32)
    low, high = 11.0, 14.0
    assert engine.predict(BARS, window, None) == 0.75 * (high - low) + low
    assert engine.predict(BARS, window, f"BTCUSDT:1h:basic:{V1}") == 0.5 * (high - low) + low

    served = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h")
    assert engine.ensemble_members(served) == [served]
    info = engine.model_info(served.key)
    assert info["path"] == str(root / "BTCUSDT/basic" / V2 / "model.onnx")
    assert info["metadata"]["version_id"] == V2 and info["metadata"]["stage"] == "production"

    # A strategy that wraps the registry's runner in a bundle of its own, upstream's way.
    rebuilt = StrategyModel(
        symbol=served.symbol,
        timeframe=served.timeframe,
        model_type=served.model_type,
        version_id=served.version_id,
        directory=served.directory,
        metadata=dict(served.metadata),
        feature_schema=served.feature_schema,
        metrics=served.metrics,
        runner=served.runner,
    )
    assert rebuilt.key == served.key and rebuilt.problems == served.problems == ()
    hand_built = EngineLike(ListRegistry([rebuilt], {}))
    assert hand_built.predict(BARS, window, None) == engine.predict(BARS, window, None)


# --- the registry's bundles ----------------------------------------------------------------------


def test_a_registry_bundle_reads_the_rust_bundle_and_converts_json_on_first_read(
    root: Path,
) -> None:
    bundle = registry_of(root).select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h")
    assert isinstance(bundle.runner, OnnxRunner)
    assert bundle._opened is bundle.runner.bundle
    assert {"metadata", "feature_schema", "metrics"}.isdisjoint(vars(bundle))
    assert bundle.metrics == {"rmse": 0.125}
    assert bundle.metrics is bundle.metrics  # converted once, then a plain attribute
    assert "metrics" in vars(bundle) and "metadata" not in vars(bundle)
    assert bundle.metadata == {
        "symbol": "BTCUSDT",
        "model_type": "basic",
        "version_id": V2,
        "timeframe": "1h",
        "stage": "production",
        "price_normalization": {"method": "rolling_minmax", "window": 3},
    }
    assert bundle.feature_schema == {}
    assert bundle.directory == root / "BTCUSDT" / "basic" / V2
    assert bundle.key == f"BTCUSDT:1h:basic:{V2}"


def test_from_runner_describes_a_runner_opened_from_a_file(tmp_path: Path) -> None:
    directory = write_bundle(
        tmp_path,
        "S",
        "t",
        "v1",
        model=affine_model(bias=(2.0,)),
        metadata={"timeframe": "1h"},
    )
    runner = OnnxRunner(directory / "model.onnx", PredictionConfig(prediction_cache_enabled=False))
    bundle = StrategyModel.from_runner(runner)
    assert bundle.runner is runner and bundle._opened is runner.bundle
    assert (bundle.symbol, bundle.model_type, bundle.version_id) == (
        runner.bundle.symbol,
        runner.bundle.model_type,
        runner.bundle.version_id,
    )
    assert bundle.metadata["timeframe"] == "1h"
    assert bundle.runner.predict(np.zeros((4, 3))).price == 2.0


def test_a_written_field_of_a_registry_bundle_is_never_read_from_the_rust_bundle_again(
    root: Path,
) -> None:
    registry = registry_of(root)
    bundle = registry.get_bundle_by_key(f"BTCUSDT:1h:basic:{V1}", pin=False)
    assert bundle is not None
    bundle.metadata = {"mine": 1}
    bundle.metrics = None  # type: ignore[assignment]  # upstream's attributes take anything
    assert bundle.metadata == {"mine": 1} and bundle.metrics is None
    assert bundle.feature_schema == {}


def test_a_registry_bundle_pickles_with_its_documents_as_values(root: Path) -> None:
    bundle = registry_of(root).select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h")
    clone = pickle.loads(pickle.dumps(bundle))
    assert clone._opened is None
    assert clone.key == bundle.key and clone.directory == bundle.directory
    assert (clone.metadata, clone.feature_schema, clone.metrics) == (
        bundle.metadata,
        bundle.feature_schema,
        bundle.metrics,
    )
    window = np.zeros((4, 3), dtype=np.float32)
    assert math.isclose(clone.runner.predict(window).price, bundle.runner.predict(window).price)
