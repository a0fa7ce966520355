"""``sweep`` against onnxruntime, side by side in one process, on the fixture's BTCUSDT/basic LSTM.

Contenders, over the same windows of one series:
  - ``sweep`` (default workers and batch size);
  - onnxruntime hand-batched at 256 and at 1024 windows per run, default session options, the
    ``[windows, seq, features]`` array prepared beforehand and not timed (the best of the two);
  - a Python loop of one onnxruntime ``run`` per window (upstream's ``predict``), timed on a
    sample and scaled to all windows.
Each repeat times every contender once, in turn; the ratios are printed as min/median/max over
repeats. A second table does the same with one thread (``workers=1`` against one-thread
sessions). Finally a child process reports the peak RSS increase of a sweep over a
1,000,000-bar x 5 series with a tiny model, against the target 3x the series' bytes + 200 MB.

    python benches/bench_sweep.py [--windows N] [--repeats N]

The fixture registry comes from ``$ATB_FIXTURE_REGISTRY``, else ``tests/data/atb-registry``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime
from _timing import spread, timed
from atb_prediction import PredictionConfig, PredictionModelRegistry, sweep

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = 400


def fixture_registry() -> Path | None:
    for candidate in (os.environ.get("ATB_FIXTURE_REGISTRY"), ROOT / "tests/data/atb-registry"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def hand_batched(session: onnxruntime.InferenceSession, windows: np.ndarray, batch: int) -> None:
    name = session.get_inputs()[0].name
    for start in range(0, len(windows), batch):
        session.run(None, {name: windows[start : start + batch]})


def per_window(session: onnxruntime.InferenceSession, windows: np.ndarray) -> None:
    name = session.get_inputs()[0].name
    for window in windows:
        session.run(None, {name: window[np.newaxis]})


def compare(root: Path, count: int, repeats: int, one_thread: bool) -> list[str]:
    registry = PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(root), prediction_cache_enabled=False)
    )
    bundle = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h")
    seq = int(bundle.metadata["sequence_length"])
    features = len(bundle.metadata["feature_names"])
    series = np.random.default_rng(0).random((count + seq - 1, features), dtype=np.float32)
    windows = np.ascontiguousarray(
        np.lib.stride_tricks.sliding_window_view(series, (seq, features))[:, 0]
    )
    options = onnxruntime.SessionOptions()
    if one_thread:
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        bundle.runner.model_path, options, providers=["CPUExecutionProvider"]
    )
    workers = 1 if one_thread else None

    def run_sweep() -> object:
        return sweep(
            registry, series, symbol="BTCUSDT", model_type="basic", workers=workers,
            progress=False,
        )  # fmt: skip

    # Warm up both, and check they agree (rolling_minmax: the raw output is the price).
    result = run_sweep()
    reference = session.run(None, {session.get_inputs()[0].name: windows[:512]})[0][:, 0]
    np.testing.assert_allclose(result.price[0, seq - 1 : seq - 1 + 512], reference, rtol=1e-4)  # type: ignore[attr-defined]
    per_batch: list[float] = []
    per_loop: list[float] = []
    timings: dict[str, list[float]] = {"sweep": [], "ort 256": [], "ort 1024": [], "loop": []}
    for _ in range(repeats):
        timings["sweep"].append(timed(run_sweep))
        timings["ort 256"].append(timed(lambda: hand_batched(session, windows, 256)))
        timings["ort 1024"].append(timed(lambda: hand_batched(session, windows, 1024)))
        timings["loop"].append(
            timed(lambda: per_window(session, windows[:SAMPLE])) * count / SAMPLE
        )
        best = min(timings["ort 256"][-1], timings["ort 1024"][-1])
        per_batch.append(timings["sweep"][-1] / best)
        per_loop.append(timings["loop"][-1] / timings["sweep"][-1])
    label = "one thread" if one_thread else "default threading"
    # The targets are for default threading; with one thread each the sweep can only match.
    targets = ("", "") if one_thread else ("  (target <= 0.75)", "  (target >= 8)")
    return [
        f"## {label}: {count:,} windows of {bundle.key}, {repeats} repeats (min / median / max)",
        *(f"  {name:<9} {spread(values, width=6)} s" for name, values in timings.items()),
        f"  sweep / best hand-batched onnxruntime: {spread(per_batch, width=6)}{targets[0]}",
        f"  per-window loop / sweep (speed-up):    {spread(per_loop, width=6)}{targets[1]}",
    ]


RSS_CHILD = """
import json, sys
import numpy as np
from atb_prediction import PredictionConfig, PredictionModelRegistry, sweep

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

root = sys.argv[1]
series = np.random.default_rng(0).random((1_000_000, 5), dtype=np.float32)
registry = PredictionModelRegistry(PredictionConfig(model_registry_path=root))
sweep(registry, series[:1000], symbol="TINY", model_type="basic", progress=False)  # warm up
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as file:  # "5" resets the peak (VmHWM) to the current RSS
    file.write("5")
sweep(registry, series, symbol="TINY", model_type="basic", progress=False)
print(json.dumps({"before": before, "peak": status("VmHWM"), "series_bytes": series.nbytes}))
"""


def tiny_model(seq: int, features: int) -> bytes:
    """``[batch, seq, features] -> [batch, 1]``: flatten and one dense layer (onnx package)."""
    from onnx import TensorProto, helper, numpy_helper

    weight = np.full((seq * features, 1), 0.01, dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["x"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "w"], ["y"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", seq, features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def peak_rss() -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        version = Path(folder, "TINY", "basic", "2026-01-01_1h_v1")
        version.mkdir(parents=True)
        (version / "model.onnx").write_bytes(tiny_model(20, 5))
        (version / "metadata.json").write_text(json.dumps({"sequence_length": 20}))
        Path(folder, "TINY", "basic", "latest").symlink_to(version.name)
        out = subprocess.run(
            [sys.executable, "-c", RSS_CHILD, folder], capture_output=True, text=True, check=True
        )
    report = json.loads(out.stdout)
    increase = report["peak"] - report["before"]
    limit = 3 * report["series_bytes"] + 200 * 2**20
    # Linux only: the child reads /proc/self/status and resets the peak through clear_refs.
    return [
        "## peak RSS of a 1,000,000-bar x 5 float32 sweep (tiny linear model, seq 20)",
        f"  series {report['series_bytes'] / 2**20:.1f} MiB; peak RSS increase "
        f"{increase / 2**20:.1f} MiB; target <= {limit / 2**20:.1f} MiB "
        f"({increase / limit:.2f} of the target)",
    ]


def arguments(doc: str | None) -> argparse.Namespace:
    """``--windows`` and ``--repeats``, shared with the Ray benchmark."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--windows", type=int, default=20_000, help="windows per sweep")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats")
    return parser.parse_args()


def main() -> None:
    args = arguments(__doc__)
    root = fixture_registry()
    lines: list[str] = []
    if root is None:
        lines.append("LSTM comparison skipped: set ATB_FIXTURE_REGISTRY or add tests/data")
    else:
        lines += compare(root, args.windows, args.repeats, one_thread=False)
        lines += compare(root, args.windows, args.repeats, one_thread=True)
    lines += peak_rss()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
