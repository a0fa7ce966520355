"""No allocation sized by a model or an input happens before the input is checked (issue 18).

A model may declare shapes no machine can hold; a caller may pass an array whose shape is absurd
or whose view describes far more elements than it stores. Inputs are checked against the model
first, output buffers are sized from the input the model accepted, and every buffer sized by a
model or an input is allocated fallibly: the answer is ``InvalidInputError`` or
``AllocationError`` (a ``MemoryError``), never an abort. Overcommit hides an allocation that
would abort, so the worst cases run in a child process under ``RLIMIT_AS``, as a container
would set it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from atb_prediction import (
    AllocationError,
    InvalidInputError,
    OnnxSession,
    PredictionConfig,
    PredictionError,
    scan_registry,
)
from atb_prediction.models.registry import PredictionModelRegistry
from atb_prediction.models.validation import validate_version
from conftest import _model, point_latest, standard_metadata, write_bundle
from onnx import TensorProto, helper

#: The largest batch an ONNX int32 dimension holds.
HUGE = 2_147_483_647

#: The address-space limit of the child processes: 6 GiB.
LIMIT = 6 << 30


def identity(batch: int | str, seq: int = 120, features: int = 5) -> bytes:
    """``y = x`` over ``[batch, seq, features]`` float32, ``batch`` fixed or named."""
    shape = [batch, seq, features]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
    )
    return _model(graph)


def zeros_of_shape(declared: list[int | str]) -> bytes:
    """``y = zeros(shape)`` for an int64 ``shape`` input, its output declared ``declared``."""
    graph = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["shape"], ["y"])],
        "zeros_of_shape",
        [helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, declared)],
    )
    return _model(graph)


def bundle(root: Path, model_type: str, model: bytes) -> Path:
    version = "2026-01-01_1h_v1"
    folder = write_bundle(
        root,
        "BTCUSDT",
        model_type,
        version,
        model=model,
        metadata=standard_metadata("BTCUSDT", model_type, version),
    )
    point_latest(root, "BTCUSDT", model_type, version)
    return folder


def dimension_error(batch: int) -> str:
    return (
        f'input "x" has shape ({batch}, 120, 5), expected ({HUGE}, 120, 5): '
        f"dimension 0 is {batch}, expected {HUGE}"
    )


CHILD = textwrap.dedent(
    """
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    import numpy as np
    from atb_prediction import OnnxSession, PredictionConfig, PredictionError
    from atb_prediction.models.registry import PredictionModelRegistry

    root, huge_output, any_output = sys.argv[1], sys.argv[2], sys.argv[3]
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=root))
    runner = registry.select_bundle(symbol="BTCUSDT", model_type="fixed", timeframe="1h").runner
    session = OnnxSession(runner.model_path)
    cases = {{
        "predict": lambda: runner.predict(np.zeros((120, 5), np.float32)),
        "predict_batch": lambda: runner.predict_batch(np.zeros((2, 120, 5), np.float32)),
        "run": lambda: session.run(np.zeros((1, 120, 5), np.float32)),
        "planned_output": lambda: OnnxSession(huge_output, warmup=False).run(
            np.array([1, 1], np.int64)
        ),
        # ONNX Runtime allocates 3 GB for the output; copying it out needs 3 GB more.
        "copied_output": lambda: OnnxSession(any_output, warmup=False).run(
            np.array([750_000_000, 1], np.int64)
        ),
    }}
    for name, case in cases.items():
        try:
            case()
        except Exception as error:
            kind = [
                type(error).__name__,
                isinstance(error, MemoryError),
                isinstance(error, PredictionError),
            ]
            print(json.dumps([name, kind, str(error)]))
        else:
            print(json.dumps([name, [], "no error"]))
    """
)


def test_a_fixed_batch_model_refuses_small_inputs_under_a_memory_limit(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    bundle(root, "fixed", identity(HUGE))
    # The input is small and valid; the planned output is 8,589,934,588 bytes.
    huge_output = tmp_path / "huge_output.onnx"
    huge_output.write_bytes(zeros_of_shape([HUGE, 1]))
    any_output = tmp_path / "any_output.onnx"
    any_output.write_bytes(zeros_of_shape(["rows", "columns"]))
    child = [sys.executable, "-c", CHILD.format(limit=LIMIT)]
    completed = subprocess.run(
        [*child, str(root), str(huge_output), str(any_output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # An abort ("memory allocation of ... failed") would end the child with SIGABRT.
    assert completed.returncode == 0, completed.stderr
    results = {
        name: (tuple(kind), message)
        for name, kind, message in map(json.loads, completed.stdout.splitlines())
    }
    refused = ("InvalidInputError", False, True)
    assert results == {
        "predict": (refused, dimension_error(1)),
        "predict_batch": (refused, dimension_error(2)),
        "run": (refused, dimension_error(1)),
        # The input is valid; the output the model declares is allocated by numpy, which runs
        # out of address space and says so as a MemoryError.
        "planned_output": (
            ("AllocationError", True, True),
            f'not enough memory for output "y" of shape ({HUGE}, 1) (8589934588 bytes)',
        ),
        "copied_output": (
            ("AllocationError", True, True),
            'not enough memory for a copy of output "y" of shape (750000000, 1) (3000000000 bytes)',
        ),
    }


def test_a_zero_size_input_is_refused_by_name() -> None:
    session = OnnxSession(identity("batch"))
    message = (
        'input "x" has shape (1000000000, 0, 5), expected (None, 120, 5): '
        "dimension 1 is 0, expected 120"
    )
    with pytest.raises(InvalidInputError) as raised:
        session.run(np.zeros((10**9, 0, 5), np.float32))
    assert str(raised.value) == message
    with pytest.raises(InvalidInputError) as raised:
        session.run({"x": np.zeros((10**9, 0, 5), np.float32)})
    assert str(raised.value) == message


def test_a_strided_view_is_checked_before_it_is_copied() -> None:
    session = OnnxSession(identity("batch"))
    # A broadcast stores one value and describes 6e11: copying it first would ask for 2.4 TB.
    wrong = np.broadcast_to(np.float32(0), (10**9, 121, 5))
    with pytest.raises(InvalidInputError) as raised:
        session.run(wrong)
    assert str(raised.value) == (
        'input "x" has shape (1000000000, 121, 5), expected (None, 120, 5): '
        "dimension 1 is 121, expected 120"
    )
    with pytest.raises(InvalidInputError) as raised:
        session.run({"z": wrong})
    assert (
        str(raised.value)
        == 'unknown input "z"; the model takes one input: "x" (float32 (None, 120, 5))'
    )


def test_a_strided_view_memory_cannot_hold_is_a_memory_error(tmp_path: Path) -> None:
    # The shape is one the model accepts; the copy into C order (2.6 PB) cannot be allocated.
    view = np.broadcast_to(np.float32(0), (2**40, 120, 5))
    expected = (
        "not enough memory for a C-ordered copy of an array of shape (1099511627776, 120, 5) "
        "(2638827906662400 bytes)"
    )
    with pytest.raises(AllocationError) as raised:
        OnnxSession(identity("batch")).run(view)
    assert str(raised.value) == expected
    assert isinstance(raised.value, MemoryError)
    assert isinstance(raised.value, PredictionError)

    root = tmp_path / "registry"
    bundle(root, "dynamic", identity("batch"))
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(root)))
    runner = registry.select_bundle(symbol="BTCUSDT", model_type="dynamic", timeframe="1h").runner
    for predict in (runner.predict, runner.predict_batch):
        with pytest.raises(AllocationError) as raised:
            predict(view)
        assert str(raised.value) == expected
    # The runner still works afterwards.
    window = np.full((120, 5), 0.5, np.float32)
    assert runner.predict(window).price == pytest.approx(0.5)


def test_validation_reports_a_fixed_batch_model_without_allocating(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    bundle(root, "fixed", identity(HUGE))
    report = validate_version(scan_registry(str(root)).versions[0])
    assert not report.ok
    assert report.problems == [
        f"cannot build an all-zero input: input 'x' of shape ({HUGE}, 120, 5) would need "
        "5153960752800 bytes (the all-zero inputs may take at most 268435456)"
    ]


VALIDATION_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from atb_prediction import OnnxSession, scan_registry
    from atb_prediction.models.validation import validate_version

    record = scan_registry(sys.argv[1]).versions[0]
    # Load the library and its pools first, then leave 100 MiB of address space: the 191 MiB of
    # zeros the bundle asks for (within the 256 MiB cap) cannot be allocated.
    OnnxSession(record.model_path, warmup=False, intra_op_threads=1)
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
    resource.setrlimit(resource.RLIMIT_AS, (size + (100 << 20),) * 2)
    report = validate_version(record)
    print(json.dumps([report.ok, report.problems]))
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_validation_reports_zero_inputs_memory_cannot_hold(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    seq = 10_000_000
    shape = [1, seq, 5]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "long_window",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
    )
    version = "2026-01-01_1h_v1"
    metadata = standard_metadata("BTCUSDT", "long", version, seq=seq)
    write_bundle(root, "BTCUSDT", "long", version, model=_model(graph), metadata=metadata)
    completed = subprocess.run(
        [sys.executable, "-c", VALIDATION_CHILD, str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    ok, problems = json.loads(completed.stdout)
    assert not ok
    assert len(problems) == 1
    assert problems[0].startswith("cannot build an all-zero input: Unable to allocate "), problems
    assert "(1, 10000000, 5)" in problems[0]
