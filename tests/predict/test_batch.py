"""``predict_batch`` on the sweep's engine: a large batch cut into chunks that run in parallel on
one single-threaded session per core, results written in place; and the registry's default
threading (one thread per session, none idle)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from atb_prediction import OnnxRunner, PredictionConfig
from atb_prediction._core import usable_cores
from atb_prediction.models.exceptions import InvalidInputError
from conftest import FIXTURE_REGISTRY, affine_model, lstm_model, reference_session, run_python

CORES = usable_cores()


def runner(tmp_path: Path, model: bytes, metadata: dict[str, object] | None = None,
           **config: object) -> OnnxRunner:  # fmt: skip
    path = tmp_path / "bundle" / "model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model)
    if metadata is not None:
        import json

        (path.parent / "metadata.json").write_text(json.dumps(metadata))
    return OnnxRunner(path, PredictionConfig(**config))  # type: ignore[arg-type]


def test_a_large_batch_runs_in_chunks_on_one_session_per_core(tmp_path: Path) -> None:
    model = lstm_model(seq=20, features=3, hidden=8)  # ~3 µs a window: 1,000 take ~3 ms
    bundle = runner(tmp_path, model)
    x = np.random.default_rng(1).standard_normal((1000, 20, 3)).astype(np.float32)
    small = bundle.predict_batch(x[:48])  # under two 32-window chunks: the bundle's own session
    assert bundle.bundle.batch_sessions == 0
    batch = bundle.predict_batch(x)
    # Chunks of at least 32 windows: one session per core, the bundle's own among them.
    assert bundle.bundle.batch_sessions == min(CORES, 1000 // 32) - 1
    session = reference_session(model)
    expected = session.run(None, {session.get_inputs()[0].name: x})[0][:, 0]
    np.testing.assert_allclose(batch["price"], expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(small["price"], expected[:48], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(batch["direction"], np.where(
        expected > 0.01, 1, np.where(expected < -0.01, -1, 0)))  # fmt: skip
    assert batch["price"].shape == (1000,) and batch["price"].dtype == np.float64
    bundle.predict_batch(x)
    assert bundle.bundle.batch_sessions == min(CORES, 1000 // 32) - 1  # kept, not opened again


@pytest.mark.skipif(CORES < 2, reason="a split needs two cores")
def test_a_batch_splits_from_two_chunks_of_32_windows() -> None:
    """The fixture LSTM takes ~0.4 ms a window, so any batch of it is worth splitting once it
    holds two 32-window chunks; 63 windows still run whole on the bundle's own session."""
    model = FIXTURE_REGISTRY / "BTCUSDT" / "basic" / "2025-10-30_12h_v1" / "model.onnx"
    bundle = OnnxRunner(model, PredictionConfig(prediction_cache_enabled=False))
    x = np.random.default_rng(3).random((64, 120, 5), dtype=np.float32)
    session = reference_session(model.read_bytes())
    expected = session.run(None, {session.get_inputs()[0].name: x})[0][:, 0]
    whole = bundle.predict_batch(x[:63])
    assert bundle.bundle.batch_sessions == 0
    split = bundle.predict_batch(x)
    assert bundle.bundle.batch_sessions == 1  # two chunks of 32: the bundle's own and one more
    np.testing.assert_allclose(whole["price"], expected[:63], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(split["price"], expected, rtol=1e-5, atol=1e-7)


def test_a_batch_too_quick_to_split_runs_whole(tmp_path: Path) -> None:
    """A split costs ~150 µs a call; a linear model's 257 windows take ~70 µs whole (they took
    249 µs split), and its 500 windows ~130 µs."""
    model = affine_model(120, 5, weight=0.01, bias=(0.5,))
    bundle = runner(tmp_path, model)
    x = np.random.default_rng(2).standard_normal((500, 120, 5)).astype(np.float32)
    for windows in (257, 500):
        batch = bundle.predict_batch(x[:windows])
        session = reference_session(model)
        expected = session.run(None, {session.get_inputs()[0].name: x[:windows]})[0][:, 0]
        np.testing.assert_allclose(batch["price"], expected, rtol=1e-5, atol=1e-6)
    assert bundle.bundle.batch_sessions == 0


def test_the_first_bad_window_is_named_in_the_whole_batch(tmp_path: Path) -> None:
    bundle = runner(tmp_path, lstm_model(seq=4, features=2, hidden=32))
    x = np.ones((4000, 4, 2), dtype=np.float32)
    x[1700, 1, 0] = np.inf
    x[700, 3, 1] = np.nan
    with pytest.raises(InvalidInputError, match=r"first at window 700, step 3, feature 1\)"):
        bundle.predict_batch(x)
    x[700, 3, 1] = 0.0
    with pytest.raises(InvalidInputError, match=r"first at window 1700, step 1, feature 0\)"):
        bundle.predict_batch(x)
    x[1700, 1, 0] = 0.0
    bundle.predict_batch(x)
    # The errors came from chunks run on one session per core.
    assert bundle.bundle.batch_sessions == min(CORES, 4000 // 32) - 1


def test_a_classifier_batch_in_chunks_keeps_its_probabilities(tmp_path: Path) -> None:
    metadata = {"task_type": "ternary_classification", "class_labels": [-1, 0, 1],
                "sequence_length": 20}  # fmt: skip
    model = lstm_model(seq=20, features=3, hidden=8, outputs=3, softmax=True)
    bundle = runner(tmp_path, model, metadata)
    x = np.random.default_rng(4).standard_normal((777, 20, 3)).astype(np.float32)
    batch = bundle.predict_batch(x)
    assert bundle.bundle.batch_sessions == min(CORES, 777 // 32) - 1
    session = reference_session(model)
    expected = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(batch["probabilities"], expected, rtol=1e-5)
    np.testing.assert_array_equal(batch["direction"], np.array([-1, 0, 1])[expected.argmax(1)])
    assert np.isnan(batch["price"]).all()
    np.testing.assert_allclose(batch["confidence"], expected.max(1), rtol=1e-5)


def test_a_shared_pool_runs_a_batch_whole(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import numpy as np
        from pathlib import Path
        from atb_prediction import OnnxRunner, PredictionConfig
        path = Path({str(tmp_path)!r}) / "model.onnx"
        path.write_bytes({affine_model(4, 2, weight=1.0)!r})
        runner = OnnxRunner(path, PredictionConfig(intra_op_threads=2))
        runner.predict_batch(np.ones((1000, 4, 2), np.float32))
        print(runner.bundle.batch_sessions)
        """
    )
    result = run_python(code, OPENBLAS_NUM_THREADS="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0"]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
def test_idle_bundles_hold_no_thread_and_burn_no_cpu(tmp_path: Path) -> None:
    """200 bundles opened with the defaults: no thread each, and next to no CPU while idle."""
    model = tmp_path / "model.onnx"
    model.write_bytes(lstm_model(seq=20, features=3, hidden=8))
    code = textwrap.dedent(
        f"""
        import os, resource, time
        from atb_prediction import OnnxRunner
        threads = lambda: len(os.listdir("/proc/self/task"))
        first = OnnxRunner({str(model)!r})
        before = threads()
        runners = [OnnxRunner({str(model)!r}) for _ in range(200)]
        after = threads()
        start = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(3)
        end = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime)
        print(before, after, os.cpu_count(), cpu)
        """
    )
    result = run_python(code, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    assert result.returncode == 0, result.stderr
    before, after, cores, cpu = result.stdout.split()
    assert int(after) == int(before), f"200 bundles grew the process from {before} to {after}"
    assert int(after) <= int(cores) + 8
    assert float(cpu) <= 0.05
