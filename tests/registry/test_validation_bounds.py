"""Checking a bundle never allocates what a hostile file asks for (issue 11).

A model with a huge fixed input shape, or a bundle declaring an absurd ``sequence_length`` for a
model with a dynamic one, must come back from ``validate``, ``inspect`` and ``list --all`` as a
problem in the report, not as a numpy traceback or an aborted process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from atb_prediction import scan_registry
from atb_prediction.models.validation import validate_version, zero_inputs
from onnx import TensorProto, helper


def _identity_model(path: Path, shape: list[int | str]) -> None:
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["y"], keepdims=0)],
        "bounds",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


def _bundle(root: Path, version: str, shape: list[int | str], sequence_length: int) -> Path:
    folder = root / "BTCUSDT" / "basic" / version
    folder.mkdir(parents=True)
    _identity_model(folder / "model.onnx", shape)
    metadata = {
        "symbol": "BTCUSDT",
        "model_type": "basic",
        "timeframe": "1h",
        "version_id": version,
        "sequence_length": sequence_length,
        "feature_names": ["close", "volume", "rsi"],
    }
    (folder / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return folder


@pytest.fixture()
def hostile_registry(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    _bundle(root, "2025-01-01_1h_v1", [1, 100000, 100000], 4)
    _bundle(root, "2025-01-02_1h_v1", ["batch", "sequence", 3], 2**53 + 1)
    os.symlink("2025-01-02_1h_v1", root / "BTCUSDT" / "basic" / "latest")
    return root


def test_validate_version_reports_absurd_zero_inputs(hostile_registry: Path) -> None:
    index = scan_registry(hostile_registry)
    assert len(index.versions) == 2, index.invalid
    for record in index.versions:
        report = validate_version(record)
        assert not report.ok
        assert any("would need" in problem for problem in report.problems), report.problems


def test_zero_inputs_refuses_before_allocating() -> None:
    class Tensor:
        name = "x"
        shape = (None, None, 3)
        dtype = "float32"

    feed = zero_inputs([Tensor()], sequence_length=4, feature_count=1)  # type: ignore[list-item]
    assert feed["x"].shape == (1, 4, 3)
    with pytest.raises(ValueError, match="would need"):
        zero_inputs([Tensor()], sequence_length=2**53 + 1, feature_count=None)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="at most 47"):
        zero_inputs([Tensor()], sequence_length=4, feature_count=None, max_bytes=47)  # type: ignore[list-item]


@pytest.mark.parametrize(
    "command",
    [
        ["models", "validate"],
        ["models", "list", "--all"],
        ["models", "inspect", "BTCUSDT:1h:basic:2025-01-01_1h_v1"],
    ],
)
def test_cli_reports_absurd_shapes_without_a_traceback(
    hostile_registry: Path, command: list[str]
) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "atb_prediction", *command, "--registry", str(hostile_registry)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode in (0, 1), completed.stderr
    assert "Traceback" not in completed.stderr
    # Tables wrap long reasons: compare with the white space folded.
    assert "would need" in " ".join((completed.stdout + completed.stderr).split())
