"""The hot path with the settings users never change, side by side with onnxruntime in one
process: the fixture's production LSTM (BTCUSDT/basic, ``[1, 120, 5]``) and the demo's tiny
linear model.

- **predict**: ``runner.predict(window)`` with the package's defaults against
  ``InferenceSession.run`` with onnxruntime's default options, with ``intra_op_num_threads=1``,
  and with spinning off (``session.intra_op.allow_spinning=0``); p50 latencies, contenders
  alternating in rounds.
- **predict_batch**: 20,000 windows in 1,024-window calls of ``runner.predict_batch`` against
  hand-batched ``InferenceSession.run`` with default options, the best of 256- and
  1,024-window chunks, and against a ``sweep`` of the series those windows come from; wall
  time. Small batches (64 and 256 windows, one call each) against one ``run`` with default
  options, p50.
- **tiny model**: ``OnnxSession.run`` against pre-bound ``run_with_iobinding``, and
  ``runner.predict`` against ``OnnxSession.run`` (the cost of predict's rules), p50; a batch of
  257 windows (too quick to split) against one ``run`` with default options.
- **idle**: the CPU time 200 bundles opened with the defaults burn in 3 s, and the threads they
  add.

Each repeat runs in a fresh process (thread pools are process-wide); the summary gives min /
median / max over repeats of each ratio.

    python benches/bench_hot_path.py [--calls N] [--repeats R]
"""

from __future__ import annotations

import os

# Nothing here uses BLAS; numpy's OpenBLAS threads would only spin and take cores from both
# contenders on a small machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import resource
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

import numpy as np
import onnxruntime

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import interleaved, percentile, spread, timed
from atb_prediction import (
    OnnxRunner,
    OnnxSession,
    PredictionConfig,
    PredictionModelRegistry,
    sweep,
)

REGISTRY = Path(__file__).resolve().parents[1] / "tests" / "data" / "atb-registry"
TINY = files("atb_prediction") / "demo_models" / "BTCUSDT-basic-2025-11-01_1h_v1.onnx"
BATCH_WINDOWS = 20_000
CALL_WINDOWS = 1_024
SMALL_BATCHES = (64, 256)
SMALL_BATCH_CALLS = 20
TINY_BATCH = 257


def ort_session(model: str | bytes, kind: str) -> onnxruntime.InferenceSession:
    """onnxruntime as a user opens it: default options, one intra-op thread, or no spinning."""
    options = onnxruntime.SessionOptions()
    if kind == "intra 1":
        options.intra_op_num_threads = 1
    elif kind == "no spin":
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def measure_predict(calls: int) -> dict[str, float]:
    registry = PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(REGISTRY), prediction_cache_enabled=False)
    )
    bundle = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h")
    runner = bundle.runner
    rng = np.random.default_rng(0)
    window = rng.random((120, 5), dtype=np.float32)
    batched = window[np.newaxis]
    sessions = {kind: ort_session(runner.model_path, kind) for kind in
                ("default", "intra 1", "no spin")}  # fmt: skip
    name = sessions["default"].get_inputs()[0].name
    expected = float(sessions["default"].run(None, {name: batched})[0].ravel()[0])
    assert abs(runner.predict(window).price - expected) <= 1e-5 * max(1.0, abs(expected))
    contenders = {"ours": lambda: runner.predict(window)}
    for kind, session in sessions.items():
        contenders[kind] = lambda s=session: s.run(None, {name: batched})
    # Short alternating rounds, so a slow spell of this noisy host hits every contender.
    samples = interleaved(contenders, calls, rounds=max(1, calls // 20))
    p50 = {f"predict {k}": percentile(v, 50) for k, v in samples.items()}

    series = rng.random((BATCH_WINDOWS + 119, 5), dtype=np.float32)
    x = np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(series, (120, 5))[:, 0])
    for size in SMALL_BATCHES:
        small = x[:size]
        samples = interleaved(
            {"ours": lambda b=small: runner.predict_batch(b),
             "ort": lambda b=small: sessions["default"].run(None, {name: b})},
            SMALL_BATCH_CALLS, rounds=2)  # fmt: skip
        p50.update({f"batch{size} {k}": percentile(v, 50) for k, v in samples.items()})

    def ours_batch() -> None:
        for start in range(0, BATCH_WINDOWS, CALL_WINDOWS):
            runner.predict_batch(x[start : start + CALL_WINDOWS])

    def ort_batch(chunk: int) -> None:
        for start in range(0, BATCH_WINDOWS, chunk):
            sessions["default"].run(None, {name: x[start : start + chunk]})

    got = runner.predict_batch(x[:CALL_WINDOWS])["price"]
    want = sessions["default"].run(None, {name: x[:CALL_WINDOWS]})[0][:, 0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    ours_batch()  # the batch sessions open here, once, as in any process that batches
    p50["batch ours"] = timed(ours_batch)
    p50["batch ort 256"] = timed(lambda: ort_batch(256))
    p50["batch ort 1024"] = timed(lambda: ort_batch(1024))
    p50["batch sweep"] = timed(
        lambda: sweep(registry, series, symbol="BTCUSDT", model_type="basic", progress=False)
    )
    return p50


def measure_tiny(calls: int) -> dict[str, float]:
    path = str(TINY)
    session = OnnxSession(path)
    runner = OnnxRunner(path, PredictionConfig(prediction_cache_enabled=False))
    theirs = ort_session(path, "default")
    name, output = theirs.get_inputs()[0].name, theirs.get_outputs()[0].name
    x = np.random.default_rng(1).random((1, 120, 5), dtype=np.float32)
    bound = np.empty((1, 1), dtype=np.float32)
    binding = theirs.io_binding()
    binding.bind_cpu_input(name, x)
    binding.bind_output(output, "cpu", 0, np.float32, [1, 1], bound.ctypes.data)
    theirs.run_with_iobinding(binding)
    np.testing.assert_allclose(session.run(x)[0], bound, rtol=1e-5)

    def prebound(_keep: np.ndarray = bound) -> None:
        theirs.run_with_iobinding(binding)

    batch = np.random.default_rng(2).random((TINY_BATCH, 120, 5), dtype=np.float32)
    np.testing.assert_allclose(runner.predict_batch(batch)["price"],
                               theirs.run(None, {name: batch})[0][:, 0], rtol=1e-5)  # fmt: skip
    samples = interleaved(
        {"run": lambda: session.run(x), "predict": lambda: runner.predict(x),
         "iobinding": prebound,
         "batch ours": lambda: runner.predict_batch(batch),
         "batch ort": lambda: theirs.run(None, {name: batch})}, calls * 10,
        rounds=max(1, calls // 10))  # fmt: skip
    return {f"tiny {k}": percentile(v, 50) for k, v in samples.items()}


def measure_idle() -> dict[str, float]:
    threads = lambda: len(os.listdir("/proc/self/task"))  # noqa: E731
    model = str(REGISTRY / "BTCUSDT" / "basic" / "2025-10-30_12h_v1" / "model.onnx")
    OnnxRunner(model)
    before = threads()
    runners = [OnnxRunner(model) for _ in range(200)]
    after = threads()
    start = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(3)
    end = resource.getrusage(resource.RUSAGE_SELF)
    del runners
    cpu = (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime)
    return {"idle cpu s": cpu, "idle threads added": after - before, "threads": after}


def child(part: str, calls: int) -> dict[str, float]:
    return {"predict": measure_predict, "tiny": measure_tiny}[part](calls) if part != "idle" \
        else measure_idle()  # fmt: skip


def run_child(part: str, calls: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", part, "--calls", str(calls)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="timed predict calls each")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=("predict", "tiny", "idle"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.calls)))
        return
    ratios: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        ratios.setdefault(name, []).append(value)

    print(f"cores {len(os.sched_getaffinity(0))}; p50 latencies in µs, batches in s")
    for repeat in range(1, args.repeats + 1):
        r = {**run_child("predict", args.calls), **run_child("tiny", args.calls),
             **run_child("idle", 0)}  # fmt: skip
        fastest = min(r["predict default"], r["predict intra 1"], r["predict no spin"])
        best_batch = min(r["batch ort 256"], r["batch ort 1024"])
        print(
            f"#{repeat}: LSTM predict ours {r['predict ours']:.0f}, ort default "
            f"{r['predict default']:.0f}, intra 1 {r['predict intra 1']:.0f}, no spin "
            f"{r['predict no spin']:.0f}; batch ours {r['batch ours']:.2f}, ort 256 "
            f"{r['batch ort 256']:.2f}, ort 1024 {r['batch ort 1024']:.2f}, sweep "
            f"{r['batch sweep']:.2f}; batch of 64 ours {r['batch64 ours'] / 1e3:.1f} ms, ort "
            f"{r['batch64 ort'] / 1e3:.1f} ms; of 256 ours {r['batch256 ours'] / 1e3:.1f} ms, ort "
            f"{r['batch256 ort'] / 1e3:.1f} ms; tiny run "
            f"{r['tiny run']:.2f}, predict {r['tiny predict']:.2f}, iobinding "
            f"{r['tiny iobinding']:.2f}, batch of {TINY_BATCH} ours {r['tiny batch ours']:.0f}, "
            f"ort {r['tiny batch ort']:.0f}; idle {r['idle cpu s']:.3f} s CPU, "
            f"+{r['idle threads added']:.0f} threads ({r['threads']:.0f} in all)"
        )
        add("predict / ort default", r["predict ours"] / r["predict default"])
        add("predict / fastest ort", r["predict ours"] / fastest)
        add("predict_batch / best ort", r["batch ours"] / best_batch)
        add("predict_batch / sweep", r["batch ours"] / r["batch sweep"])
        add("batch of 64 / ort default", r["batch64 ours"] / r["batch64 ort"])
        add("batch of 256 / ort default", r["batch256 ours"] / r["batch256 ort"])
        add("tiny run / iobinding", r["tiny run"] / r["tiny iobinding"])
        add("tiny predict - run (µs)", r["tiny predict"] - r["tiny run"])
        add(f"tiny batch of {TINY_BATCH} / ort", r["tiny batch ours"] / r["tiny batch ort"])
        add("idle CPU over 3 s (s)", r["idle cpu s"])
        add("threads (200 idle bundles)", r["threads"])
    targets = {
        "predict / ort default": "≤ 0.95",
        "predict / fastest ort": "≤ 1.0",
        "predict_batch / best ort": "≤ 1.0",
        "predict_batch / sweep": "no slower: ≈ 1",
        "batch of 64 / ort default": "≤ 1.0",
        "batch of 256 / ort default": "≤ 1.0",
        "tiny run / iobinding": "≤ 1.0",
        "tiny predict - run (µs)": "≤ 0.5",
        f"tiny batch of {TINY_BATCH} / ort": "none: reported",
        "idle CPU over 3 s (s)": "≤ 0.05",
        "threads (200 idle bundles)": f"≤ {len(os.sched_getaffinity(0)) + 8}",
    }
    print(f"\nmin / median / max over {args.repeats} repeats:")
    for name, values in ratios.items():
        print(f"  {name:28} {spread(values)}   (target {targets[name]})")


if __name__ == "__main__":
    main()
