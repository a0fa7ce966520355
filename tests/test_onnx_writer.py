"""Tests for the dependency-free ONNX writer (``atb_prediction._onnx_writer``).

The module is loaded from its file so these tests run before the extension is built. The
``onnx`` package is the reference here: every written model must parse, pass the full checker,
and equal the same model built with ``onnx.helper``; onnxruntime must run it and agree with a
numpy computation.
"""

from __future__ import annotations

import hashlib
import importlib.util
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

WRITER_PATH = Path(__file__).parent.parent / "python/atb_prediction/_onnx_writer.py"


def _load_writer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_onnx_writer_under_test", WRITER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


writer = _load_writer()

# (kind, seq_len, n_features, n_classes): small shapes plus the real registry's 120 x 10.
SHAPES = [
    ("linear", 1, 1, 1),
    ("linear", 5, 3, 1),
    ("linear", 120, 10, 1),
    ("classifier", 1, 1, 2),
    ("classifier", 4, 5, 3),
    ("classifier", 120, 5, 3),
]
SHAPE_IDS = [f"{kind}-{seq}x{feat}->{out}" for kind, seq, feat, out in SHAPES]


def build(kind: str, seq_len: int, n_features: int, n_classes: int, **kwargs: Any) -> bytes:
    """Call the writer function for ``kind`` (``n_classes`` is ignored for ``linear``)."""
    if kind == "linear":
        data: bytes = writer.linear_sequence_model(seq_len, n_features, **kwargs)
    else:
        data = writer.classifier_sequence_model(seq_len, n_features, n_classes, **kwargs)
    return data


def parameters(model: onnx.ModelProto) -> tuple[np.ndarray, np.ndarray]:
    """The (weight, bias) initializers of a written model, in that order."""
    weight, bias = (numpy_helper.to_array(tensor) for tensor in model.graph.initializer)
    return weight, bias


def reference(model: onnx.ModelProto, x: np.ndarray, *, softmax: bool) -> np.ndarray:
    """What the model should compute, in float64 from its own float32 parameters."""
    weight, bias = parameters(model)
    flat = x.reshape(x.shape[0], -1).astype(np.float64)
    logits: np.ndarray = flat @ weight.astype(np.float64) + bias
    if not softmax:
        return logits
    shifted: np.ndarray = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probabilities: np.ndarray = shifted / shifted.sum(axis=-1, keepdims=True)
    return probabilities


def helper_model(
    kind: str,
    seq_len: int,
    n_features: int,
    n_outputs: int,
    weight: np.ndarray,
    bias: np.ndarray,
    *,
    input_name: str = "input_sequence",
    output_name: str = "output",
    metadata: dict[str, str] | None = None,
) -> onnx.ModelProto:
    """The model the writer is meant to produce, built with ``onnx.helper``."""
    softmax = kind == "classifier"
    add_output = "atb.logits" if softmax else output_name
    nodes = [
        helper.make_node("Flatten", [input_name], ["atb.flat"], name="flatten", axis=1),
        helper.make_node("MatMul", ["atb.flat", "atb.weight"], ["atb.matmul"], name="matmul"),
        helper.make_node("Add", ["atb.matmul", "atb.bias"], [add_output], name="add_bias"),
    ]
    if softmax:
        nodes.append(
            helper.make_node("Softmax", ["atb.logits"], [output_name], name="softmax", axis=-1)
        )
    graph = helper.make_graph(
        nodes,
        "atb_classifier_sequence" if softmax else "atb_linear_sequence",
        [
            helper.make_tensor_value_info(
                input_name, TensorProto.FLOAT, ["batch", seq_len, n_features]
            )
        ],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", n_outputs])],
        initializer=[
            numpy_helper.from_array(weight, "atb.weight"),
            numpy_helper.from_array(bias, "atb.bias"),
        ],
    )
    model = helper.make_model(
        graph,
        ir_version=8,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="atb-prediction",
    )
    if metadata:
        helper.set_model_props(model, metadata)
    return model


def session(data: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


# --- structure --------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "seq_len", "n_features", "n_out"), SHAPES, ids=SHAPE_IDS)
def test_model_passes_full_check(kind: str, seq_len: int, n_features: int, n_out: int) -> None:
    model = onnx.load_from_string(build(kind, seq_len, n_features, n_out))
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == writer.IR_VERSION == 8
    assert [(op.domain, op.version) for op in model.opset_import] == [("", 17)]
    assert model.producer_name == "atb-prediction"


@pytest.mark.parametrize(("kind", "seq_len", "n_features", "n_out"), SHAPES, ids=SHAPE_IDS)
def test_model_equals_onnx_helper_model(
    kind: str, seq_len: int, n_features: int, n_out: int
) -> None:
    """Field for field the same message as onnx.helper builds: this pins every field number."""
    metadata = {"symbol": "BTCUSDT", "stage": "demo"}
    model = onnx.load_from_string(build(kind, seq_len, n_features, n_out, metadata=metadata))
    weight, bias = parameters(model)
    assert weight.shape == (seq_len * n_features, n_out)
    assert bias.shape == (n_out,)
    assert weight.dtype == bias.dtype == np.float32
    expected = helper_model(kind, seq_len, n_features, n_out, weight, bias, metadata=metadata)
    assert model == expected


def test_custom_io_names() -> None:
    data = writer.linear_sequence_model(
        3, 2, input_name="keras_tensor", output_name="output_0", seed=4
    )
    model = onnx.load_from_string(data)
    weight, bias = parameters(model)
    expected = helper_model(
        "linear", 3, 2, 1, weight, bias, input_name="keras_tensor", output_name="output_0"
    )
    assert model == expected
    sess = session(data)
    assert [value.name for value in sess.get_inputs()] == ["keras_tensor"]
    assert [value.name for value in sess.get_outputs()] == ["output_0"]


# --- numerics ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "seq_len", "n_features", "n_out"), SHAPES, ids=SHAPE_IDS)
def test_onnxruntime_matches_numpy_for_dynamic_batch(
    kind: str, seq_len: int, n_features: int, n_out: int
) -> None:
    data = build(kind, seq_len, n_features, n_out, seed=11)
    model = onnx.load_from_string(data)
    sess = session(data)
    (model_input,) = sess.get_inputs()
    (model_output,) = sess.get_outputs()
    assert model_input.shape == ["batch", seq_len, n_features]
    assert model_output.shape == ["batch", n_out]
    assert model_input.type == model_output.type == "tensor(float)"

    rng = np.random.default_rng(0)
    for batch in (1, 7):  # one session, two batch sizes: the batch axis really is dynamic
        x = rng.normal(size=(batch, seq_len, n_features)).astype(np.float32)
        (got,) = sess.run(None, {model_input.name: x})
        assert got.shape == (batch, n_out)
        assert got.dtype == np.float32
        want = reference(model, x, softmax=kind == "classifier")
        # atol covers linear outputs that land near zero, where relative error is meaningless.
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_classifier_rows_are_probabilities() -> None:
    data = writer.classifier_sequence_model(6, 4, 3, seed=2)
    x = np.random.default_rng(1).normal(size=(7, 6, 4)).astype(np.float32) * 50
    (probabilities,) = session(data).run(None, {"input_sequence": x})
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)


def test_weights_are_small_and_seeded() -> None:
    first = writer.linear_sequence_model(120, 10, seed=3)
    assert first == writer.linear_sequence_model(120, 10, seed=3)
    assert first != writer.linear_sequence_model(120, 10, seed=4)
    weight, bias = parameters(onnx.load_from_string(first))
    assert 0.005 < float(weight.std()) < 0.02  # normal * 0.01
    assert np.all(np.abs(bias) < 0.1)


# --- metadata ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        {},
        {"symbol": "BTCUSDT", "timeframe": "1h", "sequence_length": "120"},
        {"note": "ünïcödé ✓ 价格", "empty": "", "json": '{"a": [1, 2]}'},
    ],
    ids=["none", "empty", "ascii", "unicode"],
)
def test_metadata_props_round_trip(metadata: dict[str, str] | None) -> None:
    data = writer.classifier_sequence_model(2, 2, 2, metadata=metadata)
    model = onnx.load_from_string(data)
    assert {prop.key: prop.value for prop in model.metadata_props} == (metadata or {})
    meta = session(data).get_modelmeta()
    assert meta.custom_metadata_map == (metadata or {})
    assert meta.producer_name == "atb-prediction"


# --- argument checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: writer.linear_sequence_model(0, 3), ValueError),
        (lambda: writer.linear_sequence_model(3, -1), ValueError),
        (lambda: writer.linear_sequence_model(True, 3), ValueError),
        (lambda: writer.linear_sequence_model(2.0, 3), ValueError),
        (lambda: writer.classifier_sequence_model(3, 3, 1), ValueError),
        (lambda: writer.classifier_sequence_model(3, 3, 0), ValueError),
        (lambda: writer.linear_sequence_model(3, 3, input_name=""), ValueError),
        (lambda: writer.linear_sequence_model(3, 3, input_name="x", output_name="x"), ValueError),
        (lambda: writer.linear_sequence_model(3, 3, output_name="atb.weight"), ValueError),
        (lambda: writer.linear_sequence_model(3, 3, metadata={"k": 1}), TypeError),
        (lambda: writer.linear_sequence_model(3, 3, metadata={1: "v"}), TypeError),
    ],
)
def test_invalid_arguments_are_refused(call: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        call()


# --- encoder primitives -----------------------------------------------------------------------

_int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@settings(max_examples=100, deadline=None, database=None)
@given(value=_int64)
def test_int_attribute_round_trips(value: int) -> None:
    attribute = onnx.AttributeProto.FromString(writer._attribute("a", value))
    assert attribute.type == onnx.AttributeProto.INT
    assert attribute.i == value


@settings(max_examples=50, deadline=None, database=None)
@given(values=st.lists(_int64, max_size=8))
def test_ints_attribute_round_trips(values: list[int]) -> None:
    attribute = onnx.AttributeProto.FromString(writer._attribute("perm", values))
    assert attribute.type == onnx.AttributeProto.INTS
    assert list(attribute.ints) == values


@settings(max_examples=50, deadline=None, database=None)
@given(value=st.floats(width=32, allow_nan=False))
def test_float_attribute_round_trips(value: float) -> None:
    attribute = onnx.AttributeProto.FromString(writer._attribute("alpha", value))
    assert attribute.type == onnx.AttributeProto.FLOAT
    # Bit patterns, so that -0.0 must stay -0.0.
    assert struct.pack("<f", attribute.f) == struct.pack("<f", value)


def test_attribute_refuses_other_types() -> None:
    with pytest.raises(TypeError):
        writer._attribute("flag", True)
    with pytest.raises(TypeError):
        writer._attribute("mixed", [1, 2.5])


def test_varint_refuses_values_beyond_64_bits() -> None:
    with pytest.raises(OverflowError):
        writer._varint(1 << 64)
    with pytest.raises(OverflowError):
        writer._varint(-(1 << 63) - 1)


# --- dependency-free --------------------------------------------------------------------------


def test_writer_works_without_onnx_installed() -> None:
    """Run the writer where importing onnx fails, and get byte-identical output."""
    script = f"""
import hashlib, importlib.util, sys
sys.modules["onnx"] = None  # any `import onnx` now raises ImportError
spec = importlib.util.spec_from_file_location("w", {str(WRITER_PATH)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
data = module.classifier_sequence_model(4, 3, 3, seed=5, metadata={{"k": "v"}})
print(hashlib.sha256(data).hexdigest())
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    expected = writer.classifier_sequence_model(4, 3, 3, seed=5, metadata={"k": "v"})
    assert result.stdout.strip() == hashlib.sha256(expected).hexdigest()
