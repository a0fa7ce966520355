"""OnnxSession.run against onnxruntime.InferenceSession.run, side by side in one process.

Both sessions use one intra-op thread and are warmed up; calls alternate in rounds so machine
noise hits both alike. Prints p50/p99 per-call latency and the ratio ours / onnxruntime.

    python benches/bench_session.py [--calls N]
"""

from __future__ import annotations

import os

# Nothing here uses BLAS; numpy's OpenBLAS threads would only spin and take cores from both
# contenders on a small machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
from pathlib import Path

import numpy as np
import onnxruntime

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import interleaved, summary
from atb_prediction import OnnxSession, scan_registry
from atb_prediction._onnx_writer import linear_sequence_model

FIXTURE_REGISTRY = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "atb-registry"


def reference(model: bytes | str) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def compare(label: str, model: bytes | str, x: np.ndarray, calls: int) -> list[str]:
    ours = OnnxSession(model, intra_op_threads=1, inter_op_threads=1)
    theirs = reference(model)
    name = theirs.get_inputs()[0].name
    feeds = {name: x}
    np.testing.assert_allclose(ours.run(x)[0], theirs.run(None, feeds)[0], rtol=1e-5)
    samples = interleaved(
        {"ours": lambda: ours.run(x), "onnxruntime": lambda: theirs.run(None, feeds)}, calls
    )
    ours_p50, ours_p99, _ = summary(samples["ours"])
    ref_p50, ref_p99, _ = summary(samples["onnxruntime"])
    return [
        f"| {label} | {ours_p50:8.2f} | {ref_p50:8.2f} | {ours_p50 / ref_p50:5.2f} "
        f"| {ours_p99:8.2f} | {ref_p99:8.2f} | {ours_p99 / ref_p99:5.2f} |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000, help="timed calls per contender")
    args = parser.parse_args()
    rows = [
        "| model | ours p50 µs | ort p50 µs | p50 ratio | ours p99 µs | ort p99 µs | p99 ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    tiny = linear_sequence_model(120, 5)
    x = np.random.default_rng(0).random((1, 120, 5), dtype=np.float32)
    rows += compare("tiny linear 1x120x5", tiny, x, args.calls)
    if FIXTURE_REGISTRY.is_dir():
        index = scan_registry(FIXTURE_REGISTRY)
        (record,) = [
            r
            for r in index.versions
            if r.is_production and (r.symbol, r.model_type) == ("BTCUSDT", "basic")
        ]
        seq, features = 120, 5
        lstm_x = np.random.default_rng(1).random((1, seq, features), dtype=np.float32)
        rows += compare(
            f"LSTM {record.key}", record.model_path, lstm_x, max(2000, args.calls // 10)
        )
    else:
        rows.append("| LSTM BTCUSDT/basic/latest | skipped: fixture registry absent | | | | | |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
