"""The Ray engine against the local engine on the same 20,000-window LSTM sweep.

Runs the fixture's BTCUSDT/basic LSTM over one series on the local engine and on Ray (a local
Ray started here with this machine's CPUs), each with 1 and 2 workers, in turn, per repeat.
Each Ray engine runs twice: "cold" after ``close()`` (the sweep starts its actors and opens
its sessions, as the first sweep of a process does) and "warm" (the actors kept from the cold
run, as every later sweep of a study finds them). Prints min/median/max over repeats of the
speed-up of Ray from 1 to 2 workers (target >= 1.6) and of Ray's time over the local engine's
at equal workers (target <= 1.25 with 2), warm and cold.

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
from atb_prediction._core import usable_cores
from atb_prediction.backtest import LocalEngine, RayEngine

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import spread
from bench_sweep import arguments, fixture_registry


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
    ray.init(num_cpus=usable_cores(), include_dashboard=False, log_to_driver=False)
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
    runs = ["local 1", "local 2", "ray 1 cold", "ray 1", "ray 2 cold", "ray 2"]
    results = {}
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for repeat in range(args.repeats + 1):  # the first round warms up and is not counted
        for name in runs:
            engine = engines[name.removesuffix(" cold")]
            if isinstance(engine, RayEngine) and name.endswith(" cold"):
                engine.close()
            started = time.perf_counter()
            results[name] = sweep(
                registry, series, symbol="BTCUSDT", model_type="basic", engine=engine,
                progress=False,
            )  # fmt: skip
            if repeat:
                timings[name].append(time.perf_counter() - started)
    for name in runs:
        assert np.array_equal(results[name].price, results["local 1"].price, equal_nan=True)

    def ratio(top: str, bottom: str) -> list[float]:
        return [a / b for a, b in zip(timings[top], timings[bottom], strict=True)]

    ratios = {
        "Ray speed-up 1 -> 2 workers, warm (target >= 1.6)": ratio("ray 1", "ray 2"),
        "Ray / local, 2 workers, warm (target <= 1.25)": ratio("ray 2", "local 2"),
        "Ray / local, 1 worker, warm": ratio("ray 1", "local 1"),
        "Ray speed-up 1 -> 2 workers, cold": ratio("ray 1 cold", "ray 2 cold"),
        "Ray / local, 2 workers, cold": ratio("ray 2 cold", "local 2"),
        "Ray / local, 1 worker, cold": ratio("ray 1 cold", "local 1"),
    }
    print(
        f"## {args.windows:,} windows of BTCUSDT/basic, {args.repeats} repeats (min / median / max)"
    )
    for name, values in timings.items():
        print(f"  {name:<10} {spread(values, width=6)} s")
    for name, values in ratios.items():
        print(f"  {name}: {spread(values, width=6)}")
    print("  results identical across engines: yes")
    ray.shutdown()


if __name__ == "__main__":
    main()
