"""``atb_prediction.models.validation``, the checks behind ``atb models validate`` and promote,
on small registries with one deliberate fault each (models built with ``onnx.helper``)."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from atb_prediction import ModelNotAvailableError
from atb_prediction.models.scanning import scan_registry
from atb_prediction.models.validation import (
    check_version,
    parse_key,
    validate_registry,
    validate_version,
    zero_inputs,
)
from cli_helpers import assert_fits, run_atb, run_json, write_small_registry
from conftest import _model, linear_model, standard_metadata, write_bundle
from onnx import TensorProto, helper, numpy_helper

GOOD = "2025-01-01_1h_v1"


def log_model(seq: int = 4, features: int = 3) -> bytes:
    """``log(x)``: finite for positive inputs, ``-inf`` for the all-zero check window."""
    graph = helper.make_graph(
        [helper.make_node("Log", ["x"], ["y"])],
        "log",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", seq, features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", seq, features])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    data: bytes = model.SerializeToString()
    return data


def dynamic_model(features: int = 3) -> bytes:
    """A model whose sequence axis is symbolic: ``ReduceSum`` over it."""
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)],
        "dynamic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", features])],
        initializer=[axes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    data: bytes = model.SerializeToString()
    return data


def bundle(
    root: Path,
    version: str,
    model: bytes,
    *,
    model_type: str = "basic",
    metadata: dict[str, Any] | None = None,
    feature_schema: dict[str, Any] | None = None,
) -> Path:
    directory = root / "BTCUSDT" / model_type / version
    directory.mkdir(parents=True)
    (directory / "model.onnx").write_bytes(model)
    document = {
        "symbol": "BTCUSDT",
        "model_type": model_type,
        "timeframe": "1h",
        "version_id": version,
        "sequence_length": 4,
        "feature_names": ["a", "b", "c"],
    }
    document.update(metadata or {})
    (directory / "metadata.json").write_text(json.dumps(document), encoding="utf-8")
    if feature_schema is not None:
        (directory / "feature_schema.json").write_text(json.dumps(feature_schema), "utf-8")
    return directory


@pytest.fixture
def faulty(tmp_path: Path) -> Path:
    """One good version and one of each fault, in BTCUSDT/basic."""
    root = tmp_path / "registry"
    bundle(root, GOOD, linear_model(4, 3))
    bundle(root, "2025-01-02_1h_v1", log_model())
    bundle(root, "2025-01-03_1h_v1", b"\x08\x07" + b"not really protobuf" * 4)
    bundle(
        root,
        "2025-01-04_1h_v1",
        linear_model(4, 3),
        feature_schema={"sequence_length": 4, "features": [{"name": n} for n in "abcde"]},
    )
    bundle(root, "2025-01-05_1h_v1", linear_model(4, 3), metadata={"sequence_length": "x"})
    os.symlink(GOOD, root / "BTCUSDT/basic/latest")
    return root


def reports_by_key(root: Path) -> dict[str, Any]:
    return {report.key: report for report in validate_registry(root)}


def test_each_fault_is_reported_with_its_reason(faulty: Path) -> None:
    reports = reports_by_key(faulty)
    assert reports[f"BTCUSDT:1h:basic:{GOOD}"].ok
    assert reports[f"BTCUSDT:1h:basic:{GOOD}"].problems == []

    [nan] = reports["BTCUSDT:1h:basic:2025-01-02_1h_v1"].problems
    assert nan == "output 'y' has 12 non-finite value(s) of 12 for an all-zero input"

    [unopened] = reports["BTCUSDT:1h:basic:2025-01-03_1h_v1"].problems
    assert unopened.startswith("model does not open:")

    [shape] = reports["BTCUSDT:1h:basic:2025-01-04_1h_v1"].problems
    assert "feature_schema.json declares" in shape and "features=5" in shape

    schema = reports["BTCUSDT/basic/2025-01-05_1h_v1"]
    assert not schema.ok
    assert "sequence_length" in schema.problems[0]
    assert schema.path == str(faulty / "BTCUSDT/basic/2025-01-05_1h_v1")

    assert sum(not r.ok for r in reports.values()) == 4


def test_timings_are_recorded_for_versions_that_open(faulty: Path) -> None:
    report = validate_version(scan_registry(faulty).versions[0])
    assert report.timings is not None
    assert set(report.timings) == {"open", "inference"}
    assert all(value >= 0 for value in report.timings.values())


def test_a_broken_latest_is_a_failure(tmp_path: Path) -> None:
    bundle(tmp_path, GOOD, linear_model(4, 3))
    os.symlink("2099-01-01_1h_v9", tmp_path / "BTCUSDT/basic/latest")
    failures = [r for r in validate_registry(tmp_path) if not r.ok]
    assert [r.key for r in failures] == ["BTCUSDT/basic/latest"]
    assert "2099-01-01_1h_v9" in failures[0].problems[0]


def test_validating_a_dynamic_sequence_uses_the_declared_length(tmp_path: Path) -> None:
    bundle(tmp_path, GOOD, dynamic_model(), metadata={"sequence_length": 7})
    [report] = validate_registry(tmp_path)
    assert report.ok, report.problems


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: np.dtype[Any]
    shape: tuple[int | None, ...]


def test_zero_inputs_fill_dynamic_dimensions() -> None:
    tensors = [
        Tensor("window", np.dtype("float32"), (None, None, None)),
        Tensor("counts", np.dtype("int64"), (None, 2)),
    ]
    feed = zero_inputs(tensors, sequence_length=30, feature_count=2)  # type: ignore[arg-type]
    assert feed["window"].shape == (1, 30, 2) and feed["window"].dtype == np.float32
    assert feed["counts"].shape == (1, 2) and feed["counts"].dtype == np.int64
    unsized = zero_inputs(tensors[:1], sequence_length=None, feature_count=None)  # type: ignore[arg-type]
    assert unsized["window"].shape == (1, 1, 1) and not unsized["window"].any()


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("BTCUSDT", ("BTCUSDT", None, None, None)),
        ("BTCUSDT:1h:basic:v1", ("BTCUSDT", "1h", "basic", "v1")),
        ("BTCUSDT/basic", ("BTCUSDT", None, "basic", None)),
        ("BTCUSDT/basic/v1/", ("BTCUSDT", None, "basic", "v1")),
        ("*:1h", ("*", "1h", None, None)),
    ],
)
def test_parse_key_forms(key: str, expected: tuple[str | None, ...]) -> None:
    pattern = parse_key(key)
    assert (pattern.symbol, pattern.timeframe, pattern.model_type, pattern.version) == expected


@pytest.mark.parametrize("key", ["a:b:c:d:e", "a::b", "a/b/c/d", ":", "a//b"])
def test_parse_key_rejects_malformed_keys(key: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_key(key)


def test_keys_select_versions_and_unmatched_keys_fail(faulty: Path) -> None:
    selected = validate_registry(faulty, [f"BTCUSDT:1h:basic:{GOOD}", "*/*/2025-01-05_1h_v1"])
    assert [r.key for r in selected] == [
        f"BTCUSDT:1h:basic:{GOOD}",
        "BTCUSDT/basic/2025-01-05_1h_v1",
    ]
    with pytest.raises(ModelNotAvailableError, match="'ETHUSDT'"):
        validate_registry(faulty, ["BTCUSDT", "ETHUSDT"])


def test_overlapping_keys_handle_each_version_once(faulty: Path) -> None:
    """``BTCUSDT BTCUSDT:1h BTCUSDT:1h:basic:GOOD``: every BTCUSDT version (the unreadable one
    too) is validated, sealed and verified once, no key is said to match nothing, and the
    ETHUSDT versions are left alone."""
    write_small_registry(faulty, symbol="ETHUSDT")
    keys = ["BTCUSDT", "BTCUSDT:1h", f"BTCUSDT:1h:basic:{GOOD}"]
    expected = [
        f"BTCUSDT:1h:basic:{GOOD}",
        "BTCUSDT:1h:basic:2025-01-02_1h_v1",
        "BTCUSDT:1h:basic:2025-01-03_1h_v1",
        "BTCUSDT:1h:basic:2025-01-04_1h_v1",
        "BTCUSDT/basic/2025-01-05_1h_v1",
    ]
    assert [r.key for r in validate_registry(faulty, keys)] == expected

    validated = run_json("models", "validate", *keys, "--registry", faulty, expect=1)
    assert [r["key"] for r in validated["results"]] == expected
    assert (validated["checked"], validated["failed"]) == (5, 4)
    sealed = run_json("models", "seal", *keys, "--registry", faulty)
    assert sorted(r["key"] for r in sealed["results"]) == sorted(expected)
    verified = run_json("models", "verify", *keys, "--registry", faulty)
    assert sorted(r["key"] for r in verified["results"]) == sorted(expected)
    assert {r["status"] for r in verified["results"]} == {"ok"}
    assert not list(faulty.glob("ETHUSDT/*/*/manifest.json"))
    completed = run_atb("models", "verify", *keys, "--registry", faulty)
    assert completed.stderr == ""


def test_progress_is_reported_for_every_report(faulty: Path) -> None:
    calls: list[tuple[int, int, str]] = []
    reports = validate_registry(
        faulty, progress=lambda done, total, key: calls.append((done, total, key))
    )
    assert calls[-1][:2] == (len(reports), len(reports))
    assert [done for done, _, _ in calls][:4] == [1, 2, 3, 4]


def test_check_version_covers_valid_invalid_and_missing(faulty: Path) -> None:
    assert check_version(faulty, "BTCUSDT", "basic", GOOD).ok
    invalid = check_version(faulty, "BTCUSDT", "basic", "2025-01-05_1h_v1")
    assert not invalid.ok and "sequence_length" in invalid.problems[0]
    missing = check_version(faulty, "BTCUSDT", "basic", "2030-01-01_1h_v1")
    assert not missing.ok and "not a version the registry scan found" in missing.problems[0]


def test_the_cli_table_and_json_show_every_failure(faulty: Path) -> None:
    document = run_json("models", "validate", "--registry", faulty, expect=1)
    assert (document["checked"], document["failed"]) == (5, 4)
    by_key = {r["key"]: r for r in document["results"]}
    assert by_key["BTCUSDT/basic/2025-01-05_1h_v1"]["timings"] is None

    table = run_atb("models", "validate", "--registry", faulty, expect=1).stdout
    assert_fits(table)
    assert table.count("FAIL") == 4
    assert "non-finite" in table and "model does not open" in table

    listing = run_json("models", "list", "--all", "--registry", faulty)
    assert [i["path"] for i in listing["invalid"]] == ["BTCUSDT/basic/2025-01-05_1h_v1"]
    assert sum(not v["valid"] for v in listing["versions"]) == 3
    promote = run_atb(
        "models", "promote", "BTCUSDT", "basic", "2025-01-02_1h_v1", "--registry", faulty, expect=1
    )
    assert "non-finite" in promote.stderr


V1, V2 = "2025-01-01_1h_v1", "2025-01-02_1h_v1"


@pytest.fixture
def small_registry(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    write_small_registry(root, latest=V1)
    return root


def test_check_version_checks_the_named_model_type(small_registry: Path) -> None:
    """Two model types share a version name; only one of them is broken."""
    broken = small_registry / "BTCUSDT/other" / V2
    shutil.copytree(small_registry / "BTCUSDT/basic" / V2, broken)
    metadata = json.loads((broken / "metadata.json").read_text())
    metadata["model_type"] = "other"
    metadata["feature_names"] = ["a", "b", "c", "d", "e"]  # the model takes 3 features
    (broken / "metadata.json").write_text(json.dumps(metadata))
    assert check_version(small_registry, "BTCUSDT", "basic", V2).problems == []
    assert check_version(small_registry, "BTCUSDT", "other", V2).problems != []


def empty_output_model() -> bytes:
    """``[batch, 4, 3] -> [batch, 0]``: a model that answers with nothing."""
    import numpy as np

    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input_sequence"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "weight"], ["output"]),
        ],
        "empty",
        [helper.make_tensor_value_info("input_sequence", TensorProto.FLOAT, ["batch", 4, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 0])],
        [numpy_helper.from_array(np.zeros((12, 0), dtype=np.float32), "weight")],
    )
    return _model(graph)


def test_an_empty_model_output_is_flagged(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    metadata = standard_metadata("S", "t", V1, seq=4, features=3)
    write_bundle(root, "S", "t", V1, model=empty_output_model(), metadata=metadata)
    write_bundle(root, "S", "t", V2, model=linear_model(4, 3), metadata=metadata)
    document = run_json("models", "validate", "--registry", root, expect=1)
    [failure] = [r for r in document["results"] if not r["ok"]]
    assert failure["key"] == f"S:1h:t:{V1}"
    assert any("is empty" in problem for problem in failure["problems"])
