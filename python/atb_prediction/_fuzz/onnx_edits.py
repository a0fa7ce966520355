"""Structured mutations of an ONNX model: declared dims, element types and initializers.

A byte flip rarely leaves a model that ONNX Runtime still opens; these edits do, so the loaders,
``predict``, ``predict_batch``, ``run`` and validation meet absurd declared shapes (a fixed
batch of 2**31 - 1, a zero or negative dim) and types. They edit the protobuf on the wire
(:mod:`.wire`), so the fuzzer needs no ``onnx`` package. A recipe is a plain dict, replayed
exactly by :func:`apply_recipe`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from atb_prediction._fuzz import wire
from atb_prediction._fuzz.wire import LEN, VARINT, Field

__all__ = [
    "DIM_VALUES",
    "DTYPES",
    "RECIPE_KINDS",
    "NotApplicable",
    "apply_recipe",
    "cut_initializer_data",
    "drop_initializer",
    "duplicate_initializer",
    "random_recipe",
    "set_dim",
    "set_dtype",
    "structure",
]

Recipe = dict[str, Any]

DIM_VALUES = (0, -1, 2**31 - 1, 2**31, 2**40)
"""Declared dims that probe size arithmetic: empty, negative, and past 32 bits and memory."""

DTYPES = (*range(24), 99)
"""``TensorProto.DataType`` values: every defined one up to INT4 and FLOAT4E2M1 (undefined 0
included), and one no runtime knows."""

RECIPE_KINDS = ("onnx_dim", "onnx_batch", "onnx_dtype", "onnx_drop_init", "onnx_dup_init")

# Field numbers of onnx.proto.
_MODEL_GRAPH = 7
_GRAPH_PART = {"initializer": 5, "input": 11, "output": 12}
_VALUE_INFO_TYPE = 2
_TYPE_TENSOR = 1
_TENSOR_TYPE_ELEM_TYPE = 1
_TENSOR_TYPE_SHAPE = 2
_SHAPE_DIM = 1
_DIM_VALUE = 1
_TENSOR_DIMS = 1
_TENSOR_DATA_TYPE = 2
_TENSOR_RAW_DATA = 9

_Path = list[tuple[int, int]]
"""(field number, occurrence) from the model down to a sub-message."""


class NotApplicable(LookupError):
    """The model has no such input, output, initializer or dim (or does not parse)."""


def _edit(data: bytes, path: _Path, change: Callable[[list[Field]], list[Field]]) -> bytes:
    """``data`` with the sub-message at ``path`` replaced by ``change`` of its fields.

    Raises:
        NotApplicable: a message on the way does not parse or lacks the next field.
    """
    try:
        fields = wire.parse(data)
        if not path:
            return wire.serialize(change(fields))
    except wire.WireError as error:
        raise NotApplicable(str(error)) from None
    (number, occurrence), rest = path[0], path[1:]
    at = _nth(fields, number, occurrence)
    inner = fields[at].value
    assert isinstance(inner, bytes)  # _nth finds length-delimited fields only
    fields[at] = replace(fields[at], value=_edit(inner, rest, change))
    return wire.serialize(fields)


def _sub(fields: list[Field], number: int) -> list[Field]:
    """The fields of the first sub-message ``number`` among ``fields``.

    Raises:
        NotApplicable: there is none.
        WireError: it does not parse.
    """
    inner = fields[_nth(fields, number, 0)].value
    assert isinstance(inner, bytes)
    return wire.parse(inner)


def _nth(fields: list[Field], number: int, occurrence: int) -> int:
    """Position of the ``occurrence``-th length-delimited field ``number``."""
    positions = [i for i, f in enumerate(fields) if f.number == number and f.wire == LEN]
    if not 0 <= occurrence < len(positions):
        raise NotApplicable(f"no occurrence {occurrence} of field {number}")
    return positions[occurrence]


def _set_varint(fields: list[Field], number: int, value: int) -> list[Field]:
    """``fields`` with varint field ``number`` set to ``value`` where it was (last if absent)."""
    new = Field(number, VARINT, value % (1 << 64))
    at = next((i for i, f in enumerate(fields) if f.number == number), len(fields))
    return [*fields[:at], new, *(f for f in fields[at:] if f.number != number)]


def _tensor_type_path(part: str, index: int) -> _Path:
    if part not in ("input", "output"):
        raise ValueError(f"part {part!r}: input or output")
    return [
        (_MODEL_GRAPH, 0),
        (_GRAPH_PART[part], index),
        (_VALUE_INFO_TYPE, 0),
        (_TYPE_TENSOR, 0),
    ]


def _initializer_path(index: int) -> _Path:
    return [(_MODEL_GRAPH, 0), (_GRAPH_PART["initializer"], index)]


def _initializer_dims(fields: list[Field]) -> list[int]:
    """An initializer's dims, written unpacked or packed."""
    dims: list[int] = []
    for field in fields:
        if field.number == _TENSOR_DIMS:
            if isinstance(field.value, int):
                dims.append(field.value)
            else:
                dims.extend(wire.packed_varints(field.value))
    return dims


def set_dim(data: bytes, part: str, index: int, dim: int, value: int) -> bytes:
    """Set dim ``dim`` of graph input, output or initializer ``index`` to ``value``.

    Raises:
        NotApplicable: there is no such tensor or dim.
    """
    if part == "initializer":

        def change(fields: list[Field]) -> list[Field]:
            dims = _initializer_dims(fields)
            if not 0 <= dim < len(dims):
                raise NotApplicable(f"initializer {index} has no dim {dim}")
            dims[dim] = value % (1 << 64)
            # Written back unpacked where the first dim was, as onnx writes them.
            first = next(i for i, f in enumerate(fields) if f.number == _TENSOR_DIMS)
            rest = [f for f in fields if f.number != _TENSOR_DIMS]
            at = sum(1 for f in fields[:first] if f.number != _TENSOR_DIMS)
            written = [Field(_TENSOR_DIMS, VARINT, d) for d in dims]
            return [*rest[:at], *written, *rest[at:]]

        return _edit(data, _initializer_path(index), change)
    path = [*_tensor_type_path(part, index), (_TENSOR_TYPE_SHAPE, 0), (_SHAPE_DIM, dim)]
    # A dim is a oneof of dim_value and dim_param: the new value replaces a name too.
    return _edit(data, path, lambda _: [Field(_DIM_VALUE, VARINT, value % (1 << 64))])


def set_dtype(data: bytes, part: str, index: int, dtype: int) -> bytes:
    """Set the element type of graph input, output or initializer ``index``.

    Raises:
        NotApplicable: there is no such tensor.
    """
    if part == "initializer":
        return _edit(
            data, _initializer_path(index), lambda f: _set_varint(f, _TENSOR_DATA_TYPE, dtype)
        )
    path = _tensor_type_path(part, index)
    return _edit(data, path, lambda f: _set_varint(f, _TENSOR_TYPE_ELEM_TYPE, dtype))


def _graph_at_initializer(
    data: bytes, index: int, change: Callable[[list[Field], int], list[Field]]
) -> bytes:
    """``data`` with the graph's fields replaced by ``change(fields, position of initializer
    index)``."""
    number = _GRAPH_PART["initializer"]
    return _edit(data, [(_MODEL_GRAPH, 0)], lambda f: change(f, _nth(f, number, index)))


def drop_initializer(data: bytes, index: int) -> bytes:
    """The model without initializer ``index`` (a node input then names nothing).

    Raises:
        NotApplicable: there is no such initializer.
    """
    return _graph_at_initializer(data, index, lambda fields, at: fields[:at] + fields[at + 1 :])


def duplicate_initializer(data: bytes, index: int) -> bytes:
    """The model with initializer ``index`` twice in a row (one name, two tensors).

    Raises:
        NotApplicable: there is no such initializer.
    """
    return _graph_at_initializer(data, index, lambda fields, at: fields[: at + 1] + fields[at:])


def cut_initializer_data(data: bytes, index: int, size: int) -> bytes:
    """Keep only the first ``size`` bytes of initializer ``index``'s ``raw_data``.

    Raises:
        NotApplicable: there is no such initializer or it keeps no raw data.
    """

    def change(fields: list[Field]) -> list[Field]:
        at = _nth(fields, _TENSOR_RAW_DATA, 0)
        raw = fields[at].value
        assert isinstance(raw, bytes)
        return [*fields[:at], replace(fields[at], value=raw[:size]), *fields[at + 1 :]]

    return _edit(data, _initializer_path(index), change)


def structure(data: bytes) -> dict[str, list[int]]:
    """The rank of each graph input, output and initializer, in order (0 for an input or
    output with no declared shape).

    Raises:
        NotApplicable: the model does not parse.
    """

    def rank(tensor: bytes, part: str) -> int:
        if part == "initializer":
            return len(_initializer_dims(wire.parse(tensor)))
        fields = wire.parse(tensor)
        try:
            for number in (_VALUE_INFO_TYPE, _TYPE_TENSOR, _TENSOR_TYPE_SHAPE):
                fields = _sub(fields, number)
        except NotApplicable:
            return 0
        return sum(1 for f in fields if f.number == _SHAPE_DIM)

    try:
        graph = _sub(wire.parse(data), _MODEL_GRAPH)
        return {
            part: [
                rank(f.value, part)
                for f in graph
                if f.number == number and isinstance(f.value, bytes)
            ]
            for part, number in _GRAPH_PART.items()
        }
    except wire.WireError as error:
        raise NotApplicable(str(error)) from None


def random_recipe(rng: random.Random, data: bytes) -> Recipe:
    """A structured mutation of the model ``data`` with every random choice recorded.

    Raises:
        NotApplicable: the model does not parse.
    """
    ranks = structure(data)
    parts = [p for p in ("input", "output", "initializer") if ranks[p]]
    roll = rng.random()
    if roll < 0.15 or not parts:
        return {"kind": "onnx_batch", "value": rng.choice(DIM_VALUES)}
    part = rng.choice(parts)
    index = rng.randrange(len(ranks[part]))
    if roll < 0.6 and ranks[part][index]:
        dim = rng.randrange(ranks[part][index])
        value = rng.choice(DIM_VALUES)
        return {"kind": "onnx_dim", "part": part, "index": index, "dim": dim, "value": value}
    if roll < 0.85 or not ranks["initializer"]:
        return {"kind": "onnx_dtype", "part": part, "index": index, "dtype": rng.choice(DTYPES)}
    kind = rng.choice(("onnx_drop_init", "onnx_dup_init"))
    return {"kind": kind, "index": rng.randrange(len(ranks["initializer"]))}


def apply_recipe(data: bytes, recipe: Recipe) -> bytes:
    """``data`` mutated as ``recipe`` says; unchanged when the recipe does not apply to it (an
    earlier mutation of the same case broke the file or removed the tensor)."""
    kind = recipe["kind"]
    try:
        if kind == "onnx_dim":
            return set_dim(data, recipe["part"], recipe["index"], recipe["dim"], recipe["value"])
        if kind == "onnx_batch":
            # A fixed batch on every input and output, as an exporter writes it.
            ranks = structure(data)
            for part in ("input", "output"):
                for index, rank in enumerate(ranks[part]):
                    if rank:
                        data = set_dim(data, part, index, 0, recipe["value"])
            return data
        if kind == "onnx_dtype":
            return set_dtype(data, recipe["part"], recipe["index"], recipe["dtype"])
        if kind == "onnx_drop_init":
            return drop_initializer(data, recipe["index"])
        if kind == "onnx_dup_init":
            return duplicate_initializer(data, recipe["index"])
    except NotApplicable:
        return data
    raise ValueError(f"unknown ONNX recipe kind {kind!r}")
