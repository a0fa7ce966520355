"""Drop-in tests, written against upstream's documented behaviour (``upstream-contract.md`` and
the drop-in issue) without importing upstream code: its cache manager protocol, its warnings,
its defaults, and objects that survive a process pool."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import multiprocessing
import pickle
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from atb_prediction import (
    InferenceError,
    InvalidInputError,
    ModelLoadError,
    ModelNotAvailableError,
    ModelPrediction,
    OnnxRunner,
    OnnxSession,
    PredictionConfig,
    PredictionError,
    PredictionModelRegistry,
    StrategyModel,
    TensorInfo,
)
from conftest import affine_model, linear_model, write_bundle

V1 = "2025-01-01_1h_v1"
NAMES = ["a", "b", "c"]
REGRESSION = {
    "timeframe": "1h",
    "feature_names": NAMES,
    "normalization_params": {name: {"mean": 1.0, "std": 2.0} for name in NAMES},
}


class UpstreamStyleCache:
    """A cache manager with upstream's ``PredictionCacheManager`` signatures, keyed the way
    upstream's manager keys (sha256 of the feature bytes, the config as sorted JSON)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.calls: list[str] = []
        self.failing: set[str] = set()

    def _key(self, features: Any, model_name: str, config: dict[str, Any]) -> tuple[str, str, str]:
        digest = hashlib.sha256(np.asarray(features).tobytes()).hexdigest()
        return (model_name, json.dumps(config, sort_keys=True), digest)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.failing:
            raise ConnectionError(f"database down during {name}")

    def get(self, features: Any, model_name: str, config: dict[str, Any]) -> dict[str, Any] | None:
        self._call("get")
        return self.entries.get(self._key(features, model_name, config))

    def set(
        self,
        features: Any,
        model_name: str,
        config: dict[str, Any],
        price: float,
        confidence: float,
        direction: int,
    ) -> None:
        self._call("set")
        self.entries[self._key(features, model_name, config)] = {
            "price": price,
            "confidence": confidence,
            "direction": direction,
        }

    def invalidate_model(self, model_name: str) -> int:
        self._call("invalidate_model")
        doomed = [key for key in self.entries if key[0] == model_name]
        for key in doomed:
            del self.entries[key]
        return len(doomed)

    def invalidate_config(self, model_name: str, config: dict[str, Any]) -> int:
        self._call("invalidate_config")
        text = json.dumps(config, sort_keys=True)
        doomed = [key for key in self.entries if key[:2] == (model_name, text)]
        for key in doomed:
            del self.entries[key]
        return len(doomed)

    def clear(self) -> int:
        self._call("clear")
        count = len(self.entries)
        self.entries.clear()
        return count


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    write_bundle(
        root, "BTCUSDT", "basic", V1, model=linear_model(seq=4, features=3), metadata=REGRESSION
    )
    write_bundle(
        root,
        "BTCUSDT",
        "ternary",
        V1,
        model=affine_model(bias=(0.2, 0.3, 0.5), activation="softmax"),
        metadata={
            "timeframe": "1h",
            "task_type": "ternary_classification",
            "class_labels": [-1, 0, 1],
        },
    )
    return root


def registry(root: Path, cache: Any = None, **config: Any) -> PredictionModelRegistry:
    return PredictionModelRegistry(PredictionConfig(model_registry_path=str(root), **config), cache)


def basic(registry: PredictionModelRegistry) -> StrategyModel:
    return registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h")


def fields(prediction: ModelPrediction) -> tuple[Any, ...]:
    return (prediction.price, prediction.confidence, prediction.direction, prediction.model_name)


WINDOWS = [np.random.default_rng(seed).normal(size=(4, 3)) for seed in range(3)]


# --- the cache manager protocol ------------------------------------------------------------------


def test_an_upstream_cache_manager_serves_hits_and_misses_like_no_cache(root: Path) -> None:
    uncached = basic(registry(root, prediction_cache_enabled=False)).runner
    cache = UpstreamStyleCache()
    bundle = basic(registry(root, cache))
    expected = [fields(uncached.predict(window)) for window in WINDOWS]
    misses = [bundle.runner.predict(window) for window in WINDOWS]
    assert cache.calls == ["get", "set"] * 3
    hits = [bundle.runner.predict(window.copy()) for window in WINDOWS]
    assert cache.calls[6:] == ["get"] * 3
    assert [fields(p) for p in misses] == expected == [fields(p) for p in hits]
    assert all(hit.probabilities is None and hit.inference_time >= 0 for hit in hits)
    model_name, config_text, digest = next(iter(cache.entries))
    assert model_name == bundle.key  # a kept difference: upstream passes "model.onnx"
    assert json.loads(config_text) == {
        "confidence_scale_factor": 10.0,
        "direction_threshold": 0.01,
        "normalization_params": REGRESSION["normalization_params"],
    }
    assert digest == hashlib.sha256(WINDOWS[0].tobytes()).hexdigest()  # the caller's array


def test_a_hit_returns_the_cached_values(root: Path) -> None:
    cache = UpstreamStyleCache()
    bundle = basic(registry(root, cache))
    cache.set(WINDOWS[0], bundle.key, bundle.runner.cache_config, 42.0, 0.5, -1)
    hit = bundle.runner.predict(WINDOWS[0])
    assert isinstance(hit, ModelPrediction)
    assert fields(hit) == (42.0, 0.5, -1, bundle.key) and hit.probabilities is None


def test_classifications_and_disabled_caching_never_call_the_manager(root: Path) -> None:
    cache = UpstreamStyleCache()
    reg = registry(root, cache)
    ternary = reg.select_bundle(symbol="BTCUSDT", model_type="ternary", timeframe="1h")
    ternary.runner.predict(WINDOWS[0])
    assert cache.calls == []
    basic(registry(root, cache, prediction_cache_enabled=False)).runner.predict(WINDOWS[0])
    assert cache.calls == []


@pytest.mark.parametrize("failing", ["get", "set"])
def test_a_failing_cache_never_fails_a_prediction(
    root: Path, failing: str, caplog: pytest.LogCaptureFixture
) -> None:
    expected = fields(
        basic(registry(root, prediction_cache_enabled=False)).runner.predict(WINDOWS[0])
    )
    cache = UpstreamStyleCache()
    cache.failing.add(failing)
    runner = basic(registry(root, cache)).runner
    with caplog.at_level(logging.WARNING, logger="atb_prediction"):
        for _ in range(3):
            assert fields(runner.predict(WINDOWS[0]))[:3] == expected[:3]
    failures = [r for r in caplog.records if "ConnectionError" in r.getMessage()]
    assert len(failures) == 1  # rate-limited, not one per call
    assert f"database down during {failing}" in failures[0].getMessage()
    assert failures[0].name == "atb_prediction"


@pytest.mark.parametrize(
    "answer", [{"price": 1.0}, {"price": "x", "confidence": 1, "direction": 0}, 42]
)
def test_a_malformed_hit_is_a_miss(root: Path, answer: Any) -> None:
    cache = UpstreamStyleCache()
    runner = basic(registry(root, cache)).runner
    cache.get = lambda *args: answer  # type: ignore[method-assign]
    uncached = basic(registry(root, prediction_cache_enabled=False)).runner
    assert fields(runner.predict(WINDOWS[0]))[:3] == fields(uncached.predict(WINDOWS[0]))[:3]


def test_reload_and_invalidation_survive_a_failing_or_silent_manager(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = UpstreamStyleCache()
    reg = registry(root, cache)
    cache.failing.update({"clear", "invalidate_model"})
    # a newer version: the reload drops the replaced bundle's entries from the manager
    write_bundle(
        root,
        "BTCUSDT",
        "basic",
        "2025-01-02_1h_v1",
        model=linear_model(seq=4, features=3),
        metadata=REGRESSION,
    )
    with caplog.at_level(logging.WARNING, logger="atb_prediction"):
        assert reg.reload_models().changed == ("BTCUSDT:1h:basic:2025-01-02_1h_v1",)
        assert reg.invalidate_cache() == 0
        assert reg.invalidate_cache(basic(reg).key) == 0
    failures = [r.getMessage() for r in caplog.records if "ConnectionError" in r.getMessage()]
    assert any(m.startswith("clearing") for m in failures)
    assert sum(m.startswith("invalidating") for m in failures) >= 2  # the reload's and ours
    assert basic(reg).runner.predict(WINDOWS[0]).model_name == basic(reg).key

    cache.failing.clear()
    cache.clear = lambda: None  # type: ignore[method-assign]
    cache.invalidate_model = lambda model_name: None  # type: ignore[method-assign]
    reg.reload_models()
    assert reg.invalidate_cache() == 0
    assert reg.invalidate_cache(basic(reg).key) == 0


def test_invalidation_reaches_the_manager_by_bundle_key(root: Path) -> None:
    cache = UpstreamStyleCache()
    reg = registry(root, cache)
    for window in WINDOWS:
        basic(reg).runner.predict(window)
    assert reg.invalidate_cache(basic(reg).key) == 3
    assert cache.calls[-1] == "invalidate_model"


# --- warnings ------------------------------------------------------------------------------------


def warnings_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, metadata: dict[str, Any], *, bias: float = 0.1
) -> list[str]:
    """The warnings a runner logs over three predictions (and a batch) of ``metadata``'s bundle."""
    directory = write_bundle(
        tmp_path,
        "S",
        "t",
        f"v{len(list(tmp_path.iterdir()))}",
        model=affine_model(bias=(bias,)),
        metadata=metadata,
    )
    with caplog.at_level(logging.WARNING, logger="atb_prediction"):
        caplog.clear()
        runner = OnnxRunner(
            directory / "model.onnx", PredictionConfig(prediction_cache_enabled=False)
        )
        for _ in range(3):
            runner.predict(np.ones((4, 3)))
        runner.predict_batch(np.ones((2, 4, 3)))
    return [r.getMessage() for r in caplog.records if r.name == "atb_prediction"]


def with_a(params: str) -> str:
    """Metadata text (which may hold NaN/Infinity tokens) with ``params`` for feature ``a``."""
    rest = '{"mean": 0.0, "std": 1.0}'
    return (
        f'{{"feature_names": ["a", "b", "c"], "normalization_params": '
        f'{{"a": {params}, "b": {rest}, "c": {rest}}}}}'
    )


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"normalization_params": {n: {"mean": 0.0} for n in NAMES}}, ["no feature_names"]),
        (
            {"normalization_params": {"a": {"mean": 0.0}, "b": {"mean": 0.0}}},
            ["no feature_names", "normalization_params has 2 features but input has 3"],
        ),
        (
            {"feature_names": NAMES, "normalization_params": {"a": {"mean": 0.0}}},
            ['feature_names "b", "c" have no normalization_params entry'],
        ),
        (with_a('{"mean": 0.0, "std": 0.0}'), ['["a"] has a zero or non-finite std']),
        (with_a('{"mean": 0.0, "std": NaN}'), ['["a"] has a zero or non-finite std']),
        (with_a('{"mean": 0.0, "std": -Infinity}'), ['["a"] has a zero or non-finite std']),
        (with_a('{"mean": NaN}'), ['["a"] has a non-finite mean']),
        ({"price_normalization": {"mean": 100.0}}, ["price_normalization has no mean/std"]),
        (
            '{"price_normalization": {"mean": 100.0, "std": NaN}}',
            ["price_normalization has a non-finite mean or std"],
        ),
        ({"price_normalization": {"mean": 100.0, "std": 0.0}}, ["price_normalization has std 0"]),
        ({"price_normalization": {"method": "rolling_minmax"}}, []),
        ({"feature_names": NAMES, "normalization_params": {n: {"mean": 1.0} for n in NAMES}}, []),
    ],
)
def test_upstreams_warnings_are_logged_once_per_runner(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, metadata: Any, expected: list[str]
) -> None:
    if isinstance(metadata, dict):
        metadata = json.dumps(metadata)
    messages = warnings_of(tmp_path, caplog, metadata)
    assert len(messages) == len(expected), messages
    for message, part in zip(messages, expected, strict=True):
        assert part in message and "model.onnx" in message


def test_the_legacy_feature_count_warning_is_upstreams_once_per_runner(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metadata = {"normalization_params": {"a": {"mean": 0.0}, "b": {"mean": 0.0}}}
    directory = write_bundle(tmp_path, "S", "t", "v1", model=affine_model(), metadata=metadata)
    path = directory / "model.onnx"
    # Upstream's wording, word for word, after the model it is about.
    expected = (
        f"{path}: Feature count mismatch in legacy normalization: normalization_params has 2 "
        "features but input has 3. Extra features will be left unnormalized, which may produce "
        "incorrect predictions."
    )
    config = PredictionConfig(prediction_cache_enabled=False)
    with caplog.at_level(logging.WARNING, logger="atb_prediction"):
        for _ in range(2):  # each runner warns once, for predict and predict_batch together
            runner = OnnxRunner(path, config)
            caplog.clear()
            for _ in range(3):
                runner.predict(np.ones((4, 3)))
                runner.predict_batch(np.ones((2, 4, 3)))
            assert [r.getMessage() for r in caplog.records] == [expected]


def test_a_non_finite_output_is_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    messages = warnings_of(tmp_path, caplog, {"timeframe": "1h"}, bias=float("nan"))
    assert len(messages) == 1 and "NaN or infinite" in messages[0]


def test_nothing_is_printed_unless_logging_is_configured(tmp_path: Path) -> None:
    directory = write_bundle(
        tmp_path,
        "S",
        "t",
        "v1",
        model=affine_model(),
        metadata={"price_normalization": {"mean": 1}},
    )
    script = textwrap.dedent(
        f"""
        import logging, sys
        import numpy as np
        from atb_prediction import OnnxRunner
        OnnxRunner({str(directory / "model.onnx")!r}).predict(np.ones((4, 3)))
        if sys.argv[1] == "configured":
            logging.basicConfig()
            OnnxRunner({str(directory / "model.onnx")!r}).predict(np.ones((4, 3)))
        """
    )
    quiet = subprocess.run(
        [sys.executable, "-c", script, "quiet"], capture_output=True, text=True, check=True
    )
    assert quiet.stderr == "" and quiet.stdout == ""
    loud = subprocess.run(
        [sys.executable, "-c", script, "configured"], capture_output=True, text=True, check=True
    )
    assert "price_normalization has no mean/std" in loud.stderr


# --- defaults and shapes -------------------------------------------------------------------------


def test_metrics_and_feature_schema_default_to_empty_dicts(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    write_bundle(root, "BTCUSDT", "basic", V1, model=affine_model(), metadata={"timeframe": "1h"})
    bundle = basic(registry(root))
    assert bundle.metrics == {} and bundle.feature_schema == {}
    assert bundle.metrics.get("rmse") is None


def test_model_prediction_is_upstreams_frozen_dataclass() -> None:
    prediction = ModelPrediction(101.5, 0.75, 1, "model.onnx", 0.002)
    assert [f.name for f in dataclasses.fields(ModelPrediction)] == [
        "price",
        "confidence",
        "direction",
        "model_name",
        "inference_time",
        "probabilities",
    ]
    assert dataclasses.asdict(prediction)["price"] == 101.5
    assert dataclasses.replace(prediction, direction=-1).direction == -1
    assert copy.copy(prediction) == prediction == copy.deepcopy(prediction)
    assert pickle.loads(pickle.dumps(prediction)) == prediction
    with pytest.raises(dataclasses.FrozenInstanceError):
        prediction.price = 1.0  # type: ignore[misc]
    assert hash(prediction) == hash(ModelPrediction(101.5, 0.75, 1, "model.onnx", 0.002))


def test_predictions_from_rust_are_real_dataclass_instances(root: Path) -> None:
    runner = basic(registry(root)).runner
    for prediction in (runner.predict(WINDOWS[0]), runner.predict(WINDOWS[0])):  # miss, then hit
        assert type(prediction) is ModelPrediction
        assert dataclasses.replace(prediction) == prediction
        assert pickle.loads(pickle.dumps(prediction)) == prediction
    ternary = registry(root).select_bundle(symbol="BTCUSDT", model_type="ternary", timeframe="1h")
    classified = ternary.runner.predict(WINDOWS[0])
    assert isinstance(classified.probabilities, tuple) and len(classified.probabilities) == 3
    assert pickle.loads(pickle.dumps(classified)).probabilities == classified.probabilities


def test_configs_tensor_infos_and_errors_pickle(tmp_path: Path) -> None:
    config = PredictionConfig(model_registry_path="x", providers=["CPUExecutionProvider"])
    assert pickle.loads(pickle.dumps(config)) == config
    path = tmp_path / "model.onnx"
    path.write_bytes(affine_model())
    info = OnnxSession(path).inputs[0]
    assert isinstance(info, TensorInfo)
    assert pickle.loads(pickle.dumps(info)) == info
    assert TensorInfo("x", np.float32, [None, 4]) == TensorInfo("x", "float32", (None, 4))
    for error in (
        PredictionError("p"),
        ModelLoadError("m"),
        ModelNotAvailableError("n"),
        InvalidInputError("i"),
        InferenceError("e"),
    ):
        copy_ = pickle.loads(pickle.dumps(error))
        assert type(copy_) is type(error) and copy_.args == error.args


def test_sessions_pickle_by_reference_to_their_file(tmp_path: Path) -> None:
    model = linear_model(seq=4, features=3)
    path = tmp_path / "model.onnx"
    path.write_bytes(model)
    session = OnnxSession(path, intra_op_threads=1)
    data = pickle.dumps(session)
    assert len(data) < 1000 and model[-200:] not in data
    reopened = pickle.loads(data)
    assert reopened.origin == session.origin
    window = np.ones((1, 4, 3), dtype=np.float32)
    assert np.array_equal(reopened.run(window)[0], session.run(window)[0])
    with pytest.raises(TypeError, match="opened from bytes"):
        pickle.dumps(OnnxSession(model))


def test_a_runner_outside_a_registry_pickles_by_reference(tmp_path: Path) -> None:
    directory = write_bundle(
        tmp_path, "S", "t", "v1", model=linear_model(seq=4, features=3), metadata=REGRESSION
    )
    runner = OnnxRunner(directory / "model.onnx")
    copy_ = pickle.loads(pickle.dumps(runner))
    assert copy_.model_path == runner.model_path and copy_.cache_config == runner.cache_config
    assert fields(copy_.predict(WINDOWS[1])) == fields(runner.predict(WINDOWS[1]))


def predict_all(bundle: StrategyModel, windows: list[np.ndarray]) -> list[ModelPrediction]:
    """A worker's backtest: every window through an unpickled bundle."""
    return [bundle.runner.predict(window) for window in windows]


def test_a_process_pool_backtest_returns_model_predictions(root: Path) -> None:
    bundle = basic(registry(root))
    data = pickle.dumps(bundle)
    assert (root / "BTCUSDT" / "basic" / V1 / "model.onnx").read_bytes()[-200:] not in data
    expected = [fields(p) for p in predict_all(bundle, WINDOWS)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        results = list(pool.map(predict_all, [bundle, bundle], [WINDOWS[:2], WINDOWS[2:]]))
        runner_result = pool.submit(OnnxRunner.predict, bundle.runner, WINDOWS[0]).result()
    predictions = [p for chunk in results for p in chunk]
    assert all(type(p) is ModelPrediction for p in predictions)
    assert [fields(p) for p in predictions] == expected
    assert fields(runner_result) == expected[0]


# --- runtime discovery ---------------------------------------------------------------------------

STUBS = {
    "no spec": "stub = types.ModuleType('onnxruntime')",
    "spec without a location": (
        "stub = types.ModuleType('onnxruntime')\n"
        "stub.__spec__ = importlib.machinery.ModuleSpec('onnxruntime', None)"
    ),
}


@pytest.mark.parametrize("stub", sorted(STUBS))
def test_a_stub_onnxruntime_module_does_not_break_loading(tmp_path: Path, stub: str) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(affine_model(bias=(2.5,)))
    script = "\n".join(
        [
            "import importlib.machinery, os, sys, types",
            "os.environ.pop('ORT_DYLIB_PATH', None)",
            STUBS[stub],
            "sys.modules['onnxruntime'] = stub",
            "import numpy as np",
            "from atb_prediction import OnnxSession",
            f"print(OnnxSession({str(path)!r}).run(np.ones((1, 4, 3), np.float32))[0][0, 0])",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert float(result.stdout) == 2.5
