"""Write small, real ONNX models without the ``onnx`` package.

The package's runtime dependencies are only numpy and onnxruntime, yet the built-in demo
registry needs ``model.onnx`` files. ONNX files are protobuf ``ModelProto`` messages, and the
subset needed for a dense model over a sequence window is small, so this module encodes it by
hand: varints, length-delimited fields and packed repeated scalars.

Field numbers follow ``onnx/onnx.proto`` (checked against ``onnx.ModelProto.DESCRIPTOR`` in the
tests, which also compare every model written here with the same model built by
``onnx.helper``). Messages are written in field-number order, as protobuf's own encoders do, so
the output is deterministic for a given set of arguments.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

import numpy as np

__all__ = [
    "IR_VERSION",
    "OPSET_VERSION",
    "PRODUCER_NAME",
    "classifier_sequence_model",
    "linear_sequence_model",
]

IR_VERSION = 8
"""ONNX IR version of the written models; 8 is what opset 17 shipped with (ONNX 1.12)."""

OPSET_VERSION = 17
"""Version of the default ("ai.onnx") operator set the models import."""

PRODUCER_NAME = "atb-prediction"
"""``ModelProto.producer_name`` of the written models."""

_WEIGHT_SCALE = 0.01
"""Scale of the random weights: keeps outputs near zero for inputs of order one, as a freshly
initialised dense layer would, and keeps softmax outputs away from saturation."""

# Protobuf wire types.
_VARINT = 0
_LEN = 2
_I32 = 5

# onnx.proto enums.
_TENSOR_FLOAT = 1  # TensorProto.DataType.FLOAT
_ATTR_FLOAT = 1  # AttributeProto.AttributeType.FLOAT
_ATTR_INT = 2  # AttributeProto.AttributeType.INT
_ATTR_INTS = 7  # AttributeProto.AttributeType.INTS

# Names of the graph's intermediate values and initializers. The "atb." prefix keeps them out of
# the way of user-chosen input and output names; a collision is still refused explicitly.
_FLAT = "atb.flat"
_WEIGHT = "atb.weight"
_BIAS = "atb.bias"
_MATMUL_OUT = "atb.matmul"
_LOGITS = "atb.logits"
_INTERNAL_NAMES = frozenset({_FLAT, _WEIGHT, _BIAS, _MATMUL_OUT, _LOGITS})

AttributeValue: TypeAlias = int | float | Sequence[int]
"""Attribute values this writer can encode: INT, FLOAT or INTS."""


# --- protobuf primitives ------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    """Encode an int64/uint64 as a base-128 varint.

    Negative numbers are written as their 64-bit two's complement (ten bytes), which is how
    protobuf encodes negative ``int64`` fields such as ``Softmax(axis=-1)``.
    """
    if not -(1 << 63) <= value < (1 << 64):
        raise OverflowError(f"{value} does not fit in 64 bits")
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _int_field(field: int, value: int) -> bytes:
    return _tag(field, _VARINT) + _varint(value)


def _float_field(field: int, value: float) -> bytes:
    return _tag(field, _I32) + struct.pack("<f", value)


def _bytes_field(field: int, payload: bytes) -> bytes:
    """A length-delimited field: a string, bytes, packed scalars or an embedded message."""
    return _tag(field, _LEN) + _varint(len(payload)) + payload


def _str_field(field: int, text: str) -> bytes:
    return _bytes_field(field, text.encode("utf-8"))


def _packed_ints_field(field: int, values: Iterable[int]) -> bytes:
    """A packed repeated int64 field; parsers of proto2 files such as onnx.proto accept both
    packed and unpacked encodings, and packed is the smaller."""
    return _bytes_field(field, b"".join(_varint(value) for value in values))


# --- onnx.proto messages ------------------------------------------------------------------------


def _attribute(name: str, value: AttributeValue) -> bytes:
    """``AttributeProto``: name (1), f (2) | i (3) | ints (8), type (20)."""
    out = _str_field(1, name)
    # bool is an int subclass, but a bool attribute is almost certainly a caller's mistake.
    if isinstance(value, bool):
        raise TypeError(f"attribute {name!r}: bool is not an ONNX attribute type")
    if isinstance(value, int):
        return out + _int_field(3, value) + _int_field(20, _ATTR_INT)
    if isinstance(value, float):
        return out + _float_field(2, value) + _int_field(20, _ATTR_FLOAT)
    values = list(value)
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in values):
        raise TypeError(f"attribute {name!r}: only int, float or a sequence of ints is supported")
    return out + _packed_ints_field(8, values) + _int_field(20, _ATTR_INTS)


def _node(
    op_type: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    *,
    name: str,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> bytes:
    """``NodeProto``: input (1), output (2), name (3), op_type (4), attribute (5)."""
    out = b"".join(_str_field(1, value) for value in inputs)
    out += b"".join(_str_field(2, value) for value in outputs)
    out += _str_field(3, name) + _str_field(4, op_type)
    for key, value in (attributes or {}).items():
        out += _bytes_field(5, _attribute(key, value))
    return out


def _float_tensor(name: str, array: np.ndarray) -> bytes:
    """``TensorProto``: dims (1), data_type (2), name (8), raw_data (9), float32 little-endian."""
    data = np.ascontiguousarray(array, dtype="<f4")
    out = _packed_ints_field(1, data.shape) if data.ndim else b""
    out += _int_field(2, _TENSOR_FLOAT) + _str_field(8, name)
    return out + _bytes_field(9, data.tobytes())


def _float_value_info(name: str, shape: Sequence[int | str]) -> bytes:
    """``ValueInfoProto`` of a float tensor; a ``str`` dimension is symbolic (``dim_param``)."""
    dims = b""
    for dim in shape:
        if isinstance(dim, str):
            dims += _bytes_field(1, _str_field(2, dim))  # Dimension.dim_param
        else:
            dims += _bytes_field(1, _int_field(1, dim))  # Dimension.dim_value
    tensor_type = _int_field(1, _TENSOR_FLOAT) + _bytes_field(2, dims)  # elem_type, shape
    type_proto = _bytes_field(1, tensor_type)  # TypeProto.tensor_type
    return _str_field(1, name) + _bytes_field(2, type_proto)


def _graph(
    *,
    name: str,
    nodes: Sequence[bytes],
    initializers: Sequence[bytes],
    inputs: Sequence[bytes],
    outputs: Sequence[bytes],
) -> bytes:
    """``GraphProto``: node (1), name (2), initializer (5), input (11), output (12)."""
    out = b"".join(_bytes_field(1, node) for node in nodes)
    out += _str_field(2, name)
    out += b"".join(_bytes_field(5, tensor) for tensor in initializers)
    out += b"".join(_bytes_field(11, value) for value in inputs)
    return out + b"".join(_bytes_field(12, value) for value in outputs)


def _model(graph: bytes, metadata: Mapping[str, str]) -> bytes:
    """``ModelProto``: ir_version (1), producer_name (2), graph (7), opset_import (8),
    metadata_props (14)."""
    # domain "" is written rather than left out so the message equals onnx.helper's, which
    # sets it explicitly (proto2 keeps field presence).
    opset = _str_field(1, "") + _int_field(2, OPSET_VERSION)
    out = _int_field(1, IR_VERSION) + _str_field(2, PRODUCER_NAME)
    out += _bytes_field(7, graph) + _bytes_field(8, opset)
    for key, value in metadata.items():
        out += _bytes_field(14, _str_field(1, key) + _str_field(2, value))
    return out


# --- public models ------------------------------------------------------------------------------


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _sequence_model(
    *,
    graph_name: str,
    seq_len: int,
    n_features: int,
    n_outputs: int,
    softmax: bool,
    seed: int,
    input_name: str,
    output_name: str,
    metadata: Mapping[str, str] | None,
) -> bytes:
    """Flatten [batch, seq_len, n_features] -> MatMul -> Add (-> Softmax) -> [batch, n_outputs]."""
    _check_positive("seq_len", seq_len)
    _check_positive("n_features", n_features)
    for label, value in (("input_name", input_name), ("output_name", output_name)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{label} must be a non-empty str, got {value!r}")
        if value in _INTERNAL_NAMES:
            raise ValueError(f"{label} {value!r} is reserved for the model's internal values")
    if input_name == output_name:
        raise ValueError(f"input_name and output_name must differ, both are {input_name!r}")
    props = dict(metadata or {})
    for key, value in props.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str to str, got {key!r}: {value!r}")

    # Weight first, then bias, from one generator: the documented order that makes a seed
    # reproduce the same model.
    rng = np.random.RandomState(seed)
    weight = rng.normal(size=(seq_len * n_features, n_outputs)) * _WEIGHT_SCALE
    bias = rng.normal(size=(n_outputs,)) * _WEIGHT_SCALE

    add_output = _LOGITS if softmax else output_name
    nodes = [
        _node("Flatten", [input_name], [_FLAT], name="flatten", attributes={"axis": 1}),
        _node("MatMul", [_FLAT, _WEIGHT], [_MATMUL_OUT], name="matmul"),
        _node("Add", [_MATMUL_OUT, _BIAS], [add_output], name="add_bias"),
    ]
    if softmax:
        nodes.append(
            _node("Softmax", [_LOGITS], [output_name], name="softmax", attributes={"axis": -1})
        )
    graph = _graph(
        name=graph_name,
        nodes=nodes,
        initializers=[_float_tensor(_WEIGHT, weight), _float_tensor(_BIAS, bias)],
        inputs=[_float_value_info(input_name, ["batch", seq_len, n_features])],
        outputs=[_float_value_info(output_name, ["batch", n_outputs])],
    )
    return _model(graph, props)


def linear_sequence_model(
    seq_len: int,
    n_features: int,
    *,
    seed: int = 0,
    input_name: str = "input_sequence",
    output_name: str = "output",
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """Serialize a linear regression model over a window of features as ONNX bytes.

    The model maps a float32 input ``[batch, seq_len, n_features]`` (``batch`` is symbolic, so
    any batch size works) to a float32 output ``[batch, 1]``::

        output = x.reshape(batch, -1) @ W + b

    with ``W`` (``[seq_len * n_features, 1]``) then ``b`` (``[1]``) drawn from
    ``numpy.random.RandomState(seed).normal`` and scaled by 0.01. It uses opset 17 and IR
    version 8, so any current onnxruntime loads it.

    Args:
        seq_len: Time steps in one window (the registry's ``sequence_length``).
        n_features: Features per time step.
        seed: Seed of the weights; the same arguments always give the same bytes.
        input_name: Name of the graph input.
        output_name: Name of the graph output.
        metadata: ``metadata_props`` of the model (onnxruntime's ``custom_metadata_map``).

    Returns:
        The serialized ``ModelProto``, ready to write to ``model.onnx``.

    Raises:
        ValueError: A size is not a positive int, or a name is empty, reserved or reused.
        TypeError: ``metadata`` holds something other than strings.
    """
    return _sequence_model(
        graph_name="atb_linear_sequence",
        seq_len=seq_len,
        n_features=n_features,
        n_outputs=1,
        softmax=False,
        seed=seed,
        input_name=input_name,
        output_name=output_name,
        metadata=metadata,
    )


def classifier_sequence_model(
    seq_len: int,
    n_features: int,
    n_classes: int,
    *,
    seed: int = 0,
    input_name: str = "input_sequence",
    output_name: str = "output",
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """Serialize a softmax classifier over a window of features as ONNX bytes.

    Like :func:`linear_sequence_model`, but with ``n_classes`` outputs and a softmax over
    them: float32 ``[batch, seq_len, n_features]`` -> float32 ``[batch, n_classes]``, each row
    summing to one::

        output = softmax(x.reshape(batch, -1) @ W + b, axis=-1)

    with ``W`` (``[seq_len * n_features, n_classes]``) then ``b`` (``[n_classes]``) drawn from
    ``numpy.random.RandomState(seed).normal`` and scaled by 0.01.

    Args:
        seq_len: Time steps in one window.
        n_features: Features per time step.
        n_classes: Number of classes, at least 2.
        seed: Seed of the weights; the same arguments always give the same bytes.
        input_name: Name of the graph input.
        output_name: Name of the graph output.
        metadata: ``metadata_props`` of the model (onnxruntime's ``custom_metadata_map``).

    Returns:
        The serialized ``ModelProto``, ready to write to ``model.onnx``.

    Raises:
        ValueError: A size is out of range, or a name is empty, reserved or reused.
        TypeError: ``metadata`` holds something other than strings.
    """
    _check_positive("n_classes", n_classes)
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    return _sequence_model(
        graph_name="atb_classifier_sequence",
        seq_len=seq_len,
        n_features=n_features,
        n_outputs=n_classes,
        softmax=True,
        seed=seed,
        input_name=input_name,
        output_name=output_name,
        metadata=metadata,
    )
