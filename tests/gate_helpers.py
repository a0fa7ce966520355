"""Registries and bars for the gate's tests: versions that read a ``signal`` column with real
ONNX models (those of ``sweep_helpers``, a market-holder beside them, and their versions in
price units), and bars whose next move the signal foretells as often as asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
from conftest import affine_model, point_latest, write_bundle
from onnx import TensorProto, helper, numpy_helper
from sweep_helpers import RIGHT, WRONG, bars_file

__all__ = [
    "HOLD",
    "RIGHT",
    "SYMBOL",
    "TYPE",
    "WRONG",
    "bars_file",
    "price_model",
    "signal_frame",
    "signal_registry",
]

SYMBOL, TYPE = "BTCUSDT", "basic"

#: Beside ``RIGHT`` (says the signal) and ``WRONG`` (its opposite): a version that always says
#: "up" (it holds the market: buy-and-hold in disguise).
HOLD = "2026-01-03_1h_v1"

#: ``signal -> weight * signal + bias``: the sign is the version's direction.
MODELS = {RIGHT: (1.0, 0.0), WRONG: (-1.0, 0.0), HOLD: (0.0, 1.0)}

#: In price units: ``(signal, close) -> close + weight * signal + bias``, a predicted price half
#: a point above or below the close (about 0.5%, past live's thresholds either way).
PRICE_MODELS = {RIGHT: (0.5, 0.0), WRONG: (-0.5, 0.0), HOLD: (0.0, 0.5)}


def price_model(weight: float, bias: float) -> bytes:
    """``[batch, 1, 2]`` of ``(signal, close)`` to ``[batch, 1]``: ``close + weight * signal +
    bias``, a price (the bundle's ``price_normalization`` of mean 0 and std 1 keeps it one)."""
    weights = np.array([[weight], [1.0]], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input_sequence"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "weight"], ["matmul"]),
            helper.make_node("Add", ["matmul", "bias"], ["output"]),
        ],
        "price",
        [helper.make_tensor_value_info("input_sequence", TensorProto.FLOAT, ["batch", 1, 2])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1])],
        [
            numpy_helper.from_array(weights, "weight"),
            numpy_helper.from_array(np.array([bias], dtype=np.float32), "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def signal_frame(bars: int, *, right: float = 0.8, seed: int = 11) -> pd.DataFrame:
    """Hourly bars: a ``signal`` of +-1 and a ``close`` whose next move has the signal's sign
    a share ``right`` of the time (0.5: the signal says nothing)."""
    rng = np.random.default_rng(seed)
    signal = rng.choice([-1.0, 1.0], bars)
    follows = np.where(rng.uniform(size=bars) < right, 1.0, -1.0)
    steps = 1.0 + 0.01 * signal * follows * rng.uniform(0.5, 1.5, bars)
    close = 100.0 * np.concatenate(([1.0], np.cumprod(steps[:-1])))
    return pd.DataFrame(
        {"signal": signal, "close": close},
        index=pd.date_range("2026-02-01", periods=bars, freq="h", tz="UTC"),
    )


def signal_registry(
    root: Path,
    versions: tuple[str, ...] = (RIGHT, WRONG),
    production: str | None = WRONG,
    *,
    price_units: bool = False,
) -> Path:
    """One-bar models of the ``signal`` column: scored by direction (:data:`MODELS`), or with
    ``price_units`` predicting a price from the signal and the close (:data:`PRICE_MODELS`),
    scored by live's signal rule."""
    for version in versions:
        metadata: dict[str, object] = {
            "timeframe": "1h",
            "sequence_length": 1,
            "feature_names": ["signal"],
            "created_at": "2026-01-01T00:00:00Z",
        }
        if price_units:
            model = price_model(*PRICE_MODELS[version])
            metadata["feature_names"] = ["signal", "close"]
            metadata["price_normalization"] = {"mean": 0.0, "std": 1.0}
        else:
            weight, bias = MODELS[version]
            model = affine_model(1, 1, weight=weight, bias=(bias,))
        write_bundle(root, SYMBOL, TYPE, version, model=model, metadata=metadata)
    if production is not None:
        point_latest(root, SYMBOL, TYPE, production)
    return root
