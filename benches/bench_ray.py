"""The Ray engine against the local engine on the same 20,000-window LSTM sweep.

Runs the fixture's BTCUSDT/basic LSTM over one series on the local engine and on Ray (a local
Ray started here with this machine's CPUs), each with 1 and 2 workers, in turn, per repeat.
Prints min/median/max over repeats of the speed-up of Ray from 1 to 2 workers (target >= 1.6)
and of Ray's time over the local engine's at equal workers (target <= 1.25 with 2). Ray's
times include starting its actors, which live for one job.

    python benches/bench_ray.py [--windows N] [--repeats N]

The fixture registry comes from ``$ATB_FIXTURE_REGISTRY``, else ``tests/data/atb-registry``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys
import time
from pathlib import Path

import numpy as np
from atb_prediction import PredictionConfig, PredictionModelRegistry, sweep
from atb_prediction.backtest import LocalEngine, RayEngine
from atb_prediction.backtest.engine import default_workers

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sweep import arguments, fixture_registry, spread


def main() -> None:
    args = arguments(__doc__)
    root = fixture_registry()
    if root is None:
        print("skipped: set ATB_FIXTURE_REGISTRY or add tests/data/atb-registry")
        return
    try:
        import ray
    except ImportError:
        print('skipped: Ray is not installed (pip install "atb-prediction[ray]")')
        return
    ray.init(num_cpus=default_workers(), include_dashboard=False, log_to_driver=False)
    registry = PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(root), prediction_cache_enabled=False)
    )
    series = np.random.default_rng(0).random((args.windows + 119, 5), dtype=np.float32)
    engines = {
        "local 1": LocalEngine(workers=1),
        "local 2": LocalEngine(workers=2),
        "ray 1": RayEngine(num_workers=1),
        "ray 2": RayEngine(num_workers=2),
    }
    results = {}
    timings: dict[str, list[float]] = {name: [] for name in engines}
    for repeat in range(args.repeats + 1):  # the first round warms up and is not counted
        for name, engine in engines.items():
            started = time.perf_counter()
            results[name] = sweep(
                registry, series, symbol="BTCUSDT", model_type="basic", engine=engine,
                progress=False,
            )  # fmt: skip
            if repeat:
                timings[name].append(time.perf_counter() - started)
    for name in engines:
        assert np.array_equal(results[name].price, results["local 1"].price, equal_nan=True)
    ratios = {
        "Ray speed-up 1 -> 2 workers (target >= 1.6)": [
            one / two for one, two in zip(timings["ray 1"], timings["ray 2"], strict=True)
        ],
        "Ray / local, 2 workers (target <= 1.25)": [
            r / local for r, local in zip(timings["ray 2"], timings["local 2"], strict=True)
        ],
        "Ray / local, 1 worker": [
            r / local for r, local in zip(timings["ray 1"], timings["local 1"], strict=True)
        ],
    }
    print(
        f"## {args.windows:,} windows of BTCUSDT/basic, {args.repeats} repeats (min / median / max)"
    )
    for name, values in timings.items():
        print(f"  {name:<8} {spread(values)} s")
    for name, values in ratios.items():
        print(f"  {name}: {spread(values)}")
    print("  results identical across engines: yes")
    ray.shutdown()


if __name__ == "__main__":
    main()
