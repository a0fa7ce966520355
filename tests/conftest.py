"""Shared fixtures: real ONNX models built with the ``onnx`` package, and the fixture registry.

The fixture registry is a trimmed copy of the upstream bot's, under ``tests/data/`` (see its
README): a fresh clone has it, with ``latest`` as real symlinks, as users have.

Every model here is a real graph that ONNX Runtime executes; tests compare our outputs with the
``onnxruntime`` Python package's on the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

if TYPE_CHECKING:
    import pandas as pd

#: Test data shipped with the repository.
DATA = Path(__file__).resolve().parent / "data"

#: The upstream bot's registry, trimmed (tests must never write to it: use ``registry_copy``).
FIXTURE_REGISTRY = DATA / "atb-registry"

#: Upstream's own ``OnnxRunner.predict`` outputs for every bundle of the full registry.
GOLDEN_PREDICTIONS = DATA / "atb-registry-golden.json"

#: Upstream's live path from raw OHLCV bars (``scripts/make_live_golden.py``).
LIVE_GOLDEN = DATA / "atb-live-golden.json"
OHLCV = ("open", "high", "low", "close", "volume")

OPSET = 17

#: Every version of the fixture registry, by key, in the scan's order.
FIXTURE_KEYS = [
    "BTCUSDT:1d:basic:2025-09-16_legacy",
    "BTCUSDT:1h:basic:2025-09-17_1h_v1",
    "BTCUSDT:1h:basic:2025-10-26_21h_v1",
    "BTCUSDT:1d:basic:2025-10-27_14h_v1",
    "BTCUSDT:1h:basic:2025-10-30_12h_v1",
    "BTCUSDT:1d:sentiment:2025-09-16_legacy",
    "BTCUSDT:1h:sentiment:2025-12-23_20h_v2",
    "BTCUSDT:1h:sentiment:2026-01-06_14h_v3",
    "ETHUSDT:1h:basic:2026-07-04_22h_v1",
    "ETHUSDT:1d:sentiment:2025-09-16_legacy",
    "ETHUSDT:1h:sentiment:2025-12-23_21h_v2",
]

#: What each fixture ``latest`` names.
FIXTURE_PRODUCTION = {
    ("BTCUSDT", "basic"): "2025-10-30_12h_v1",
    ("BTCUSDT", "sentiment"): "2025-12-23_20h_v2",
    ("ETHUSDT", "basic"): "2026-07-04_22h_v1",
    ("ETHUSDT", "sentiment"): "2025-12-23_21h_v2",
}


def golden_predictions() -> list[dict[str, Any]]:
    """The golden entries whose bundle this trimmed copy keeps (two seeds per bundle)."""
    document = json.loads(GOLDEN_PREDICTIONS.read_text(encoding="utf-8"))
    return [
        entry
        for entry in document["bundles"]
        if (FIXTURE_REGISTRY / entry["symbol"] / entry["model_type"] / entry["version"]).is_dir()
    ]


def golden_input(entry: dict[str, Any]) -> np.ndarray:
    """The window a golden entry was computed on, as the golden file describes it."""
    shape = (entry["sequence_length"], entry["features"])
    return np.random.default_rng(entry["seed"]).standard_normal(shape).astype(np.float32)


def live_golden() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(LIVE_GOLDEN.read_text(encoding="utf-8"))
    return document


def golden_frame(symbol: str) -> pd.DataFrame:
    import pandas as pd

    series = live_golden()["series"][symbol]
    return pd.DataFrame(
        {name: np.array(series[name], dtype=float) for name in OHLCV},
        index=pd.DatetimeIndex(series["index"]),
    )


def golden_bundle(symbol: str) -> dict[str, Any]:
    (bundle,) = [b for b in live_golden()["bundles"] if b["symbol"] == symbol]
    return bundle


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in a fresh interpreter with ``env`` added to the environment."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


def writable_copy(source: Path, destination: Path) -> Path:
    """Copy a registry with its symlinks, every file and folder made writable."""
    shutil.copytree(source, destination, symlinks=True)
    for path in [destination, *destination.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    return destination


def use_pointer_files(root: Path) -> list[Path]:
    """Turn every ``latest`` symlink under ``root`` into a pointer file naming its version, as
    copies that lose symlinks have it; returns the pointers rewritten."""
    pointers = []
    for link in sorted(root.glob("*/*/latest")):
        if link.is_symlink():
            target = Path(link.readlink()).name
            link.unlink()
            link.write_text(target, encoding="utf-8")
            pointers.append(link)
    return pointers


def _model(graph: onnx.GraphProto, metadata: dict[str, str] | None = None) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def linear_model(
    seq: int = 120,
    features: int = 5,
    *,
    seed: int = 0,
    input_name: str = "input_sequence",
    metadata: dict[str, str] | None = None,
    outputs: int = 1,
    activation: str | None = None,
) -> bytes:
    """``[batch, seq, features] -> [batch, outputs]``: flatten, dense, optional Sigmoid/Softmax."""
    rng = np.random.default_rng(seed)
    weight = (rng.standard_normal((seq * features, outputs)) * 0.01).astype(np.float32)
    bias = (rng.standard_normal(outputs) * 0.01).astype(np.float32)
    dense_out = "dense" if activation else "output"
    nodes = [
        helper.make_node("Flatten", [input_name], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "weight"], ["matmul"]),
        helper.make_node("Add", ["matmul", "bias"], [dense_out]),
    ]
    if activation == "sigmoid":
        nodes.append(helper.make_node("Sigmoid", [dense_out], ["output"]))
    elif activation == "softmax":
        nodes.append(helper.make_node("Softmax", [dense_out], ["output"], axis=-1))
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", seq, features])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", outputs])],
        [numpy_helper.from_array(weight, "weight"), numpy_helper.from_array(bias, "bias")],
    )
    return _model(graph, metadata)


def lstm_model(
    seq: int = 120,
    features: int = 5,
    hidden: int = 16,
    *,
    seed: int = 1,
    outputs: int = 1,
    softmax: bool = False,
) -> bytes:
    """A Keras-like LSTM: ``[batch, seq, features]`` -> LSTM -> dense -> ``[batch, outputs]``,
    with a softmax over the outputs for a classifier."""
    rng = np.random.default_rng(seed)

    def init(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    nodes = [
        helper.make_node("Transpose", ["input_layer"], ["time_major"], perm=[1, 0, 2]),
        helper.make_node(
            "LSTM", ["time_major", "W", "R", "B"], ["", "last_hidden"], hidden_size=hidden
        ),
        helper.make_node("Squeeze", ["last_hidden", "squeeze_axes"], ["hidden"]),
        helper.make_node("MatMul", ["hidden", "dense_w"], ["dense"]),
        helper.make_node("Add", ["dense", "dense_b"], ["logits" if softmax else "output_0"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["output_0"], axis=-1))
    initializers = [
        numpy_helper.from_array(init(1, 4 * hidden, features), "W"),
        numpy_helper.from_array(init(1, 4 * hidden, hidden), "R"),
        numpy_helper.from_array(init(1, 8 * hidden), "B"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "squeeze_axes"),
        numpy_helper.from_array(init(hidden, outputs), "dense_w"),
        numpy_helper.from_array(init(outputs), "dense_b"),
    ]
    graph = helper.make_graph(
        nodes,
        "lstm",
        [helper.make_tensor_value_info("input_layer", TensorProto.FLOAT, ["batch", seq, features])],
        [helper.make_tensor_value_info("output_0", TensorProto.FLOAT, ["batch", outputs])],
        initializers,
    )
    return _model(graph)


def two_input_model() -> bytes:
    """Inputs ``prices`` float32 ``[batch, 3]`` and ``counts`` int64 ``[batch, 3]``; outputs
    ``weighted`` float32 (prices * counts) and ``positive`` bool (counts > 0)."""
    nodes = [
        helper.make_node("Cast", ["counts"], ["counts_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["prices", "counts_f"], ["weighted"]),
        helper.make_node("Greater", ["counts", "zero"], ["positive"]),
    ]
    graph = helper.make_graph(
        nodes,
        "two_inputs",
        [
            helper.make_tensor_value_info("prices", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("counts", TensorProto.INT64, ["batch", 3]),
        ],
        [
            helper.make_tensor_value_info("weighted", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("positive", TensorProto.BOOL, ["batch", 3]),
        ],
        [numpy_helper.from_array(np.array(0, dtype=np.int64), "zero")],
    )
    return _model(graph, {"purpose": "two inputs", "author": "tests"})


#: numpy dtype -> ONNX element type, for the identity model.
IDENTITY_DTYPES = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float64): TensorProto.DOUBLE,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.bool_): TensorProto.BOOL,
    np.dtype(np.uint8): TensorProto.UINT8,
}


def identity_model(dtypes: Sequence[np.dtype] = tuple(IDENTITY_DTYPES)) -> bytes:
    """One ``[2, 3]`` input and one output per dtype, each output a copy of its input."""
    inputs, outputs, nodes = [], [], []
    for dtype in dtypes:
        name = np.dtype(dtype).name
        inputs.append(helper.make_tensor_value_info(f"in_{name}", IDENTITY_DTYPES[dtype], [2, 3]))
        outputs.append(helper.make_tensor_value_info(f"out_{name}", IDENTITY_DTYPES[dtype], [2, 3]))
        nodes.append(helper.make_node("Identity", [f"in_{name}"], [f"out_{name}"]))
    return _model(helper.make_graph(nodes, "identity", inputs, outputs))


def slow_model(size: int = 384, steps: int = 6) -> bytes:
    """A chain of ``steps`` ``[size, size]`` matrix products: slow enough to time out."""
    weight = np.eye(size, dtype=np.float32)
    nodes = []
    current = "x"
    for step in range(steps):
        out = "y" if step == steps - 1 else f"h{step}"
        nodes.append(helper.make_node("MatMul", [current, "w"], [out]))
        current = out
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, size])],
        [numpy_helper.from_array(weight, "w")],
    )
    return _model(graph)


def reference_session(model: bytes | str | Path) -> onnxruntime.InferenceSession:
    """The ``onnxruntime`` Python package's session, our reference."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="session")
def tiny_model() -> bytes:
    return linear_model()


@pytest.fixture(scope="session")
def lstm_bytes() -> bytes:
    return lstm_model()


@pytest.fixture(scope="session")
def two_inputs() -> bytes:
    return two_input_model()


@pytest.fixture(scope="session")
def fixture_registry() -> Path:
    """The upstream registry under ``tests/data`` (read only: copy it to change it)."""
    assert FIXTURE_REGISTRY.is_dir(), f"{FIXTURE_REGISTRY} is missing from the checkout"
    assert (FIXTURE_REGISTRY / "BTCUSDT" / "basic" / "latest").is_symlink(), (
        "tests/data lost its latest symlinks (a checkout with core.symlinks=false?)"
    )
    return FIXTURE_REGISTRY


@pytest.fixture
def registry_copy(fixture_registry: Path, tmp_path: Path) -> Path:
    """A writable copy of the fixture registry, ``latest`` as symlinks."""
    return writable_copy(fixture_registry, tmp_path / "registry")


@pytest.fixture
def pointer_registry(fixture_registry: Path, tmp_path: Path) -> Path:
    """A writable copy of the fixture registry with each ``latest`` a pointer file."""
    root = writable_copy(fixture_registry, tmp_path / "pointer-registry")
    assert len(use_pointer_files(root)) == len(FIXTURE_PRODUCTION)
    return root


BundleWriter = Callable[..., Path]


def write_bundle(
    root: Path,
    symbol: str,
    model_type: str,
    version: str,
    *,
    model: bytes | None = None,
    metadata: dict[str, object] | str | None = None,
    feature_schema: dict[str, object] | str | None = None,
    metrics: dict[str, object] | str | None = None,
    model_file: str = "model.onnx",
) -> Path:
    """Write one bundle folder; JSON given as a string is written verbatim (for broken files)."""
    directory = root / symbol / model_type / version
    directory.mkdir(parents=True, exist_ok=True)
    if model is not None:
        (directory / model_file).write_bytes(model)
    for name, document in (
        ("metadata.json", metadata),
        ("feature_schema.json", feature_schema),
        ("metrics.json", metrics),
    ):
        if document is not None:
            text = document if isinstance(document, str) else json.dumps(document, indent=2)
            (directory / name).write_text(text, encoding="utf-8")
    return directory


def standard_metadata(
    symbol: str,
    model_type: str,
    version: str,
    *,
    seq: int = 120,
    features: int = 5,
    **extra: object,
) -> dict[str, object]:
    """Metadata shaped like the fixture registry's."""
    names = [f"feature_{i}" for i in range(features)]
    return {
        "symbol": symbol,
        "timeframe": "1h",
        "model_type": model_type,
        "version_id": version,
        "model_file": "model.onnx",
        "created_at": "2026-01-01T00:00:00Z",
        "sequence_length": seq,
        "feature_names": names,
        **extra,
    }


def point_latest(root: Path, symbol: str, model_type: str, version: str) -> None:
    """Make ``latest`` a relative symlink to ``version``."""
    link = root / symbol / model_type / "latest"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(version)


# --- helpers added for the registry, runner, cache and config tests -----------------------------


def affine_model(
    seq: int = 4,
    features: int = 3,
    *,
    weight: float = 0.0,
    bias: Sequence[float] = (0.0,),
    activation: str | None = None,
    input_name: str = "input_sequence",
) -> bytes:
    """``[batch, seq, features] -> [batch, len(bias)]``: ``weight * sum(window) + bias``.

    With ``weight=0`` every window gives exactly ``bias`` (after the optional Sigmoid/Softmax),
    which makes a model's output, and so which model answered, known in advance.
    """
    outputs = len(bias)
    weights = np.full((seq * features, outputs), weight, dtype=np.float32)
    nodes = [
        helper.make_node("Flatten", [input_name], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "weight"], ["matmul"]),
        helper.make_node("Add", ["matmul", "bias"], ["dense" if activation else "output"]),
    ]
    if activation == "sigmoid":
        nodes.append(helper.make_node("Sigmoid", ["dense"], ["output"]))
    elif activation == "softmax":
        nodes.append(helper.make_node("Softmax", ["dense"], ["output"], axis=-1))
    graph = helper.make_graph(
        nodes,
        "affine",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", seq, features])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", outputs])],
        [
            numpy_helper.from_array(weights, "weight"),
            numpy_helper.from_array(np.asarray(bias, dtype=np.float32), "bias"),
        ],
    )
    return _model(graph)


def slow_window_model(size: int = 512, steps: int = 12) -> bytes:
    """A registry-shaped ``[batch, size, size] -> [batch, 1]`` model that takes a while to run:
    ``steps`` products with a ``[size, size]`` matrix, then the mean of the window."""
    weight = np.eye(size, dtype=np.float32)
    nodes = []
    current = "window"
    for step in range(steps):
        nodes.append(helper.make_node("MatMul", [current, "w"], [f"h{step}"]))
        current = f"h{step}"
    nodes.append(helper.make_node("ReduceMean", [current], ["mean"], axes=[1, 2], keepdims=1))
    nodes.append(helper.make_node("Flatten", ["mean"], ["output"], axis=1))
    graph = helper.make_graph(
        nodes,
        "slow_window",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["batch", size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(weight, "w")],
    )
    return _model(graph)


def corrupt_model_body(size: int = 4096, seed: int = 7) -> bytes:
    """Bytes that start like a ModelProto (``0x08``: ir_version, varint) and are garbage after:
    they pass the scan's cheap header check and fail when ONNX Runtime parses them."""
    rng = np.random.default_rng(seed)
    return b"\x08" + bytes([0x08]) + rng.integers(0x80, 0x100, size, dtype=np.uint8).tobytes()


UPSTREAM_EPSILON = 1e-8


def upstream_predict(
    model: bytes | str | Path,
    metadata: dict[str, object] | None,
    features: object,
    *,
    confidence_scale_factor: float = 10.0,
    direction_threshold: float = 0.01,
) -> dict[str, object]:
    """Upstream's ``OnnxRunner.predict`` written out with numpy and the ``onnxruntime`` package.

    Returns ``price``, ``confidence``, ``direction`` and ``probabilities`` (``None`` for
    regression).
    Raises ``ValueError`` where upstream does (NaN/Inf after preparation, feature count mismatch,
    classification output that is not probabilities).
    """
    import math

    metadata = dict(metadata or {})
    x = np.array(features, dtype=np.float64, copy=True)  # upstream normalises in place; we copy
    if x.ndim == 1:
        x = x.reshape(1, 1, -1)
    elif x.ndim == 2:
        x = x.reshape(1, -1, x.shape[1])
    elif x.ndim != 3:
        raise ValueError(f"Features must be 1D, 2D, or 3D array, got shape {x.shape}")

    def sanitized(param: dict[str, float]) -> tuple[float, float]:
        mean = float(param.get("mean", 0.0))
        std = float(param.get("std", 1.0))
        if std == 0.0 or not math.isfinite(std):
            std = UPSTREAM_EPSILON
        if not math.isfinite(mean):
            mean = 0.0
        return mean, std

    params = metadata.get("normalization_params")
    if params:
        names = metadata.get("feature_names")
        if isinstance(names, list) and names:
            if len(names) != x.shape[2]:
                raise ValueError(
                    f"Feature count mismatch: metadata expects {len(names)} features, "
                    f"but input has {x.shape[2]} features."
                )
            for i, name in enumerate(names):
                if name in params:
                    mean, std = sanitized(params[name])
                    x[:, :, i] = (x[:, :, i] - mean) / std
        else:
            for i, name in enumerate(params):
                if i < x.shape[2]:
                    mean, std = sanitized(params[name])
                    x[:, :, i] = (x[:, :, i] - mean) / std
    with np.errstate(over="ignore"):
        x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError("Input features contain NaN or infinite values after preparation.")

    session = reference_session(model)
    output = session.run(None, {session.get_inputs()[0].name: x})[0]

    task_type = metadata.get("task_type", "regression")
    if task_type in ("binary_classification", "ternary_classification"):
        labels = metadata["class_labels"]
        flat = np.asarray(output).flatten().astype(np.float64)
        if task_type == "binary_classification":
            if flat.size != 1:
                raise ValueError("binary_classification expects a single sigmoid output value")
            p_up = min(1.0, max(0.0, float(flat[0])))
            probabilities = np.array([1.0 - p_up, p_up])
        else:
            if flat.size != len(labels) or not np.all(np.isfinite(flat)):
                raise ValueError("bad ternary output")
            if (
                np.any(flat < -1e-3)
                or np.any(flat > 1 + 1e-3)
                or not math.isclose(float(flat.sum()), 1.0, abs_tol=1e-2)
            ):
                raise ValueError("does not look like softmax probabilities")
            probabilities = np.clip(flat, 0.0, 1.0)
        best = int(np.argmax(probabilities))
        return {
            "price": float("nan"),
            "confidence": float(probabilities[best]),
            "direction": int(labels[best]),
            "probabilities": tuple(float(p) for p in probabilities),
        }

    if output.shape == (1, 1, 1):
        pred = float(output[0][0][0])
    elif output.shape == (1, 1):
        pred = float(output[0][0])
    else:
        pred = float(output.flatten()[0])
    scaling = metadata.get("price_normalization")
    if scaling and scaling.get("method") != "rolling_minmax":
        mean, std = scaling.get("mean"), scaling.get("std")
        if mean is not None and std is not None and math.isfinite(mean) and math.isfinite(std):
            pred = float(mean) if std == 0.0 else pred * std + mean
    if not math.isfinite(pred):
        confidence, direction = 0.0, 0
    else:
        confidence = min(1.0, abs(pred) * confidence_scale_factor)
        direction = 1 if pred > direction_threshold else -1 if pred < -direction_threshold else 0
    return {"price": pred, "confidence": confidence, "direction": direction, "probabilities": None}
