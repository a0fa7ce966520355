"""OnnxSession.run against onnxruntime's run and run_with_iobinding, side by side in one process.

On the tiny ``[1, 120, 5]`` linear model, with default threading and with one thread, in two cases
(issue 7, item 9):

- **cycling**: a different input array every call (1,000 arrays, cycled on both sides);
  onnxruntime's ``run_with_iobinding`` rebinds its input each call, its output bound once;
- **same array**: the same array every call; onnxruntime's ``run_with_iobinding`` fully pre-bound.

``OnnxSession.run`` returns a new output array every call; ``run_with_iobinding`` writes into its
one bound buffer. Contenders alternate in rounds so machine noise hits all alike. Each repeat
prints p50 latencies; the summary gives min/median/max over repeats of the p50 ratios
ours / onnxruntime.

    python benches/bench_session.py [--calls N] [--repeats R]
"""

from __future__ import annotations

import os

# Nothing here uses BLAS; numpy's OpenBLAS threads would only spin and take cores from both
# contenders on a small machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The small linear models of the demo, made with onnx.helper (a development dependency).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from _timing import interleaved, percentile, spread
from atb_prediction import OnnxSession
from make_demo_models import linear_sequence_model

ARRAYS = 1000


def reference(model: bytes, one_thread: bool) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    if one_thread:
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def cycling(call: Callable[[np.ndarray], object], arrays: list[np.ndarray]) -> Callable[[], None]:
    """A call that takes the next array of ``arrays`` each time, round and round."""
    state = {"next": 0}

    def step() -> None:
        index = state["next"]
        state["next"] = (index + 1) % len(arrays)
        call(arrays[index])

    return step


def contenders(
    model: bytes, one_thread: bool, arrays: list[np.ndarray]
) -> dict[str, dict[str, Callable[[], object]]]:
    """Per case, the three contenders; each is checked against the others once first."""
    ours = (
        OnnxSession(model, intra_op_threads=1, inter_op_threads=1)
        if one_thread
        else OnnxSession(model)
    )
    theirs = reference(model, one_thread)
    name = theirs.get_inputs()[0].name
    output = theirs.get_outputs()[0].name
    x = arrays[0]
    bound_out = np.empty((1, 1), dtype=np.float32)

    def bind_output(binding: onnxruntime.IOBinding) -> None:
        binding.bind_output(
            output, "cpu", 0, np.float32, list(bound_out.shape), bound_out.ctypes.data
        )

    rebinding = theirs.io_binding()
    bind_output(rebinding)
    prebound = theirs.io_binding()
    prebound.bind_cpu_input(name, x)
    bind_output(prebound)

    # The default arguments keep `bound_out`, which both bindings write into, alive.
    def rebind(array: np.ndarray, _out: np.ndarray = bound_out) -> None:
        rebinding.bind_cpu_input(name, array)
        theirs.run_with_iobinding(rebinding)

    def prebound_run(_out: np.ndarray = bound_out) -> None:
        theirs.run_with_iobinding(prebound)

    (expected,) = theirs.run(None, {name: x})
    np.testing.assert_allclose(ours.run(x)[0], expected, rtol=1e-5)
    theirs.run_with_iobinding(prebound)
    np.testing.assert_allclose(bound_out, expected, rtol=1e-5)

    return {
        "cycling": {
            "ours": cycling(ours.run, arrays),
            "run": cycling(lambda a: theirs.run(None, {name: a}), arrays),
            "iobinding": cycling(rebind, arrays),
        },
        "same array": {
            "ours": lambda: ours.run(x),
            "run": lambda: theirs.run(None, {name: x}),
            "iobinding": prebound_run,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000, help="timed calls per contender")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the whole measurement")
    args = parser.parse_args()
    model = linear_sequence_model(120, 5)
    rng = np.random.default_rng(0)
    arrays = [rng.random((1, 120, 5), dtype=np.float32) for _ in range(ARRAYS)]
    setups = {
        threading: contenders(model, threading == "one thread", arrays)
        for threading in ("default", "one thread")
    }
    ratios: dict[tuple[str, str, str], list[float]] = {}
    print("| repeat | threading | case | ours p50 µs | ort run p50 µs | iobinding p50 µs |")
    print("|---:|---|---|---:|---:|---:|")
    for repeat in range(1, args.repeats + 1):
        for threading, cases in setups.items():
            for case, calls in cases.items():
                samples = interleaved(calls, args.calls)
                p50 = {name: percentile(values, 50) for name, values in samples.items()}
                print(
                    f"| {repeat} | {threading} | {case} | {p50['ours']:.2f} "
                    f"| {p50['run']:.2f} | {p50['iobinding']:.2f} |"
                )
                for competitor in ("run", "iobinding"):
                    key = (threading, case, competitor)
                    ratios.setdefault(key, []).append(p50["ours"] / p50[competitor])
    print()
    print("p50 ratio ours / onnxruntime, min / median / max over repeats (target in brackets):")
    print("| threading | case | vs run | vs run_with_iobinding |")
    print("|---|---|---:|---:|")
    targets = {"cycling": "≤ 0.9", "same array": "≤ 1.0"}
    for threading in setups:
        for case in ("cycling", "same array"):
            print(
                f"| {threading} | {case} | {spread(ratios[(threading, case, 'run')], 2)} "
                f"| {spread(ratios[(threading, case, 'iobinding')], 2)} [{targets[case]}] |"
            )


if __name__ == "__main__":
    main()
