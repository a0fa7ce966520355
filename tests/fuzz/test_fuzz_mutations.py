"""The fuzzer's structured mutations: the protobuf wire codec, the ONNX edits (each checked by
parsing the result with ``onnx`` against the same edit made through ``onnx``'s own API), the
base registry they start from, and the recipes saved in cases."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from atb_prediction import PredictionConfig, PredictionModelRegistry, TensorInfo, scan_registry
from atb_prediction._fuzz import onnx_edits, wire
from atb_prediction._fuzz.cases import (
    BASE_FILES,
    MODEL_FILES,
    WINDOW,
    build_base,
    build_case,
    random_mutation,
)
from atb_prediction._fuzz.driver import _feeds, drive
from atb_prediction._fuzz.onnx_edits import DIM_VALUES, DTYPES, RECIPE_KINDS, NotApplicable
from atb_prediction.demo import DEMO_VERSIONS, demo_model_name
from conftest import lstm_model, reference_session, two_input_model

SHIPPED = Path(__file__).resolve().parents[2] / "python" / "atb_prediction" / "demo_models"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-base") / "registry"
    build_base(root)
    return root


@pytest.fixture(scope="module")
def model(base: Path) -> bytes:
    return (base / MODEL_FILES[0]).read_bytes()


def edited_with_onnx(data: bytes, change: Callable[[onnx.ModelProto], None]) -> onnx.ModelProto:
    expected = onnx.load_from_string(data)
    change(expected)
    return expected


# --- the wire codec ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        *(path.read_bytes() for path in sorted(SHIPPED.glob("*.onnx"))),
        two_input_model(),
        lstm_model(seq=6, features=2, hidden=3),
    ],
)
def test_parse_then_serialize_gives_the_same_bytes(data: bytes) -> None:
    assert wire.serialize(wire.parse(data)) == data


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (300, b"\xac\x02"),
        (2**31 - 1, b"\xff\xff\xff\xff\x07"),
        (2**40, b"\x80" * 5 + b"\x20"),
        (-1, b"\xff" * 9 + b"\x01"),
        (2**64 - 1, b"\xff" * 9 + b"\x01"),
    ],
)
def test_varints_are_encoded_as_protobuf_does(value: int, encoded: bytes) -> None:
    assert wire.encode_varint(value) == encoded
    assert wire.parse(b"\x08" + encoded) == [wire.Field(1, wire.VARINT, value % 2**64)]


def test_the_four_wire_types_parse_to_their_fields() -> None:
    data = b"\x08\x96\x01" + b"\x12\x03abc" + b"\x19" + bytes(range(8)) + b"\x25" + b"wxyz"
    assert wire.parse(data) == [
        wire.Field(1, wire.VARINT, 150),
        wire.Field(2, wire.LEN, b"abc"),
        wire.Field(3, wire.I64, bytes(range(8))),
        wire.Field(4, wire.I32, b"wxyz"),
    ]
    assert wire.serialize(wire.parse(data)) == data
    assert wire.packed_varints(b"\x01\xac\x02\x00") == [1, 300, 0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x08\x80", "a varint runs past the end at byte 2"),
        (b"\x08" + b"\x80" * 10 + b"\x01", "a varint longer than ten bytes ends at byte 11"),
        (b"\x0a\x05ab", "field 1 of 5 bytes runs past the end at byte 2"),
        (b"\x0d\x01\x02", "field 1 of 4 bytes runs past the end at byte 1"),
        (b"\x0b", "wire type 3 (field 1) at byte 1"),
        (b"\x02\x00", "field number 0 at byte 1"),
    ],
)
def test_malformed_bytes_raise_wire_error(data: bytes, message: str) -> None:
    with pytest.raises(wire.WireError) as raised:
        wire.parse(data)
    assert str(raised.value) == message


# --- the base registry ------------------------------------------------------------------------


def test_the_base_models_are_the_demo_models_cut_down_to_the_window(base: Path) -> None:
    basic = [v for v in DEMO_VERSIONS if v.model_type == "basic"]
    seq, features = WINDOW
    assert [seq, features] == [4, 3]
    for name, version in zip(MODEL_FILES, basic, strict=True):
        data = (base / name).read_bytes()
        cut = onnx.load_from_string(data)
        onnx.checker.check_model(cut, full_check=True)
        demo = onnx.load(SHIPPED / demo_model_name(version))
        weight = onnx.numpy_helper.to_array(demo.graph.initializer[0])
        bias = onnx.numpy_helper.to_array(demo.graph.initializer[1])

        def cut_down(model: onnx.ModelProto, weight: np.ndarray = weight) -> None:
            dims = model.graph.input[0].type.tensor_type.shape.dim
            dims[1].dim_value, dims[2].dim_value = seq, features
            model.graph.initializer[0].dims[0] = seq * features
            model.graph.initializer[0].raw_data = weight[: seq * features].tobytes()

        assert cut == edited_with_onnx(demo.SerializeToString(), cut_down)
        x = np.random.default_rng(1).random((2, seq, features), dtype=np.float32)
        (ours,) = reference_session(data).run(None, {"input_sequence": x})
        expected = x.reshape(2, -1) @ weight[: seq * features] + bias
        np.testing.assert_allclose(ours, expected, rtol=1e-6)
    assert len({(base / name).read_bytes() for name in MODEL_FILES}) == 4


def test_the_base_registry_loads_and_predicts(base: Path) -> None:
    index = scan_registry(base)
    assert [r.key for r in index.versions] == [
        f"{symbol}:1h:basic:{version}"
        for symbol in ("BTCUSDT", "ETHUSDT")
        for version in ("2025-01-01_1h_v1", "2025-01-02_1h_v1")
    ]
    assert len(index.invalid) == 0
    registry = PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(base), intra_op_threads=1)
    )
    for bundle in registry.list_bundles():
        assert bundle.runner.problems == ()
        prediction = bundle.runner.predict(np.zeros(WINDOW, dtype=np.float32))
        assert np.isfinite(prediction.price)


# --- the ONNX edits ---------------------------------------------------------------------------


def test_structure_lists_the_rank_of_every_tensor(model: bytes) -> None:
    assert onnx_edits.structure(model) == {"initializer": [2, 1], "input": [3], "output": [2]}
    assert onnx_edits.structure(two_input_model()) == {
        "initializer": [0],
        "input": [2, 2],
        "output": [2, 2],
    }


_DIMS = [("input", 0, 0), ("input", 0, 1), ("input", 0, 2), ("output", 0, 0), ("output", 0, 1)]


@pytest.mark.parametrize("value", DIM_VALUES)
@pytest.mark.parametrize(("part", "index", "dim"), _DIMS)
def test_set_dim_of_an_input_or_output(
    model: bytes, part: str, index: int, dim: int, value: int
) -> None:
    def change(expected: onnx.ModelProto) -> None:
        tensors = getattr(expected.graph, part)
        # dim_value and dim_param are a oneof: setting the value drops the name "batch".
        tensors[index].type.tensor_type.shape.dim[dim].dim_value = value

    data = onnx_edits.set_dim(model, part, index, dim, value)
    edited = onnx.load_from_string(data)
    assert edited == edited_with_onnx(model, change)
    assert edited.SerializeToString() == data  # no stale or repeated field left behind
    assert getattr(edited.graph, part)[index].type.tensor_type.shape.dim[dim].dim_value == value


@pytest.mark.parametrize("value", DIM_VALUES)
@pytest.mark.parametrize(("index", "dim"), [(0, 0), (0, 1), (1, 0)])
def test_set_dim_of_an_initializer(model: bytes, index: int, dim: int, value: int) -> None:
    def change(expected: onnx.ModelProto) -> None:
        expected.graph.initializer[index].dims[dim] = value

    data = onnx_edits.set_dim(model, "initializer", index, dim, value)
    edited = onnx.load_from_string(data)
    assert edited == edited_with_onnx(model, change)
    assert edited.SerializeToString() == data
    assert edited.graph.initializer[index].dims[dim] == value


def test_set_dim_reads_packed_initializer_dims() -> None:
    """onnx writes dims unpacked; a packed field (what proto3 writers emit) is read too."""
    tensor = wire.serialize(
        [
            wire.Field(1, wire.LEN, wire.encode_varint(6) + wire.encode_varint(2)),
            wire.Field(2, wire.VARINT, 1),
            wire.Field(8, wire.LEN, b"w"),
        ]
    )
    graph = wire.serialize([wire.Field(5, wire.LEN, tensor)])
    model = wire.serialize([wire.Field(1, wire.VARINT, 8), wire.Field(7, wire.LEN, graph)])
    assert onnx_edits.structure(model)["initializer"] == [2]
    edited = onnx.load_from_string(onnx_edits.set_dim(model, "initializer", 0, 1, 2**40))
    assert list(edited.graph.initializer[0].dims) == [6, 2**40]
    assert edited.graph.initializer[0].name == "w"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("part", "index"), [("input", 0), ("output", 0), ("initializer", 1)])
def test_set_dtype(model: bytes, part: str, index: int, dtype: int) -> None:
    def change(expected: onnx.ModelProto) -> None:
        tensor = getattr(expected.graph, part)[index]
        if part == "initializer":
            tensor.data_type = dtype
        else:
            tensor.type.tensor_type.elem_type = dtype

    data = onnx_edits.set_dtype(model, part, index, dtype)
    edited = onnx.load_from_string(data)
    assert edited == edited_with_onnx(model, change)
    assert edited.SerializeToString() == data


def test_set_dtype_adds_an_element_type_the_tensor_lacked() -> None:
    tensor = wire.serialize([wire.Field(8, wire.LEN, b"w")])
    graph = wire.serialize([wire.Field(5, wire.LEN, tensor)])
    model = wire.serialize([wire.Field(7, wire.LEN, graph)])
    edited = onnx.load_from_string(onnx_edits.set_dtype(model, "initializer", 0, 7))
    assert (edited.graph.initializer[0].name, edited.graph.initializer[0].data_type) == ("w", 7)


@pytest.mark.parametrize("index", [0, 1])
def test_drop_and_duplicate_an_initializer(model: bytes, index: int) -> None:
    initializers = list(onnx.load_from_string(model).graph.initializer)

    def without(expected: onnx.ModelProto) -> None:
        del expected.graph.initializer[index]

    def twice(expected: onnx.ModelProto) -> None:
        del expected.graph.initializer[:]
        doubled = initializers[: index + 1] + initializers[index:]
        expected.graph.initializer.extend(doubled)

    data = onnx_edits.drop_initializer(model, index)
    dropped = onnx.load_from_string(data)
    assert dropped == edited_with_onnx(model, without)
    assert dropped.SerializeToString() == data
    assert [t.name for t in dropped.graph.initializer] == [["bias"], ["weight"]][index]
    data = onnx_edits.duplicate_initializer(model, index)
    duplicated = onnx.load_from_string(data)
    assert duplicated == edited_with_onnx(model, twice)
    assert duplicated.SerializeToString() == data
    names = [["weight", "weight", "bias"], ["weight", "bias", "bias"]][index]
    assert [t.name for t in duplicated.graph.initializer] == names


def test_a_fixed_batch_is_set_on_every_input_and_output() -> None:
    data = two_input_model()
    recipe = {"kind": "onnx_batch", "value": 2**31 - 1}
    edited_data = onnx_edits.apply_recipe(data, recipe)
    edited = onnx.load_from_string(edited_data)

    def change(expected: onnx.ModelProto) -> None:
        for tensor in [*expected.graph.input, *expected.graph.output]:
            tensor.type.tensor_type.shape.dim[0].dim_value = 2**31 - 1

    assert edited == edited_with_onnx(data, change)
    assert edited.SerializeToString() == edited_data


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: onnx_edits.set_dim(m, "input", 1, 0, 0),
        lambda m: onnx_edits.set_dim(m, "input", 0, 3, 0),
        lambda m: onnx_edits.set_dim(m, "initializer", 1, 1, 0),
        lambda m: onnx_edits.set_dtype(m, "output", 1, 1),
        lambda m: onnx_edits.drop_initializer(m, 2),
        lambda m: onnx_edits.duplicate_initializer(m, -1),
        lambda m: onnx_edits.set_dim(m[:-3], "input", 0, 0, 0),
        lambda m: onnx_edits.structure(b"\x0b"),
    ],
)
def test_an_edit_that_does_not_apply_raises_not_applicable(
    model: bytes, edit: Callable[[bytes], object]
) -> None:
    with pytest.raises(NotApplicable):
        edit(model)


def test_a_recipe_that_does_not_apply_leaves_the_model_as_it_was(model: bytes) -> None:
    recipe = {"kind": "onnx_dim", "part": "output", "index": 3, "dim": 0, "value": 0}
    assert onnx_edits.apply_recipe(model, recipe) is model
    assert onnx_edits.apply_recipe(b"\xff\xff", {"kind": "onnx_drop_init", "index": 0}) == (
        b"\xff\xff"
    )
    with pytest.raises(ValueError, match="unknown ONNX recipe kind 'onnx_nothing'"):
        onnx_edits.apply_recipe(model, {"kind": "onnx_nothing"})


def test_random_recipes_cover_every_kind_value_and_part_and_always_parse(model: bytes) -> None:
    rng = random.Random(5)
    recipes = [onnx_edits.random_recipe(rng, model) for _ in range(400)]
    assert {r["kind"] for r in recipes} == set(RECIPE_KINDS)
    assert {r["value"] for r in recipes if "value" in r} == set(DIM_VALUES)
    assert {r["part"] for r in recipes if "part" in r} == {"input", "output", "initializer"}
    assert {r["dtype"] for r in recipes if "dtype" in r} == set(DTYPES)
    for recipe in recipes:
        edited = onnx_edits.apply_recipe(model, recipe)
        assert edited != model or recipe.get("dtype") == onnx.TensorProto.FLOAT, recipe
        onnx.load_from_string(edited)  # still a well-formed ModelProto


# --- recipes in cases -------------------------------------------------------------------------


def test_a_saved_structured_case_rebuilds_the_same_model(tmp_path: Path) -> None:
    mutations = [
        {"file": MODEL_FILES[1], "kind": "onnx_batch", "value": 2**31 - 1},
        {"file": MODEL_FILES[1], "kind": "onnx_dup_init", "index": 0},
        {"file": MODEL_FILES[2], "kind": "onnx_dtype", "part": "input", "index": 0, "dtype": 11},
    ]
    saved = json.loads(json.dumps({"mutations": mutations}))["mutations"]
    first = build_case(tmp_path / "a", saved)
    again = build_case(tmp_path / "b", saved)
    for name in BASE_FILES:
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    batch = onnx.load(first / MODEL_FILES[1])
    assert [t.type.tensor_type.shape.dim[0].dim_value for t in batch.graph.input] == [2**31 - 1]
    assert [t.type.tensor_type.shape.dim[0].dim_value for t in batch.graph.output] == [2**31 - 1]
    assert [t.name for t in batch.graph.initializer] == ["weight", "weight", "bias"]
    assert onnx.load(first / MODEL_FILES[2]).graph.input[0].type.tensor_type.elem_type == 11
    untouched = build_case(tmp_path / "c", [])
    for name in (MODEL_FILES[0], MODEL_FILES[3]):
        assert (first / name).read_bytes() == (untouched / name).read_bytes()


def test_random_mutations_mix_structured_byte_and_file_kinds(base: Path) -> None:
    rng = random.Random(11)
    mutations = [random_mutation(rng, base) for _ in range(600)]
    structured = [m for m in mutations if m["kind"] in RECIPE_KINDS]
    assert 0.25 < len(structured) / len(mutations) < 0.35
    assert {m["file"] for m in structured} == set(MODEL_FILES)
    kinds = {m["kind"] for m in mutations}
    assert kinds >= {*RECIPE_KINDS, "json_value", "flip", "truncate", "insert", "varint", "fifo"}
    assert json.loads(json.dumps(mutations)) == mutations


# --- what the child feeds a model -------------------------------------------------------------


def test_feeds_follow_the_declared_shapes_without_allocating_them() -> None:
    inputs = (
        TensorInfo("x", np.float32, [None, 2**20, 3]),
        TensorInfo("n", np.int64, [5, 2]),
    )
    feeds = list(_feeds(inputs))
    shapes = [{name: array.shape for name, array in feed.items()} for feed in feeds]
    assert shapes == [
        {"x": (1, 2**20, 3), "n": (5, 2)},
        {"x": (0, 2**20, 3), "n": (0, 2)},
        {"x": (10**9, 0, 3), "n": (10**9, 0)},
        {"x": (10**9, 2**20, 3), "n": (10**9, 2)},
    ]
    for feed in feeds:
        assert feed["x"].dtype == np.float32 and feed["n"].dtype == np.int64
        assert all(stride == 0 for array in feed.values() for stride in array.strides)
        assert not any(array.flags.writeable for array in feed.values())


def test_feeds_skip_what_numpy_cannot_shape() -> None:
    assert list(_feeds(())) == []
    assert list(_feeds((TensorInfo("x", np.float32, [-1, 3]),))) == []
    scalar = list(_feeds((TensorInfo("x", np.float32, []),)))
    assert [feed["x"].shape for feed in scalar] == [()]
    vector = list(_feeds((TensorInfo("x", np.float32, [None]),)))
    assert [feed["x"].shape for feed in vector] == [(1,), (0,), (10**9,)]
    # 2**40 * 2**40 elements: past what numpy counts, so only the empty feeds remain.
    huge = list(_feeds((TensorInfo("x", np.float32, [2**40, 2**40]),)))
    assert [feed["x"].shape for feed in huge] == [(0, 2**40), (10**9, 0)]


def test_drive_accepts_typed_refusals_and_reports_other_exceptions(tmp_path: Path) -> None:
    # No model opens: scan, registry and validation run, and nothing is found.
    unopenable = build_case(tmp_path / "a", [{"file": n, "kind": "empty"} for n in MODEL_FILES])
    assert drive(unopenable) is None
    # A missing registry makes the scan itself raise: a finding, with its traceback.
    finding = drive(tmp_path / "missing")
    assert finding is not None and finding[0] == "exception"
    assert "Traceback (most recent call last):" in finding[1]
    assert "scan_registry(root)" in finding[1]
