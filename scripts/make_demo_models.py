"""Write the demo's ONNX models, shipped as package data in ``atb_prediction/demo_models/``.

``atb demo`` copies these files into the registry it writes, so neither the ``onnx`` package nor
a download is needed at run time; this script (which needs ``onnx``, a development dependency)
is how they are made, and ``tests/cli/test_demo_models.py`` checks that the shipped files are
exactly what it makes. Run it after changing :data:`atb_prediction.demo.DEMO_VERSIONS`::

    python scripts/make_demo_models.py

The models are linear: ``[batch, seq, features]`` float32 -> flatten -> ``@ W + b`` ->
``[batch, 1]``, with ``W`` then ``b`` drawn from ``numpy.random.RandomState(seed).normal`` and
scaled by 0.01: untrained, but real graphs that ONNX Runtime runs. Benchmarks use
:func:`linear_sequence_model` for their small models too.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # what opset 17 shipped with: any current onnxruntime loads it
WEIGHT_SCALE = 0.01
DEMO_MODELS = Path(__file__).resolve().parents[1] / "python" / "atb_prediction" / "demo_models"


def linear_sequence_model(
    seq_len: int,
    n_features: int,
    *,
    seed: int = 0,
    input_name: str = "input_sequence",
    output_name: str = "output",
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """A linear model over a ``[batch, seq_len, n_features]`` window, serialized; the same
    arguments always give the same bytes."""
    rng = np.random.RandomState(seed)
    weight = (rng.normal(size=(seq_len * n_features, 1)) * WEIGHT_SCALE).astype(np.float32)
    bias = (rng.normal(size=(1,)) * WEIGHT_SCALE).astype(np.float32)
    window: list[str | int] = ["batch", seq_len, n_features]
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", [input_name], ["flat"], name="flatten", axis=1),
            helper.make_node("MatMul", ["flat", "weight"], ["matmul"], name="matmul"),
            helper.make_node("Add", ["matmul", "bias"], [output_name], name="add_bias"),
        ],
        "atb_linear_sequence",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, window)],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(weight, "weight"), numpy_helper.from_array(bias, "bias")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="atb-prediction"
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(model, dict(metadata or {}))
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def demo_models() -> dict[str, bytes]:
    """File name -> model bytes of every demo version."""
    from atb_prediction.demo import DEMO_VERSIONS, demo_model_name

    return {
        demo_model_name(version): linear_sequence_model(
            version.sequence_length,
            len(version.feature_names),
            seed=version.seed,
            output_name="predicted_close",
            metadata={"symbol": version.symbol, "version_id": version.version_id},
        )
        for version in DEMO_VERSIONS
    }


def main() -> int:
    """Write every demo model into the package's ``demo_models/`` and drop stale ones."""
    DEMO_MODELS.mkdir(exist_ok=True)
    models = demo_models()
    for stale in DEMO_MODELS.glob("*.onnx"):
        if stale.name not in models:
            stale.unlink()
    for name, data in models.items():
        (DEMO_MODELS / name).write_bytes(data)
        print(f"{DEMO_MODELS / name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
