"""The live path side by side in one process: ``predict_bars`` and ``stream.push`` against
``predict`` on a prepared window and against upstream's pandas recipe, on a tiny model (the
mean of the window: the ONNX run costs next to nothing, so what surrounds it shows) and on the
fixture's production LSTM (BTCUSDT/basic); and the tiny model's ``predict`` against the C floor.

Each call gets new bars, as a live loop does:

- **predict_bars**: ``runner.predict_bars(frame)``, the next of 64 different 1,000-bar frames
  with a ``DatetimeIndex`` (a sliding window over a longer seeded series): features, prediction
  and price in one call;
- **push**: ``stream.push([open_time_ms, open, high, low, close, volume])``, the next bar of the
  series after a 1,000-bar history, as ccxt's ``fetch_ohlcv`` gives them;
- **predict**: ``runner.predict(window)`` on the already prepared ``[120, 5]`` float64 feature
  window of the same frame (what ``predict_bars`` and ``push`` cost on top of inference is the
  difference);
- **upstream recipe**: what upstream's live engine does per bar: a pandas rolling min-max of
  the five columns over the whole 1,000-bar frame (``PriceOnlyFeatureExtractor``), the last 120
  rows through an ``onnxruntime.InferenceSession`` with default options (upstream's runner), and
  the price mapped back with the last 120 closes in pandas;
- **C floor** (tiny model only): ``runner.predict`` on a float32 window against
  ``benches/c_floor.rs``, ONNX Runtime's C API called from Rust through the same ``ort`` crate
  and library, the session opened as the package opens one, input and output bound once
  (``cargo bench --no-default-features --bench c_floor``, built on the first run).

The registry's threading is process-wide, so each model and mode runs in its own child process:
the package's defaults against onnxruntime's defaults, then one intra-op thread on both sides.
Contenders alternate in short rounds; each repeat prints p50 latencies, and the summary gives
min / median / max over repeats of the p50 differences and ratios.

    python benches/bench_live.py [--calls N] [--repeats R] [--models tiny lstm] [--no-floor]
"""

from __future__ import annotations

import os

# Nothing here uses BLAS; numpy's OpenBLAS threads would only spin and take cores from both
# contenders on a small machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pandas as pd
from onnx import TensorProto, helper

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import interleaved, percentile, spread
from atb_prediction import PredictionConfig, PredictionModelRegistry

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "tests" / "data" / "atb-registry"
FRAMES = 64
BARS = 1000
WINDOW = 120
SEQUENCE = 120
OHLCV = ("open", "high", "low", "close", "volume")
FEATURES = ("close", "volume", "high", "low", "open")  # both models' feature order
MODES = ("defaults", "one-thread")
MODELS = ("tiny", "lstm")


def series(bars: int, seed: int = 7) -> pd.DataFrame:
    """A seeded hourly OHLCV random walk."""
    rng = np.random.default_rng(seed)
    close = 42_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, bars)))
    opens = np.concatenate(([close[0]], close[:-1]))
    spread_ = np.abs(rng.normal(0.0, 0.002, bars)) * close
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, close) + spread_,
            "low": np.minimum(opens, close) - spread_,
            "close": close,
            "volume": rng.uniform(50.0, 500.0, bars),
        },
        index=pd.date_range("2024-01-01", periods=bars, freq="h", tz="UTC"),
    )


def tiny_registry(root: Path) -> Path:
    """A registry whose BTCUSDT/basic production bundle is the mean of its ``[1, 120, 5]``
    window, with the fixture LSTM's metadata (price-only features, a rolling min-max price over
    120 closes)."""
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["window"], ["mean"], axes=[1, 2], keepdims=0),
            helper.make_node("Unsqueeze", ["mean", "axis"], ["output"]),
        ],
        "mean",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["batch", SEQUENCE, 5])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1])],
        [helper.make_tensor("axis", TensorProto.INT64, [1], [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    version = root / "BTCUSDT" / "basic" / "2026-01-01_1h_v1"
    version.mkdir(parents=True)
    (version / "model.onnx").write_bytes(model.SerializeToString())
    metadata = json.loads(
        (REGISTRY / "BTCUSDT" / "basic" / "2025-10-30_12h_v1" / "metadata.json").read_text()
    )
    metadata.update(version_id=version.name, model_file="model.onnx")
    (version / "metadata.json").write_text(json.dumps(metadata))
    (version.parent / "latest").symlink_to(version.name)
    return root


def upstream_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Upstream's price-only features, as its extractor computes them: pandas rolling min-max
    over the whole frame, ``0.5`` where the window is flat."""
    df = frame.copy()
    for column in OHLCV:
        low = df[column].rolling(window=WINDOW, min_periods=1).min()
        high = df[column].rolling(window=WINDOW, min_periods=1).max()
        valid = (high != low) & high.notna() & low.notna()
        df[f"{column}_normalized"] = np.where(valid, (df[column] - low) / (high - low), 0.5)
    return df


def upstream_recipe(session: onnxruntime.InferenceSession) -> Callable[[pd.DataFrame], float]:
    """Upstream's per-bar live path: features in pandas, the runner's ``onnxruntime`` run, and
    the rolling min-max price."""
    name = session.get_inputs()[0].name
    columns = [f"{column}_normalized" for column in FEATURES]

    def predict(frame: pd.DataFrame) -> float:
        window = upstream_features(frame)[columns].to_numpy()[-SEQUENCE:]
        x = window.astype(np.float32).reshape(1, SEQUENCE, len(columns))
        if not np.all(np.isfinite(x)):
            raise ValueError("NaN features")
        output = float(session.run(None, {name: x})[0].flatten()[0])
        closes = frame["close"].tail(WINDOW)
        low, high = float(closes.min()), float(closes.max())
        return low if high == low else output * (high - low) + low

    return predict


def cycling(call: Callable[[object], object], inputs: list[object]) -> Callable[[], None]:
    """A call that takes the next of ``inputs`` each time, round and round."""
    state = {"next": 0}

    def step() -> None:
        index = state["next"]
        state["next"] = (index + 1) % len(inputs)
        call(inputs[index])

    return step


def feeding(call: Callable[[object], object], inputs: Iterator[object]) -> Callable[[], None]:
    """A call that takes the next of ``inputs`` each time, never the same twice."""
    return lambda: call(next(inputs))


def child(model: str, mode: str, calls: int) -> dict[str, float]:
    """One repeat in this process: p50 latencies in microseconds, by contender."""
    one = mode == "one-thread"
    scratch = tempfile.TemporaryDirectory()
    root = REGISTRY if model == "lstm" else tiny_registry(Path(scratch.name))
    registry = PredictionModelRegistry(
        PredictionConfig(
            model_registry_path=str(root),
            prediction_cache_enabled=False,
            intra_op_threads=1 if one else None,
        )
    )
    runner = registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h").runner
    options = onnxruntime.SessionOptions()
    if one:
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(runner.model_path), options, providers=["CPUExecutionProvider"]
    )
    # Enough bars that pushes never repeat one: every contender's calls, warm-ups included.
    pushes = 2 * calls + 2_000
    history = series(BARS + max(FRAMES, pushes))
    frames = [history.iloc[start : start + BARS] for start in range(FRAMES)]
    names = [f"{column}_normalized" for column in FEATURES]
    windows = [upstream_features(f)[names].to_numpy()[-SEQUENCE:].copy() for f in frames]
    recipe = upstream_recipe(session)
    stream = runner.stream(history.iloc[:BARS])
    epoch = pd.Timestamp(0, tz="UTC")
    milliseconds = np.asarray((history.index - epoch) // pd.Timedelta(milliseconds=1))
    values = history[list(OHLCV)].to_numpy()
    bars = (
        [int(t), *map(float, v)] for t, v in zip(milliseconds[BARS:], values[BARS:], strict=True)
    )
    # The same answer from all of them before anything is timed.
    check = runner.stream(history.iloc[: BARS - 1])
    for frame, window in zip(frames[:3], windows[:3], strict=True):
        live = runner.predict_bars(frame).price
        assert abs(live - recipe(frame)) <= 1e-6 * abs(live), (live, recipe(frame))
        closes = frame["close"].tail(WINDOW)
        low, high = closes.min(), closes.max()
        assert abs(runner.predict(window).price * (high - low) + low - live) <= 1e-6 * live
    pushed = check.push([int(milliseconds[BARS - 1]), *map(float, values[BARS - 1])])
    assert pushed is not None and pushed.price == runner.predict_bars(frames[0]).price
    contenders: dict[str, Callable[[], object]] = {
        "predict_bars": cycling(runner.predict_bars, list(frames)),
        "push": feeding(stream.push, bars),
        "predict": cycling(runner.predict, list(windows)),
        "upstream recipe": cycling(recipe, list(frames)),  # type: ignore[arg-type]
    }
    if model == "tiny":
        window32 = windows[0].astype(np.float32)
        contenders["predict f32"] = lambda: runner.predict(window32)
    samples = interleaved(
        contenders,
        calls,
        # Short alternating rounds: on this noisy 2-core machine a slow spell of a few hundred
        # milliseconds would otherwise land on one contender's block and move its p50.
        rounds=max(1, calls // 20),
    )
    scratch.cleanup()
    return {name: percentile(values, 50) for name, values in samples.items()}


def c_floor_binary() -> Path:
    """The C floor's bench binary, built (release, no Python) on first use."""
    command = ["cargo", "bench", "--no-default-features", "--bench", "c_floor", "--no-run",
               "--message-format=json"]  # fmt: skip
    built = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    for line in built.stdout.splitlines():
        message = json.loads(line)
        if message.get("target", {}).get("name") == "c_floor" and message.get("executable"):
            return Path(message["executable"])
    raise RuntimeError("cargo built no c_floor binary")


def c_floor(binary: Path, model: Path, calls: int) -> float:
    """The C floor's p50 in microseconds."""
    from atb_prediction._runtime import find_library

    environment = {**os.environ, "ORT_DYLIB_PATH": str(find_library())}
    command = [str(binary), str(model), str(calls * 10), str(max(1, calls // 10))]
    done = subprocess.run(command, env=environment, check=True, capture_output=True, text=True)
    p50: float = json.loads(done.stdout)["p50_us"]
    return p50


def run_child(model: str, mode: str, calls: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", f"{model}:{mode}", "--calls", str(calls)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per contender")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-floor", action="store_true", help="skip the C floor")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, mode = args.child.split(":")
        print(json.dumps(child(model, mode, args.calls)))
        return
    binary = None if args.no_floor else c_floor_binary()
    scratch = tempfile.TemporaryDirectory()
    tiny = tiny_registry(Path(scratch.name)) / "BTCUSDT" / "basic" / "latest" / "model.onnx"
    print(f"p50 in µs; {BARS}-bar frames; models [1, {SEQUENCE}, 5]; {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    for mode in MODES:
        spreads: dict[str, list[float]] = {}

        def add(name: str, value: float, spreads: dict[str, list[float]] = spreads) -> None:
            spreads.setdefault(name, []).append(value)

        for repeat in range(args.repeats):
            for model in args.models:
                p50 = run_child(model, mode, args.calls)
                print(f"  {mode:10} {model:4} #{repeat + 1}: " + "  ".join(
                    f"{name} {value:8.2f}" for name, value in p50.items()))  # fmt: skip
                add(f"{model} predict_bars - predict (µs)", p50["predict_bars"] - p50["predict"])
                add(f"{model} push - predict (µs)", p50["push"] - p50["predict"])
                add(f"{model} predict_bars / predict", p50["predict_bars"] / p50["predict"])
                add(f"{model} push / predict", p50["push"] / p50["predict"])
                add(
                    f"{model} predict_bars / upstream", p50["predict_bars"] / p50["upstream recipe"]
                )
                add(f"{model} push / upstream", p50["push"] / p50["upstream recipe"])
                if model == "tiny" and binary is not None:
                    floor = c_floor(binary, tiny, args.calls)
                    print(f"  {mode:10} C floor #{repeat + 1}: {floor:8.2f}")
                    add("tiny predict f32 / C floor", p50["predict f32"] / floor)
                    add("tiny predict f64 / C floor", p50["predict"] / floor)
        print(f"{mode}: min / median / max over {args.repeats} repeats")
        targets = {
            "tiny predict_bars - predict (µs)": "≤ 5",
            "tiny push - predict (µs)": "≤ 3",
            "lstm predict_bars / predict": "≤ 1.02",
            "lstm push / predict": "≤ 1.02",
        }
        for name, values in spreads.items():
            target = targets.get(name, "reported")
            print(f"  {name:34} {spread(values, 3, 8)}  (target {target})")
    scratch.cleanup()


if __name__ == "__main__":
    main()
