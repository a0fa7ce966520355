"""Tests of ``OnnxRunner.predict`` / ``predict_batch``: upstream's semantics, done in Rust.

Each expected value comes from ``upstream_predict`` (conftest): upstream's ``OnnxRunner.predict``
written out with numpy and the ``onnxruntime`` package, on the same model bytes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from atb_prediction import (
    InferenceError,
    InferenceTimeoutError,
    InvalidInputError,
    ModelLoadError,
    ModelPrediction,
    OnnxRunner,
    OnnxSession,
    PredictionConfig,
    PredictionError,
    PredictionModelRegistry,
)
from atb_prediction.models import exceptions as exceptions_module
from atb_prediction.models import onnx_runner as onnx_runner_module
from conftest import (
    affine_model,
    linear_model,
    lstm_model,
    reference_session,
    slow_model,
    slow_window_model,
    upstream_predict,
    write_bundle,
)
from onnx import TensorProto, helper, numpy_helper

NAMES = ["close", "volume", "high"]
NORMALIZED = {
    "feature_names": NAMES,
    "normalization_params": {
        "close": {"mean": 100.0, "std": 20.0},
        "high": {"mean": -3.0, "std": 0.5},
    },
    "price_normalization": {"mean": 1000.0, "std": 50.0},
}


def runner_for(
    tmp_path: Path, model: bytes, metadata: dict[str, Any] | str | None = None, **config: Any
) -> OnnxRunner:
    """An ``OnnxRunner`` on a bundle folder written in ``tmp_path`` (no cache unless asked)."""
    config.setdefault("prediction_cache_enabled", False)
    directory = write_bundle(
        tmp_path,
        "S",
        "t",
        f"v{len(list(tmp_path.rglob('*.onnx')))}",
        model=model,
        metadata=metadata,
    )
    return OnnxRunner(directory / "model.onnx", PredictionConfig(**config))


def assert_prediction(
    prediction: ModelPrediction, expected: dict[str, Any], *, rel: float = 1e-5
) -> None:
    if math.isnan(expected["price"]):
        assert math.isnan(prediction.price)
    else:
        assert prediction.price == pytest.approx(expected["price"], rel=rel, abs=1e-6)
    assert prediction.confidence == pytest.approx(expected["confidence"], rel=rel, abs=1e-6)
    assert prediction.direction == expected["direction"]
    if expected["probabilities"] is None:
        assert prediction.probabilities is None
    else:
        assert isinstance(prediction.probabilities, tuple)
        assert prediction.probabilities == pytest.approx(expected["probabilities"], abs=1e-6)


# --- input shapes, dtypes and layouts ------------------------------------------------------------


def test_one_two_and_three_dimensional_windows_give_the_same_result(tmp_path: Path) -> None:
    model = linear_model(seq=1, features=3, seed=3)
    runner = runner_for(tmp_path, model, {"timeframe": "1h"})
    row = np.array([0.5, -2.0, 7.0])
    expected = upstream_predict(model, {}, row)
    for features in (row, row.reshape(1, 3), row.reshape(1, 1, 3)):
        assert_prediction(runner.predict(features), expected)
    assert runner.predict(row).price == runner.predict(row.reshape(1, 1, 3)).price

    model = lstm_model(seq=6, features=4)
    runner = runner_for(tmp_path, model)
    window = np.random.default_rng(0).normal(size=(6, 4))
    expected = upstream_predict(model, {}, window)
    assert_prediction(runner.predict(window), expected)
    assert runner.predict(window.reshape(1, 6, 4)).price == runner.predict(window).price


def test_float64_float32_and_integer_inputs(tmp_path: Path) -> None:
    model = linear_model(seq=4, features=3, seed=5)
    runner = runner_for(tmp_path, model, NORMALIZED)
    window = np.random.default_rng(1).integers(-50, 150, size=(4, 3))
    expected = upstream_predict(model, NORMALIZED, window.astype(np.float64))
    for dtype in (np.float64, np.float32, np.int64, np.int32, np.int16, np.uint8):
        features = np.abs(window).astype(dtype) if dtype == np.uint8 else window.astype(dtype)
        reference = upstream_predict(model, NORMALIZED, features.astype(np.float64))
        assert_prediction(runner.predict(features), reference)
    assert_prediction(runner.predict(window.tolist()), expected)


def test_non_contiguous_and_read_only_inputs(tmp_path: Path) -> None:
    model = linear_model(seq=4, features=3, seed=6)
    runner = runner_for(tmp_path, model, NORMALIZED)
    wide = np.random.default_rng(2).normal(scale=30, size=(8, 6))
    window = wide[::2, ::2]
    assert not window.flags.c_contiguous
    expected = upstream_predict(model, NORMALIZED, np.ascontiguousarray(window))
    read_only = np.ascontiguousarray(window)
    read_only.flags.writeable = False
    for features in (
        window,
        np.asfortranarray(window),
        np.ascontiguousarray(window[::-1])[::-1],  # negative strides
        np.ascontiguousarray(window.T).T,
        read_only,
    ):
        assert_prediction(runner.predict(features), expected)
    broadcast = np.broadcast_to(window[:1], (4, 3))  # zero strides
    assert_prediction(
        runner.predict(broadcast), upstream_predict(model, NORMALIZED, np.array(broadcast))
    )


def test_the_callers_array_is_not_modified(tmp_path: Path) -> None:
    """Upstream normalised the caller's array in place; this runner must not."""
    model = linear_model(seq=4, features=3, seed=8)
    runner = runner_for(tmp_path, model, NORMALIZED)
    for features in (
        np.random.default_rng(3).normal(scale=40, size=(4, 3)),
        np.random.default_rng(4).normal(scale=40, size=(1, 4, 3)).astype(np.float32),
    ):
        before = features.copy()
        runner.predict(features)
        runner.predict_batch(features.reshape(1, 4, 3))
        np.testing.assert_array_equal(features, before)


def test_bad_shapes_and_dtypes_are_invalid_input(tmp_path: Path) -> None:
    runner = runner_for(tmp_path, linear_model(seq=4, features=3), {"timeframe": "1h"})
    for features in (
        np.zeros((1, 1, 4, 3)),
        np.zeros((5, 3)),  # the model takes 4 steps
        np.zeros((4, 2)),  # and 3 features
        np.zeros((4, 3), dtype=bool),
        np.array([["a", "b", "c"]] * 4),
        np.zeros((4, 3), dtype=np.complex128),
    ):
        with pytest.raises(InvalidInputError):
            runner.predict(features)


# --- NaN / Inf and normalisation -----------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("column", [0, 1])  # 0 is normalised, 1 ("volume") is not
def test_non_finite_features_are_rejected_before_inference(
    tmp_path: Path, bad: float, column: int
) -> None:
    runner = runner_for(tmp_path, linear_model(seq=4, features=3), NORMALIZED)
    features = np.ones((4, 3))
    features[2, column] = bad
    with pytest.raises(InvalidInputError) as caught:
        runner.predict(features)
    assert isinstance(caught.value, ValueError)
    assert "NaN or infinite" in str(caught.value)
    with pytest.raises(InvalidInputError):
        runner.predict_batch(features.reshape(1, 4, 3))


def test_overflow_produced_by_normalisation_is_rejected(tmp_path: Path) -> None:
    """A zero std becomes 1e-8 (upstream's EPSILON): a large but finite value then overflows
    float32, which must be caught like a NaN in the input."""
    metadata = {
        "feature_names": NAMES,
        "normalization_params": {"close": {"mean": 0.0, "std": 0.0}},
    }
    model = linear_model(seq=4, features=3)
    runner = runner_for(tmp_path, model, metadata)
    features = np.ones((4, 3))
    assert_prediction(runner.predict(features), upstream_predict(model, metadata, features))
    features[0, 0] = 1e32
    with pytest.raises(ValueError):
        upstream_predict(model, metadata, features)
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        runner.predict(features)


def test_feature_count_mismatch_with_normalisation_is_invalid_input(tmp_path: Path) -> None:
    runner = runner_for(tmp_path, linear_model(seq=4, features=2), NORMALIZED)
    with pytest.raises(InvalidInputError) as caught:
        runner.predict(np.ones((4, 2)))
    assert "3" in str(caught.value) and "2" in str(caught.value)


def test_normalisation_follows_feature_names(tmp_path: Path) -> None:
    model = linear_model(seq=4, features=3, seed=9)
    metadata = {
        "feature_names": ["c", "a", "b"],
        "normalization_params": {
            "a": {"mean": 5.0, "std": 2.0},
            "b": {"mean": -1.0, "std": 0.25},
            "unused": {"mean": 1e6, "std": 1.0},
        },
    }
    runner = runner_for(tmp_path, model, metadata)
    features = np.random.default_rng(5).normal(scale=10, size=(4, 3))
    assert_prediction(runner.predict(features), upstream_predict(model, metadata, features))


def test_missing_mean_or_std_default_like_upstream(tmp_path: Path) -> None:
    model = linear_model(seq=4, features=3, seed=10)
    metadata = {
        "feature_names": NAMES,
        "normalization_params": {"close": {"std": 4.0}, "volume": {"mean": 2.0}, "high": {}},
    }
    runner = runner_for(tmp_path, model, metadata)
    features = np.random.default_rng(6).normal(scale=10, size=(4, 3))
    assert_prediction(runner.predict(features), upstream_predict(model, metadata, features))


def test_non_finite_normalisation_parameters_are_sanitised_like_upstream(tmp_path: Path) -> None:
    """Upstream replaces a non-finite std by EPSILON (1e-8) and a non-finite mean by 0."""
    model = linear_model(seq=4, features=3, seed=12)
    text = (
        '{"feature_names": ["close", "volume", "high"], "normalization_params": {'
        '"close": {"mean": 0.5, "std": Infinity}, '
        '"volume": {"mean": NaN, "std": 2.0}, '
        '"high": {"mean": 1.0, "std": NaN}}}'
    )
    metadata = {
        "feature_names": NAMES,
        "normalization_params": {
            "close": {"mean": 0.5, "std": math.inf},
            "volume": {"mean": math.nan, "std": 2.0},
            "high": {"mean": 1.0, "std": math.nan},
        },
    }
    runner = runner_for(tmp_path, model, text)
    features = np.full((4, 3), 0.75)
    expected = upstream_predict(model, metadata, features)
    assert_prediction(runner.predict(features), expected)


def test_legacy_normalisation_uses_the_files_key_order(tmp_path: Path) -> None:
    """Without feature_names upstream applies normalization_params to columns in the order the
    keys appear in metadata.json (a dict keeps insertion order), not sorted."""
    model = linear_model(seq=4, features=3, seed=1)
    metadata = {
        "normalization_params": {
            "b": {"mean": 1.0, "std": 4.0},
            "a": {"mean": 0.0, "std": 2.0},
            "c": {"mean": 0.5, "std": 1.0},
        }
    }
    runner = runner_for(tmp_path, model, metadata)
    features = np.random.default_rng(0).normal(scale=5, size=(4, 3))
    assert_prediction(runner.predict(features), upstream_predict(model, metadata, features))


def test_legacy_normalisation_with_more_params_than_columns(tmp_path: Path) -> None:
    model = linear_model(seq=4, features=2, seed=2)
    metadata = {
        "normalization_params": {
            "a": {"mean": 1.0, "std": 4.0},
            "b": {"mean": 3.0, "std": 2.0},
            "c": {"mean": 100.0, "std": 1.0},
        }
    }
    runner = runner_for(tmp_path, model, metadata)
    features = np.random.default_rng(1).normal(scale=5, size=(4, 2))
    assert_prediction(runner.predict(features), upstream_predict(model, metadata, features))


# --- regression output ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scaling",
    [
        {"mean": 50_000.0, "std": 1_500.0},
        {"mean": 42.0, "std": 0.0},  # upstream returns the mean
        {"method": "rolling_minmax", "window": 120, "target_feature": "close"},
        {"method": "rolling_minmax", "mean": 5.0, "std": 5.0},
        {"mean": 42.0},  # no std: raw prediction
        {},
    ],
)
def test_price_normalization(tmp_path: Path, scaling: dict[str, Any]) -> None:
    model = linear_model(seq=4, features=3, seed=13)
    metadata = {"price_normalization": scaling}
    runner = runner_for(tmp_path, model, metadata)
    features = np.random.default_rng(7).normal(size=(4, 3))
    assert_prediction(runner.predict(features), upstream_predict(model, metadata, features))


@pytest.mark.parametrize(
    ("bias", "scale", "threshold", "confidence", "direction"),
    [
        (0.3, 2.0, 0.5, 0.6, 0),
        (0.5, 2.0, 0.5, 1.0, 0),  # exactly at the threshold: no direction
        (0.625, 1.0, 0.5, 0.625, 1),
        (-0.7, 1.0, 0.5, 0.7, -1),
        (-0.25, 10.0, 0.01, 1.0, -1),
        (0.0, 10.0, 0.0, 0.0, 0),
    ],
)
def test_confidence_and_direction(
    tmp_path: Path, bias: float, scale: float, threshold: float, confidence: float, direction: int
) -> None:
    runner = runner_for(
        tmp_path,
        affine_model(bias=[bias]),
        {"timeframe": "1h"},
        confidence_scale_factor=scale,
        direction_threshold=threshold,
    )
    prediction = runner.predict(np.zeros((4, 3)))
    assert prediction.price == pytest.approx(bias)
    assert prediction.confidence == pytest.approx(confidence)
    assert prediction.direction == direction


def test_a_non_finite_regression_output_has_no_confidence_or_direction(tmp_path: Path) -> None:
    runner = runner_for(tmp_path, affine_model(bias=[math.nan]), {"timeframe": "1h"})
    prediction = runner.predict(np.zeros((4, 3)))
    assert math.isnan(prediction.price)
    assert (prediction.confidence, prediction.direction) == (0.0, 0)


def test_a_batch_window_array_predicts_from_the_first_window(tmp_path: Path) -> None:
    model = linear_model(seq=4, features=3, seed=14)
    runner = runner_for(tmp_path, model, NORMALIZED)
    windows = np.random.default_rng(8).normal(scale=20, size=(3, 4, 3))
    assert runner.predict(windows).price == pytest.approx(runner.predict(windows[0]).price)
    assert_prediction(runner.predict(windows), upstream_predict(model, NORMALIZED, windows))


def test_a_window_refilled_in_place_is_read_afresh(tmp_path: Path) -> None:
    # The session reuses the input value it bound to a caller's float32 buffer; refilled
    # buffers, other buffers and a buffer that comes back must each give their own prediction.
    model = linear_model(seq=4, features=3, seed=21)
    runner = runner_for(tmp_path, model, {"timeframe": "1h"})
    rng = np.random.default_rng(21)
    window = rng.normal(size=(4, 3)).astype(np.float32)
    other = rng.normal(size=(4, 3)).astype(np.float32)
    for _ in range(2):
        assert_prediction(runner.predict(window), upstream_predict(model, {}, window))
        window[:] = rng.normal(size=(4, 3))
        assert_prediction(runner.predict(window), upstream_predict(model, {}, window))
        assert_prediction(runner.predict(other), upstream_predict(model, {}, other))


def regression_model(output_shape: list[int | str], output_type: int, extra_outputs: int) -> bytes:
    """``[batch, 4, 3] -> output_shape``: the window's sum, declared with ``output_shape`` and
    cast to ``output_type``, then ``extra_outputs`` further outputs that predict never reads."""
    nodes = [
        helper.make_node("ReduceSum", ["input_sequence", "axes"], ["total"], keepdims=0),
        helper.make_node("Cast", ["total"], ["output"], to=output_type),
    ]
    outputs = [helper.make_tensor_value_info("output", output_type, output_shape)]
    for index in range(extra_outputs):
        nodes.append(helper.make_node("Neg", ["input_sequence"], [f"extra{index}"]))
        outputs.append(
            helper.make_tensor_value_info(f"extra{index}", TensorProto.FLOAT, ["batch", 4, 3])
        )
    graph = helper.make_graph(
        nodes,
        "regression",
        [helper.make_tensor_value_info("input_sequence", TensorProto.FLOAT, ["batch", 4, 3])],
        outputs,
        [numpy_helper.from_array(np.array([2], dtype=np.int64), "axes")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


@pytest.mark.parametrize(
    "output_shape",
    [["batch", 4], [1, 4], ["rows", 4], ["rows", "columns"]],
    ids=["batch-named", "fixed", "batch-guessed", "dynamic"],
)
@pytest.mark.parametrize("output_type", [TensorProto.FLOAT, TensorProto.DOUBLE])
@pytest.mark.parametrize("extra_outputs", [0, 2])
def test_regression_outputs_of_every_shape_and_float_type(
    tmp_path: Path, output_shape: list[int | str], output_type: int, extra_outputs: int
) -> None:
    model = regression_model(output_shape, output_type, extra_outputs)
    runner = runner_for(tmp_path, model, {"timeframe": "1h"})
    window = np.random.default_rng(22).normal(size=(4, 3)).astype(np.float32)
    for _ in range(2):
        assert_prediction(runner.predict(window), upstream_predict(model, {}, window))
    windows = np.random.default_rng(23).normal(size=(1, 4, 3))
    assert_prediction(runner.predict(windows), upstream_predict(model, {}, windows))


# --- classification ------------------------------------------------------------------------------

BINARY = {"task_type": "binary_classification", "class_labels": [-1, 1]}
TERNARY = {"task_type": "ternary_classification", "class_labels": [-1, 0, 1]}


def test_binary_classification(tmp_path: Path) -> None:
    model = linear_model(seq=4, features=3, seed=15, activation="sigmoid")
    runner = runner_for(tmp_path, model, BINARY)
    rng = np.random.default_rng(9)
    for _ in range(3):
        features = rng.normal(scale=50, size=(4, 3))
        prediction = runner.predict(features)
        assert_prediction(prediction, upstream_predict(model, BINARY, features))
        assert math.isnan(prediction.price)
        assert len(prediction.probabilities) == 2
        assert sum(prediction.probabilities) == pytest.approx(1.0)

    up = runner_for(tmp_path, affine_model(bias=[0.8], activation="sigmoid"), BINARY)
    prediction = up.predict(np.zeros((4, 3)))
    p_up = 1 / (1 + math.exp(-0.8))
    assert prediction.probabilities == pytest.approx((1 - p_up, p_up))
    assert (prediction.direction, prediction.confidence) == (1, pytest.approx(p_up))
    swapped = runner_for(
        tmp_path,
        affine_model(bias=[0.8], activation="sigmoid"),
        {"task_type": "binary_classification", "class_labels": [1, -1]},
    )
    assert swapped.predict(np.zeros((4, 3))).direction == -1


def test_ternary_classification(tmp_path: Path) -> None:
    model = linear_model(seq=4, features=3, seed=16, outputs=3, activation="softmax")
    runner = runner_for(tmp_path, model, TERNARY)
    rng = np.random.default_rng(10)
    for _ in range(3):
        features = rng.normal(scale=50, size=(4, 3))
        prediction = runner.predict(features)
        assert_prediction(prediction, upstream_predict(model, TERNARY, features))
        assert math.isnan(prediction.price)

    logits = [0.1, 2.0, 0.3]
    flat = runner_for(tmp_path, affine_model(bias=logits, activation="softmax"), TERNARY)
    prediction = flat.predict(np.zeros((4, 3)))
    expected = np.exp(logits) / np.exp(logits).sum()
    assert prediction.probabilities == pytest.approx(tuple(expected), abs=1e-6)
    assert prediction.direction == 0
    assert prediction.confidence == pytest.approx(expected[1], abs=1e-6)


def test_ternary_ties_go_to_the_first_class(tmp_path: Path) -> None:
    runner = runner_for(tmp_path, affine_model(bias=[1.0, 1.0, 0.0], activation="softmax"), TERNARY)
    assert runner.predict(np.zeros((4, 3))).direction == -1


def test_a_ternary_model_outputting_logits_is_an_inference_error(tmp_path: Path) -> None:
    runner = runner_for(tmp_path, affine_model(bias=[2.5, -1.0, 4.0]), TERNARY)
    with pytest.raises(InferenceError) as caught:
        runner.predict(np.zeros((4, 3)))
    assert isinstance(caught.value, RuntimeError)
    assert "softmax" in str(caught.value) or "logits" in str(caught.value)
    # probabilities that do not sum to one are refused as well
    unnormalised = runner_for(tmp_path, affine_model(bias=[0.5, 0.5, 0.5]), TERNARY)
    with pytest.raises(InferenceError):
        unnormalised.predict(np.zeros((4, 3)))


def test_classifier_outputs_of_the_wrong_size_are_inference_errors(tmp_path: Path) -> None:
    two = runner_for(tmp_path, affine_model(bias=[0.2, 0.8], activation="softmax"), BINARY)
    with pytest.raises(InferenceError, match="single"):
        two.predict(np.zeros((4, 3)))
    wrong = runner_for(tmp_path, affine_model(bias=[0.2, 0.8], activation="softmax"), TERNARY)
    with pytest.raises(InferenceError):
        wrong.predict(np.zeros((4, 3)))


@pytest.mark.parametrize(
    "metadata",
    [
        {"task_type": "ternary_classification"},
        {"task_type": "binary_classification", "class_labels": [-1, 0, 1]},
        {"task_type": "quaternary_classification", "class_labels": [-1, 0, 1, 2]},
    ],
)
def test_bad_classification_metadata_is_refused(tmp_path: Path, metadata: dict[str, Any]) -> None:
    with pytest.raises(ModelLoadError):
        runner_for(tmp_path, affine_model(bias=[0.5], activation="sigmoid"), metadata)


# --- predict_batch -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "activation", "outputs"),
    [(NORMALIZED, None, 1), (BINARY, "sigmoid", 1), (TERNARY, "softmax", 3)],
)
def test_predict_batch_equals_single_predictions(
    tmp_path: Path, metadata: dict[str, Any], activation: str | None, outputs: int
) -> None:
    model = linear_model(seq=4, features=3, seed=17, outputs=outputs, activation=activation)
    runner = runner_for(tmp_path, model, metadata)
    windows = np.random.default_rng(11).normal(scale=60, size=(6, 4, 3))
    batch = runner.predict_batch(windows)
    singles = [runner.predict(window) for window in windows]
    assert set(batch) == (
        {"price", "confidence", "direction"}
        if activation is None
        else {"price", "confidence", "direction", "probabilities"}
    )
    for name in ("price", "confidence", "direction"):
        assert batch[name].shape == (6,)
    np.testing.assert_allclose(batch["price"], [p.price for p in singles], rtol=1e-6)
    np.testing.assert_allclose(batch["confidence"], [p.confidence for p in singles], rtol=1e-6)
    np.testing.assert_array_equal(batch["direction"], [p.direction for p in singles])
    if activation is not None:
        classes = 2 if activation == "sigmoid" else 3
        assert batch["probabilities"].shape == (6, classes)
        np.testing.assert_allclose(
            batch["probabilities"], [p.probabilities for p in singles], atol=1e-6
        )
        assert np.isnan(batch["price"]).all()
    for index, window in enumerate(windows):
        expected = upstream_predict(model, metadata, window)
        assert int(batch["direction"][index]) == expected["direction"]


def test_predict_batch_needs_three_dimensions(tmp_path: Path) -> None:
    runner = runner_for(tmp_path, linear_model(seq=4, features=3), {"timeframe": "1h"})
    with pytest.raises(InvalidInputError):
        runner.predict_batch(np.zeros((4, 3)))


def test_predict_batch_of_no_windows_is_empty(tmp_path: Path) -> None:
    runner = runner_for(tmp_path, linear_model(seq=4, features=3), {"timeframe": "1h"})
    batch = runner.predict_batch(np.zeros((0, 4, 3)))
    assert batch["price"].shape == (0,)
    assert batch["confidence"].shape == (0,)
    assert batch["direction"].shape == (0,)


# --- timeouts ------------------------------------------------------------------------------------


def test_an_inference_past_its_timeout_is_terminated() -> None:
    session = OnnxSession(slow_model(512, 12))
    features = np.random.default_rng(12).normal(size=(512, 512)).astype(np.float32)
    with pytest.raises(InferenceTimeoutError) as caught:
        session.run(features, timeout=0.001)
    assert isinstance(caught.value, TimeoutError)
    assert isinstance(caught.value, InferenceError)
    (expected,) = reference_session(slow_model(512, 12)).run(None, {"x": features})
    (without,) = session.run(features)
    np.testing.assert_allclose(without, expected, rtol=1e-4, atol=1e-4)
    (generous,) = session.run(features, timeout=30)
    np.testing.assert_allclose(generous, expected, rtol=1e-4, atol=1e-4)


def test_the_configured_inference_timeout_reaches_the_runner(tmp_path: Path) -> None:
    model = linear_model(seq=4, features=3)
    assert runner_for(tmp_path, model)._predictor.timeout == 30.0
    assert runner_for(tmp_path, model, inference_timeout=2.5)._predictor.timeout == 2.5
    assert runner_for(tmp_path, model, inference_timeout=None)._predictor.timeout is None


def test_a_runner_past_its_timeout_raises_and_then_works(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    write_bundle(root, "S", "slow", "v1", model=slow_window_model(), metadata={"timeframe": "1h"})
    strict = PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(root), inference_timeout=0.001)
    )
    bundle = strict.select_bundle(symbol="S", model_type="slow", timeframe="1h")
    assert bundle.runner._predictor.timeout == 0.001
    window = np.ones((512, 512))
    with pytest.raises(InferenceTimeoutError):
        bundle.runner.predict(window)
    with pytest.raises(TimeoutError):
        bundle.runner.predict_batch(window.reshape(1, 512, 512))
    relaxed = PredictionModelRegistry(PredictionConfig(model_registry_path=str(root)))
    prediction = relaxed.select_bundle(
        symbol="S", model_type="slow", timeframe="1h"
    ).runner.predict(window)
    assert prediction.price == pytest.approx(1.0)


# --- ModelPrediction and OnnxRunner --------------------------------------------------------------


def test_model_prediction_fields_repr_eq_and_as_dict() -> None:
    prediction = ModelPrediction(101.5, 0.75, 1, "model.onnx", 0.002)
    assert (prediction.price, prediction.confidence, prediction.direction) == (101.5, 0.75, 1)
    assert (prediction.model_name, prediction.inference_time) == ("model.onnx", 0.002)
    assert prediction.probabilities is None
    assert prediction == ModelPrediction(101.5, 0.75, 1, "model.onnx", 0.002)
    assert prediction != ModelPrediction(101.5, 0.75, -1, "model.onnx", 0.002)
    assert prediction != ModelPrediction(101.5, 0.75, 1, "model.onnx", 0.003)
    text = repr(prediction)
    for part in (
        "ModelPrediction(",
        "price=101.5",
        "confidence=0.75",
        "direction=1",
        "model.onnx",
        "inference_time=0.002",
        "probabilities=None",
    ):
        assert part in text
    assert prediction.as_dict() == {
        "price": 101.5,
        "confidence": 0.75,
        "direction": 1,
        "model_name": "model.onnx",
        "inference_time": 0.002,
        "probabilities": None,
    }
    classified = ModelPrediction(math.nan, 0.6, -1, "m", 0.001, probabilities=[0.6, 0.3, 0.1])
    assert classified.probabilities == (0.6, 0.3, 0.1)
    assert classified.as_dict()["probabilities"] == (0.6, 0.3, 0.1)
    assert "probabilities=(0.6, 0.3, 0.1)" in repr(classified)
    restamped = prediction.replace(inference_time=1.0)
    assert restamped.inference_time == 1.0 and restamped.price == 101.5
    assert prediction.inference_time == 0.002


def test_a_real_prediction_carries_name_and_timing(tmp_path: Path) -> None:
    runner = runner_for(tmp_path, linear_model(seq=4, features=3), {"timeframe": "1h"})
    prediction = runner.predict(np.zeros((4, 3)))
    assert isinstance(prediction, ModelPrediction)
    assert prediction.model_name == "model.onnx"  # upstream: the model file's basename
    assert 0 < prediction.inference_time < 5


def test_onnx_runner_on_a_path(tmp_path: Path) -> None:
    model = linear_model(seq=4, features=3, seed=18)
    directory = write_bundle(tmp_path, "S", "t", "v1", model=model)  # no metadata.json
    with OnnxRunner(str(directory / "model.onnx")) as runner:
        assert runner.model_path == str(directory / "model.onnx")
        features = np.random.default_rng(13).normal(size=(4, 3))
        assert_prediction(runner.predict(features), upstream_predict(model, {}, features))
        assert repr(runner) == f"OnnxRunner({str(directory / 'model.onnx')!r})"
    runner.close()
    with pytest.raises(PredictionError):
        OnnxRunner(tmp_path / "missing.onnx")


def test_model_metadata_is_the_bundles_metadata_like_upstream(tmp_path: Path) -> None:
    """Upstream's ``runner.model_metadata`` is the dict of the bundle's metadata.json
    (its own tests check ``runner.model_metadata["sequence_length"] == 120``)."""
    metadata = {"timeframe": "1h", "sequence_length": 4, "feature_names": NAMES}
    runner = runner_for(tmp_path, linear_model(seq=4, features=3), metadata)
    assert runner.model_metadata["sequence_length"] == 4
    assert runner.model_metadata["feature_names"] == NAMES


def test_modules_export_upstreams_names() -> None:
    assert onnx_runner_module.OnnxRunner is OnnxRunner
    assert onnx_runner_module.ModelPrediction is ModelPrediction
    assert exceptions_module.ModelLoadError is ModelLoadError
    assert issubclass(exceptions_module.ModelNotAvailableError, LookupError)
    assert issubclass(InvalidInputError, ValueError) and issubclass(
        InvalidInputError, PredictionError
    )
    assert issubclass(InferenceTimeoutError, TimeoutError)
    assert issubclass(ModelLoadError, PredictionError)
