"""CUDA against the CPU with the package's defaults, on the fixture's production LSTM
(BTCUSDT/basic): ``predict`` of one window (p50 over 300 calls) and ``predict_batch`` of 20,000
windows (median of 3). Needs a GPU and the ``onnxruntime-gpu`` wheel; not part of ``make bench``.

    python benches/bench_cuda.py

On an H200 with 16 CPU cores (onnxruntime-gpu 1.31.1): predict 32 ms on CUDA against 3.7 ms on
the CPU; predict_batch 0.12 s against 0.66 s.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
from atb_prediction import PredictionConfig, PredictionModelRegistry

REGISTRY = Path(__file__).resolve().parents[1] / "tests" / "data" / "atb-registry"


def main() -> None:
    rng = np.random.default_rng(1)
    one = rng.random((120, 5))
    many = rng.random((20_000, 120, 5))
    for provider in ("cuda", "cpu"):
        config = PredictionConfig(
            model_registry_path=str(REGISTRY), providers=[provider], prediction_cache_enabled=False
        )
        registry = PredictionModelRegistry(config)
        runner = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h").runner
        if provider not in runner.session.providers:
            sys.exit(f"no {provider} execution provider in the loaded ONNX Runtime library")
        for _ in range(20):
            runner.predict(one)
        singles = []
        for _ in range(300):
            start = time.perf_counter()
            runner.predict(one)
            singles.append(time.perf_counter() - start)
        runner.predict_batch(many[:2048])
        batches = []
        for _ in range(3):
            start = time.perf_counter()
            runner.predict_batch(many)
            batches.append(time.perf_counter() - start)
        print(
            f"{provider}: predict p50 {statistics.median(singles) * 1e6:,.0f} µs; "
            f"predict_batch of 20,000 windows {statistics.median(batches):.3f} s (median of 3)"
        )


if __name__ == "__main__":
    main()
