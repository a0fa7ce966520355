"""OnnxSession: outputs equal onnxruntime's, inputs are checked, threads are safe."""

from __future__ import annotations

import gc
import logging
import os
import textwrap
import threading
import weakref
from pathlib import Path

import atb_prediction
import numpy as np
import pytest
from atb_prediction import (
    InferenceTimeoutError,
    InvalidInputError,
    ModelLoadError,
    OnnxRunner,
    OnnxSession,
    PredictionConfig,
    PredictionError,
)
from atb_prediction._core import configure_thread_pools
from conftest import (
    FIXTURE_REGISTRY,
    _model,
    identity_model,
    linear_model,
    point_latest,
    reference_session,
    run_python,
    slow_model,
    standard_metadata,
    write_bundle,
)
from onnx import TensorProto, helper


def _reference_run(model: bytes | Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return reference_session(model).run(None, feeds)


@pytest.mark.parametrize("batch", [1, 7])
def test_tiny_model_matches_onnxruntime(tiny_model: bytes, batch: int) -> None:
    session = OnnxSession(tiny_model, intra_op_threads=1)
    x = np.random.default_rng(batch).standard_normal((batch, 120, 5)).astype(np.float32)
    (ours,) = session.run(x)
    (expected,) = _reference_run(tiny_model, {"input_sequence": x})
    assert ours.shape == (batch, 1) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, rtol=1e-5)


def test_lstm_matches_onnxruntime(lstm_bytes: bytes) -> None:
    session = OnnxSession(lstm_bytes)
    x = np.random.default_rng(3).standard_normal((4, 120, 5)).astype(np.float32)
    (ours,) = session.run(x)
    (expected,) = _reference_run(lstm_bytes, {"input_layer": x})
    np.testing.assert_allclose(ours, expected, rtol=1e-5)


def test_two_inputs_two_outputs(two_inputs: bytes) -> None:
    session = OnnxSession(two_inputs)
    prices = np.array([[1.5, 2.0, -3.0], [0.5, 0.0, 4.0]], dtype=np.float32)
    counts = np.array([[1, 0, -2], [3, 5, 0]], dtype=np.int64)
    feeds = {"prices": prices, "counts": counts}
    weighted, positive = session.run(feeds)
    expected = _reference_run(two_inputs, feeds)
    np.testing.assert_allclose(weighted, expected[0], rtol=1e-5)
    assert positive.dtype == np.bool_
    np.testing.assert_array_equal(positive, expected[1])
    as_dict = session.run(feeds, as_dict=True)
    assert list(as_dict) == ["weighted", "positive"]
    np.testing.assert_array_equal(as_dict["positive"], expected[1])


def test_every_supported_dtype_round_trips() -> None:
    session = OnnxSession(identity_model())
    rng = np.random.default_rng(0)
    feeds = {
        "in_float32": rng.standard_normal((2, 3)).astype(np.float32),
        "in_float64": rng.standard_normal((2, 3)),
        "in_int64": rng.integers(-(2**40), 2**40, (2, 3)),
        "in_int32": rng.integers(-1000, 1000, (2, 3), dtype=np.int32),
        "in_bool": rng.integers(0, 2, (2, 3)).astype(bool),
        "in_uint8": rng.integers(0, 255, (2, 3), dtype=np.uint8),
    }
    outputs = session.run(feeds, as_dict=True)
    for name, value in feeds.items():
        out = outputs[name.replace("in_", "out_")]
        assert out.dtype == value.dtype
        np.testing.assert_array_equal(out, value)


def test_non_contiguous_inputs_are_copied_correctly(tiny_model: bytes) -> None:
    session = OnnxSession(tiny_model)
    base = np.random.default_rng(1).standard_normal((3, 120, 10)).astype(np.float32)
    strided = base[:, :, ::2]
    fortran = np.asfortranarray(base[:, :, :5])
    assert not strided.flags.c_contiguous and not fortran.flags.c_contiguous
    for x in (strided, fortran):
        (ours,) = session.run(x)
        (expected,) = _reference_run(tiny_model, {"input_sequence": np.ascontiguousarray(x)})
        np.testing.assert_allclose(ours, expected, rtol=1e-5)


def test_lists_are_converted_to_the_model_dtype(tiny_model: bytes) -> None:
    session = OnnxSession(tiny_model)
    x = np.ones((1, 120, 5), dtype=np.float32)
    (from_list,) = session.run(x.tolist())
    (from_array,) = session.run(x)
    np.testing.assert_array_equal(from_list, from_array)


def test_introspection(two_inputs: bytes, tiny_model: bytes) -> None:
    session = OnnxSession(two_inputs)
    assert [i.name for i in session.inputs] == ["prices", "counts"]
    assert [i.dtype for i in session.inputs] == [np.dtype("float32"), np.dtype("int64")]
    assert session.inputs[0].shape == (None, 3)
    assert [o.name for o in session.outputs] == ["weighted", "positive"]
    assert session.outputs[1].dtype == np.dtype("bool")
    assert session.metadata == {"purpose": "two inputs", "author": "tests"}
    assert session.providers == ["cpu"]
    assert repr(OnnxSession(tiny_model)).startswith("OnnxSession('<")
    assert "TensorInfo(name='prices'" in repr(session.inputs[0])


def test_repr_names_the_file(tmp_path: Path, tiny_model: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(tiny_model)
    assert repr(OnnxSession(path)) == f"OnnxSession({str(path)!r})"


def test_warmup_can_be_disabled(tiny_model: bytes) -> None:
    session = OnnxSession(tiny_model, warmup=False, optimization_level="disable")
    (out,) = session.run(np.zeros((1, 120, 5), dtype=np.float32))
    assert out.shape == (1, 1)


def test_many_threads_share_one_session(tiny_model: bytes) -> None:
    # Each thread passes its own array, so the session's cached input value changes hands
    # between threads all the time.
    session = OnnxSession(tiny_model, intra_op_threads=1)
    reference = reference_session(tiny_model)
    inputs = [
        np.random.default_rng(seed).standard_normal((1, 120, 5)).astype(np.float32)
        for seed in range(8)
    ]
    expected = [reference.run(None, {"input_sequence": x})[0] for x in inputs]
    failures: list[str] = []

    def worker(index: int) -> None:
        for call in range(500):
            (out,) = session.run(inputs[index])
            if not np.allclose(out, expected[index], rtol=1e-5):
                failures.append(f"thread {index} call {call}: {out} != {expected[index]}")
                return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive()
    assert failures == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"", "empty"), (b"not a model at all", "not a valid ONNX model")],
)
def test_bad_model_bytes_raise_model_load_error(content: bytes, fragment: str) -> None:
    with pytest.raises(ModelLoadError, match=fragment):
        OnnxSession(content)


def test_bad_model_files_raise_model_load_error(tmp_path: Path, tiny_model: bytes) -> None:
    with pytest.raises(ModelLoadError, match="does not exist") as missing:
        OnnxSession(tmp_path / "missing.onnx")
    assert "missing.onnx" in str(missing.value)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty"):
        OnnxSession(empty)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(tiny_model[: len(tiny_model) // 2])
    with pytest.raises(ModelLoadError, match=r"truncated\.onnx"):
        OnnxSession(truncated)
    assert issubclass(ModelLoadError, PredictionError)


def test_wrong_model_argument_type() -> None:
    with pytest.raises(TypeError, match="path"):
        OnnxSession(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("feeds", "fragments"),
    [
        ({"nope": np.zeros((1, 3), np.float32)}, ["unknown input 'nope'", "prices"]),
        ({"prices": np.zeros((1, 3), np.float32)}, ["missing input 'counts'", "int64"]),
        (
            {"prices": np.zeros((1, 3), np.float64), "counts": np.zeros((1, 3), np.int64)},
            ["'prices'", "float64", "expected float32"],
        ),
        (
            {"prices": np.zeros((3,), np.float32), "counts": np.zeros((1, 3), np.int64)},
            ["'prices'", "rank 1", "expected rank 2"],
        ),
        (
            {"prices": np.zeros((1, 4), np.float32), "counts": np.zeros((1, 3), np.int64)},
            ["'prices'", "(1, 4)", "dimension 1 is 4, expected 3"],
        ),
    ],
)
def test_bad_inputs_raise_invalid_input_error(
    two_inputs: bytes, feeds: dict[str, np.ndarray], fragments: list[str]
) -> None:
    session = OnnxSession(two_inputs)
    with pytest.raises(InvalidInputError) as raised:
        session.run(feeds)
    for fragment in fragments:
        assert fragment.replace("'", '"') in str(raised.value).replace("'", '"')
    assert isinstance(raised.value, ValueError)


def test_single_array_for_a_two_input_model(two_inputs: bytes) -> None:
    with pytest.raises(InvalidInputError, match="2 inputs"):
        OnnxSession(two_inputs).run(np.zeros((1, 3), np.float32))


def test_unsupported_input_dtype(tiny_model: bytes) -> None:
    with pytest.raises(InvalidInputError, match="complex"):
        OnnxSession(tiny_model).run(np.zeros((1, 120, 5), np.complex64))


def test_bad_options_raise_value_error(tiny_model: bytes) -> None:
    with pytest.raises(ValueError, match="unknown execution provider"):
        OnnxSession(tiny_model, providers=["tpu"])
    with pytest.raises(ValueError, match="optimization level"):
        OnnxSession(tiny_model, optimization_level="max")
    with pytest.raises(ValueError, match="intra_op_threads"):
        OnnxSession(tiny_model, intra_op_threads=0)
    with pytest.raises(ValueError, match="timeout"):
        OnnxSession(tiny_model).run(np.zeros((1, 120, 5), np.float32), timeout=-1)


def test_missing_providers_are_skipped_with_a_warning(
    tiny_model: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="atb_prediction"):
        session = OnnxSession(tiny_model, providers=["cuda", "CPUExecutionProvider"])
    if "cuda" in session.providers:
        pytest.skip("this machine's onnxruntime has CUDA")
    assert session.providers == ["cpu"]
    assert any("cuda" in record.getMessage() for record in caplog.records)


def test_timeout_terminates_the_run_and_the_session_recovers() -> None:
    session = OnnxSession(slow_model(), intra_op_threads=1)
    x = np.random.default_rng(0).standard_normal((384, 384)).astype(np.float32)
    with pytest.raises(InferenceTimeoutError, match="timeout") as raised:
        session.run(x, timeout=0.0005)
    assert isinstance(raised.value, TimeoutError)
    (out,) = session.run(x)
    np.testing.assert_allclose(out, x, rtol=1e-4, atol=1e-5)
    (again,) = session.run(x, timeout=60)
    np.testing.assert_allclose(again, x, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "model_path",
    sorted(p for p in FIXTURE_REGISTRY.glob("*/*/*/model.onnx") if not p.parent.is_symlink()),
    ids=lambda p: "/".join(p.parts[-4:-1]),
)
def test_every_fixture_model_matches_onnxruntime(model_path: Path) -> None:
    session = OnnxSession(model_path)
    reference = reference_session(model_path)
    (spec,) = session.inputs
    assert spec.name == reference.get_inputs()[0].name
    shape = tuple(3 if d is None else d for d in spec.shape)
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    (ours,) = session.run(x)
    (expected,) = reference.run(None, {spec.name: x})
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-7)


def test_import_is_light_and_never_imports_onnxruntime(tiny_model: bytes, tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(tiny_model)
    code = (
        "import sys, atb_prediction as a\n"
        "assert 'onnxruntime' not in sys.modules and 'pandas' not in sys.modules\n"
        f"s = a.OnnxSession({str(model)!r})\n"
        "assert 'onnxruntime' not in sys.modules\n"
        "from atb_prediction._core import runtime_library_path\n"
        "print(runtime_library_path())\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "libonnxruntime" in result.stdout


def test_missing_library_is_a_clear_error(tiny_model: bytes) -> None:
    code = (
        "import atb_prediction as a\n"
        "try:\n"
        "    a.OnnxSession(b'x')\n"
        "except a.RuntimeLibraryError as e:\n"
        "    print('ERR', e)\n"
    )
    result = run_python(code, ORT_DYLIB_PATH="/nonexistent/libonnxruntime.so")
    assert result.returncode == 0, result.stderr
    assert "ERR" in result.stdout and "/nonexistent/libonnxruntime.so" in result.stdout
    result = run_python(code, ORT_DYLIB_PATH="relative/libonnxruntime.so")
    assert "absolute" in result.stdout


def test_library_is_found_in_the_wheel() -> None:
    from atb_prediction._runtime import find_library

    path = Path(find_library())
    assert path.is_absolute() and path.name.startswith("libonnxruntime.so.1.")
    assert path.parent.name == "capi"
    assert atb_prediction.__version__


# --- one thread pool per process -----------------------------------------------------------------


def test_sessions_share_one_thread_pool(tiny_model: bytes, tmp_path: Path) -> None:
    """200 sessions add no OS threads; only explicit per-session thread counts get a pool."""
    model = tmp_path / "tiny.onnx"
    model.write_bytes(tiny_model)
    code = textwrap.dedent(
        f"""
        import os
        from atb_prediction import OnnxSession

        def threads():
            return len(os.listdir("/proc/self/task"))

        first = OnnxSession({str(model)!r})
        before = threads()
        sessions = [OnnxSession({str(model)!r}) for _ in range(200)]
        after = threads()
        own = OnnxSession({str(model)!r}, intra_op_threads=3)
        print(before, after, threads(), os.cpu_count())
        """
    )
    result = run_python(code, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    assert result.returncode == 0, result.stderr
    before, after, with_own_pool, cores = map(int, result.stdout.split())
    assert after == before, f"200 sessions grew the process from {before} to {after} threads"
    assert after <= cores + 8
    # A session that sets intra_op_threads explicitly runs its own pool: 2 workers + the caller.
    assert with_own_pool == after + 2


def test_thread_pools_are_configured_once(caplog: pytest.LogCaptureFixture) -> None:
    OnnxSession(identity_model())
    in_use = configure_thread_pools()
    assert set(in_use) == {"intra_op_threads", "inter_op_threads", "allow_spinning"}
    with caplog.at_level(logging.WARNING, logger="atb_prediction"):
        again = configure_thread_pools(intra_op_threads=7, allow_spinning=True)
    assert again == in_use
    assert any("already run" in record.getMessage() for record in caplog.records)
    with pytest.raises(ValueError, match="intra_op_threads"):
        configure_thread_pools(intra_op_threads=0)


# --- outputs written into numpy, inputs bound once -----------------------------------------------


@pytest.mark.parametrize("batch", [1, 5])
def test_outputs_known_before_the_run_are_written_in_place(tiny_model: bytes, batch: int) -> None:
    session = OnnxSession(tiny_model)
    x = np.random.default_rng(batch).standard_normal((batch, 120, 5)).astype(np.float32)
    (out,) = session.run(x)
    # A fresh array that owns its buffer: ONNX Runtime wrote into it, nothing was copied.
    assert out.base is None and out.flags.owndata and out.flags.writeable
    assert out.shape == (batch, 1)
    np.testing.assert_allclose(out, _reference_run(tiny_model, {"input_sequence": x})[0], rtol=1e-5)


def test_dynamic_outputs_are_copied(tmp_path: Path) -> None:
    """An output whose shape depends on the data (NonZero) takes the copy path, still correct."""
    graph = helper.make_graph(
        [helper.make_node("NonZero", ["x"], ["indices"])],
        "nonzero",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("indices", TensorProto.INT64, [1, "k"])],
    )
    model = _model(graph)
    session = OnnxSession(model)
    x = np.array([0.0, 1.5, 0.0, -2.0], dtype=np.float32)
    (indices,) = session.run(x)
    np.testing.assert_array_equal(indices, _reference_run(model, {"x": x})[0])
    np.testing.assert_array_equal(indices, [[1, 3]])


def test_a_batch_named_differently_is_guessed_and_checked() -> None:
    """Exporters often name the input's and the output's batch differently ("unk__1", "unk__2")."""
    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["x", "axes"], ["total"], keepdims=0),
            helper.make_node("Unsqueeze", ["total", "axes"], ["y"]),
        ],
        "guessed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["unk__1", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["unk__2", 1])],
        [helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    model = _model(graph)
    session = OnnxSession(model)
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    (y,) = session.run(x)
    assert y.base is None  # the guess held: written in place
    np.testing.assert_array_equal(y, _reference_run(model, {"x": x})[0])


def test_a_wrong_batch_guess_falls_back_to_a_copy() -> None:
    """Output rows that are not the input's batch: the first run finds out, and still answers."""
    graph = helper.make_graph(
        [
            helper.make_node("NonZero", ["x"], ["found"]),
            helper.make_node("Transpose", ["found"], ["indices"], perm=[1, 0]),
        ],
        "rows",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("indices", TensorProto.INT64, ["k", 1])],
    )
    model = _model(graph)
    session = OnnxSession(model, warmup=False)
    for x in (
        np.array([0.0, 1.5, 0.0, -2.0], dtype=np.float32),
        np.array([3.0, 0.0, 0.0, 0.0, 1.0], dtype=np.float32),
        np.ones(3, dtype=np.float32),
    ):
        (indices,) = session.run(x)
        np.testing.assert_array_equal(indices, _reference_run(model, {"x": x})[0])


def test_a_refilled_input_array_is_reused_and_seen(tiny_model: bytes) -> None:
    session = OnnxSession(tiny_model)
    reference = reference_session(tiny_model)
    window = np.zeros((1, 120, 5), dtype=np.float32)
    rng = np.random.default_rng(11)
    for _ in range(5):
        window[...] = rng.standard_normal(window.shape)  # refilled in place, same buffer
        (out,) = session.run(window)
        np.testing.assert_allclose(
            out, reference.run(None, {"input_sequence": window})[0], rtol=1e-5
        )
    # A view with another shape of the same buffer is a different input, not the cached one.
    batch_view = np.broadcast_to(window, (1, 120, 5)).reshape(1, 120, 5)
    (again,) = session.run(batch_view)
    np.testing.assert_allclose(again, out, rtol=1e-6)


def test_the_input_cache_keeps_its_buffer_alive(tiny_model: bytes) -> None:
    session = OnnxSession(tiny_model)
    reference = reference_session(tiny_model)
    first = np.random.default_rng(1).standard_normal((1, 120, 5)).astype(np.float32)
    expected_first = reference.run(None, {"input_sequence": first})[0]
    session.run(first)
    alive = weakref.ref(first)
    del first
    gc.collect()
    # The session still references the array its cached value reads from.
    assert alive() is not None
    for seed in range(2, 6):
        other = np.random.default_rng(seed).standard_normal((1, 120, 5)).astype(np.float32)
        (out,) = session.run(other)
        np.testing.assert_allclose(
            out, reference.run(None, {"input_sequence": other})[0], rtol=1e-5
        )
    gc.collect()
    # Once another array took its place, the first one is released.
    assert alive() is None
    assert not np.allclose(out, expected_first)


# --- issue 11: a session never crashes the process -----------------------------------------------


def _huge_input_model() -> bytes:
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0)],
        "huge",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 100000, 100000])],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, [])],
    )
    return _model(graph)


def test_a_huge_fixed_input_opens_without_warm_up(tmp_path: Path) -> None:
    model = tmp_path / "huge.onnx"
    model.write_bytes(_huge_input_model())
    code = textwrap.dedent(
        f"""
        import logging
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        from atb_prediction import OnnxSession
        session = OnnxSession({str(model)!r})
        print("opened", session.inputs[0].shape)
        """
    )
    result = run_python(code)
    # Before the fix, the warm-up's 40 GB zeros tensor aborted the process (exit 134).
    assert result.returncode == 0, result.stderr
    assert "opened (1, 100000, 100000)" in result.stdout
    assert "without warm-up" in result.stderr and "268435456 bytes" in result.stderr


def test_the_warm_up_cap_is_configurable(
    tiny_model: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="atb_prediction"):
        session = OnnxSession(tiny_model, warmup_max_bytes=100)
    assert any("without warm-up" in record.getMessage() for record in caplog.records)
    (out,) = session.run(np.zeros((1, 120, 5), np.float32))
    assert out.shape == (1, 1)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="atb_prediction"):
        OnnxSession(tiny_model, warmup_max_bytes=120 * 5 * 4)
    assert caplog.records == []
    config = PredictionConfig(warmup_max_bytes=-1)
    with pytest.raises(ValueError, match="warmup_max_bytes"):
        config.validate()


def test_the_warm_up_is_bounded_by_the_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Hundreds of milliseconds of warm-up unbounded, so the deadline fires on a loaded machine too.
    slow = slow_model(steps=40)
    with caplog.at_level(logging.WARNING, logger="atb_prediction"):
        session = OnnxSession(slow, intra_op_threads=1, warmup_timeout=0.0005)
    # Stopped at the deadline rather than run to the end; the session still opens.
    assert any("warm-up stopped at its timeout" in r.getMessage() for r in caplog.records)
    assert session.inputs[0].shape == (384, 384)
    # The registry's runners bound it with the configured inference timeout.
    path = tmp_path / "slow.onnx"
    path.write_bytes(slow)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="atb_prediction"):
        OnnxRunner(path, PredictionConfig(inference_timeout=0.0005))
    assert any("warm-up stopped at its timeout" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="timeout"):
        OnnxSession(slow, warmup_timeout=-1.0)


@pytest.mark.parametrize("timeout", [1e300, 1.8e19, 2.0**64, 1e18])
def test_absurdly_long_timeouts_are_refused_not_panics(tiny_model: bytes, timeout: float) -> None:
    session = OnnxSession(tiny_model)
    with pytest.raises(ValueError, match="timeout"):
        session.run(np.ones((1, 120, 5), np.float32), timeout=timeout)
    (out,) = session.run(np.ones((1, 120, 5), np.float32), timeout=3600.0)
    assert out.shape == (1, 1)


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 0.0, -5.0])
def test_invalid_timeouts_are_value_errors(tiny_model: bytes, timeout: float) -> None:
    session = OnnxSession(tiny_model)
    with pytest.raises(ValueError, match="timeout"):
        session.run(np.ones((1, 120, 5), np.float32), timeout=timeout)


def test_a_configured_absurd_inference_timeout_never_panics(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(linear_model())
    with pytest.raises(ValueError, match="timeout"):
        OnnxRunner(path, PredictionConfig(inference_timeout=1e300))
    runner = OnnxRunner(path, PredictionConfig(inference_timeout=3600.0))
    assert np.isfinite(runner.predict(np.ones((120, 5), np.float32)).price)


def _bfloat16_model(*, input_bf16: bool) -> bytes:
    if input_bf16:
        node = helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)
        x_type, y_type = TensorProto.BFLOAT16, TensorProto.FLOAT
    else:
        node = helper.make_node("Cast", ["x"], ["y"], to=TensorProto.BFLOAT16)
        x_type, y_type = TensorProto.FLOAT, TensorProto.BFLOAT16
    graph = helper.make_graph(
        [node],
        "bf16",
        [helper.make_tensor_value_info("x", x_type, ["batch", 3])],
        [helper.make_tensor_value_info("y", y_type, ["batch", 3])],
    )
    return _model(graph)


@pytest.mark.parametrize("input_bf16", [True, False], ids=["input", "output"])
def test_bfloat16_is_a_model_load_error(input_bf16: bool) -> None:
    with pytest.raises(ModelLoadError, match="bfloat16") as raised:
        OnnxSession(_bfloat16_model(input_bf16=input_bf16))
    assert ("input 'x'" if input_bf16 else "output 'y'") in str(raised.value).replace('"', "'")
    assert not isinstance(raised.value, TypeError)


def test_a_bfloat16_production_model_does_not_take_the_registry_down(tmp_path: Path) -> None:
    from atb_prediction import PredictionModelRegistry

    root = tmp_path / "registry"
    version = "2025-01-01_1h_v1"
    for symbol, model in (("BF16", _bfloat16_model(input_bf16=True)), ("GOOD", linear_model())):
        write_bundle(
            root,
            symbol,
            "basic",
            version,
            model=model,
            metadata=standard_metadata(symbol, "basic", version),
        )
        point_latest(root, symbol, "basic", version)
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(root)))
    good = registry.select_bundle(symbol="GOOD", model_type="basic", timeframe="1h")
    assert np.isfinite(good.runner.predict(np.ones((120, 5), np.float32)).price)
    failures = [failure.path for failure in registry.invalid_bundles()]
    assert failures == [str(root / "BF16" / "basic" / version)]


def test_a_model_path_that_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    with pytest.raises(ModelLoadError, match="not a regular file"):
        OnnxSession(fifo)
    with pytest.raises(ModelLoadError, match="not a regular file"):
        OnnxSession(tmp_path)
