"""The CUDA execution provider, where the loaded ONNX Runtime has it (GPU-only; skipped elsewhere).

Runs when the library the package loads offers CUDA and a GPU answers, e.g. with the
``onnxruntime-gpu`` wheel installed. Predictions on CUDA must match the CPU's as closely as two
CPU runs do: the session turns TF32 off for that (with TF32 the fixture LSTM drifted by 3e-4).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from atb_prediction import (
    InferenceTimeoutError,
    OnnxSession,
    PredictionConfig,
    PredictionModelRegistry,
    sweep,
)
from conftest import FIXTURE_PRODUCTION, reference_session

LSTM_VERSION = FIXTURE_PRODUCTION[("BTCUSDT", "basic")]


@pytest.fixture(scope="module")
def lstm_path(fixture_registry: Path) -> Path:
    return fixture_registry / "BTCUSDT" / "basic" / LSTM_VERSION / "model.onnx"


@pytest.fixture(scope="module")
def cuda_session(lstm_path: Path) -> OnnxSession:
    session = OnnxSession(lstm_path, providers=["cuda"])
    if "cuda" not in session.providers:
        pytest.skip("the loaded ONNX Runtime library has no usable CUDA execution provider")
    return session


@pytest.mark.parametrize("batch", [1, 64, 1024])
def test_cuda_outputs_match_the_cpu_reference(
    cuda_session: OnnxSession, lstm_path: Path, batch: int
) -> None:
    reference = reference_session(lstm_path)
    x = np.random.default_rng(batch).standard_normal((batch, 120, 5)).astype(np.float32)
    (got,) = cuda_session.run(x)
    (want,) = reference.run(None, {reference.get_inputs()[0].name: x})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_registry_and_sweep_on_cuda_match_cpu(
    cuda_session: OnnxSession, registry_copy: Path
) -> None:
    series = np.cumsum(np.random.default_rng(3).standard_normal((600, 5)), axis=0) + 100
    window = series[-120:].astype(np.float32)
    results = {}
    for provider in ("cuda", "cpu"):
        config = PredictionConfig(
            model_registry_path=str(registry_copy),
            providers=[provider],
            prediction_cache_enabled=False,
        )
        registry = PredictionModelRegistry(config)
        bundle = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h")
        swept = sweep(registry, series, symbol="BTCUSDT", model_type="basic", progress=False)
        results[provider] = (bundle.runner.predict(window), swept)
    (gpu, gpu_sweep), (cpu, cpu_sweep) = results["cuda"], results["cpu"]
    assert gpu.price == pytest.approx(cpu.price, rel=1e-5)
    assert gpu.direction == cpu.direction
    np.testing.assert_allclose(gpu_sweep.price, cpu_sweep.price, rtol=1e-5, equal_nan=True)
    assert np.array_equal(gpu_sweep.direction, cpu_sweep.direction)


def test_a_cuda_run_past_its_deadline_raises_and_the_session_recovers(
    cuda_session: OnnxSession, lstm_path: Path
) -> None:
    x = np.random.default_rng(4).standard_normal((4096, 120, 5)).astype(np.float32)
    with pytest.raises(InferenceTimeoutError, match="timeout"):
        cuda_session.run(x, timeout=1e-4)
    reference = reference_session(lstm_path)
    (got,) = cuda_session.run(x[:64], timeout=60)
    (want,) = reference.run(None, {reference.get_inputs()[0].name: x[:64]})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _registry(root: Path, provider: str) -> PredictionModelRegistry:
    return PredictionModelRegistry(
        PredictionConfig(
            model_registry_path=str(root), providers=[provider], prediction_cache_enabled=False
        )
    )


def test_predict_batch_on_cuda_runs_whole_and_matches_cpu(
    cuda_session: OnnxSession, registry_copy: Path
) -> None:
    """A bundle on CUDA runs a large batch as one inference (no CPU sibling sessions)."""
    windows = np.random.default_rng(5).random((3000, 120, 5))
    batches = {}
    for provider in ("cuda", "cpu"):
        bundle = _registry(registry_copy, provider).select_bundle(
            symbol="BTCUSDT", model_type="basic", timeframe="1h"
        )
        batches[provider] = bundle.runner.predict_batch(windows)
        if provider == "cuda":
            assert bundle.runner.bundle.batch_sessions == 0
    np.testing.assert_allclose(batches["cuda"]["price"], batches["cpu"]["price"], rtol=1e-5)
    np.testing.assert_array_equal(batches["cuda"]["direction"], batches["cpu"]["direction"])


def test_predict_bars_on_cuda_is_upstreams_live_path(
    cuda_session: OnnxSession, registry_copy: Path
) -> None:
    """Raw bars on CUDA give upstream's live prices (``tests/data/atb-live-golden.json``)."""
    from conftest import golden_bundle, golden_frame

    bundle = _registry(registry_copy, "cuda").select_bundle(
        symbol="BTCUSDT", model_type="basic", timeframe="1h"
    )
    assert "cuda" in bundle.runner.session.providers
    golden, frame = golden_bundle("BTCUSDT"), golden_frame("BTCUSDT")
    assert bundle.version_id == golden["version"]
    checked = 0
    for t in range(119, len(frame), 7):
        if golden["price"][t] is None:
            continue
        prediction = bundle.runner.predict_bars(frame.iloc[: t + 1])
        assert prediction.price == pytest.approx(golden["price"][t], rel=1e-5), t
        assert prediction.direction == golden["direction"][t], t
        checked += 1
    assert checked > 30
