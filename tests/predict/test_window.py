"""The window a bundle predicts from (``core::predict::window``): one rule for the sequence length
a bundle declares, which validation and prediction both follow, and the first bar with a full
window, which sweep planning and the sweep engine both take from the core."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from atb_prediction import PredictionError, scan_registry, sweep
from atb_prediction.models.validation import validate_version
from conftest import _model, standard_metadata, write_bundle
from onnx import TensorProto, helper, numpy_helper
from sweep_helpers import open_registry

VERSION = "2026-01-01_1h_v1"
FEATURES = 3
#: The one length the model below can run: it flattens each window into 12 values.
RUNNABLE = 4


def four_bar_model() -> bytes:
    """``[batch, seq, 3] -> [batch, 1]`` with the sequence axis left dynamic, though only a
    window of 4 bars runs (a reshape to ``[-1, 12]``): which length a caller takes shows."""
    weight = np.linspace(-1.0, 1.0, RUNNABLE * FEATURES, dtype=np.float32).reshape(-1, 1)
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["input_sequence", "flat_shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "weight"], ["output"]),
        ],
        "four_bars",
        [helper.make_tensor_value_info("input_sequence", TensorProto.FLOAT, ["b", "s", 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["b", 1])],
        [
            numpy_helper.from_array(np.array([-1, RUNNABLE * FEATURES], np.int64), "flat_shape"),
            numpy_helper.from_array(weight, "weight"),
        ],
    )
    return _model(graph)


def disagreeing_bundle(root: Path, model_type: str, *, metadata_seq: int, schema_seq: int) -> None:
    """A bundle whose ``metadata.json`` and ``feature_schema.json`` declare different lengths."""
    metadata = standard_metadata("BTCUSDT", model_type, VERSION, seq=metadata_seq, features=3)
    schema = {
        "sequence_length": schema_seq,
        "features": [{"name": f"feature_{i}", "required": True} for i in range(FEATURES)],
    }
    write_bundle(
        root, "BTCUSDT", model_type, VERSION,
        model=four_bar_model(), metadata=metadata, feature_schema=schema,
    )  # fmt: skip


def test_the_feature_schemas_length_wins_for_validation_and_prediction_alike(
    tmp_path: Path,
) -> None:
    """Upstream's engine windows a bundle with a feature schema by the schema's length; so do
    validation's zero inputs, the bundle's window, sweeps and the sweep's first full window."""
    root = tmp_path / "registry"
    disagreeing_bundle(root, "schema_runs", metadata_seq=6, schema_seq=RUNNABLE)
    disagreeing_bundle(root, "schema_fails", metadata_seq=RUNNABLE, schema_seq=6)
    records = {record.model_type: record for record in scan_registry(root).versions}
    assert records["schema_runs"].sequence_length == RUNNABLE
    assert records["schema_fails"].sequence_length == 6

    # Validated: the zero input has the schema's length.
    assert validate_version(records["schema_runs"]).problems == []
    failing = validate_version(records["schema_fails"])
    assert not failing.ok
    assert any("inference on an all-zero input failed" in p for p in failing.problems)

    # Predicted: the same length, so the same verdicts.
    registry = open_registry(root)
    bundle = registry.get_bundle_by_key(f"BTCUSDT:1h:schema_runs:{VERSION}")
    assert bundle is not None
    assert bundle.runner.bundle.window == (RUNNABLE, FEATURES)
    series = np.random.default_rng(5).standard_normal((10, FEATURES)).astype(np.float32)
    result = sweep(registry, series, symbol="BTCUSDT", model_type="schema_runs", progress=False)
    assert np.isnan(result.price[0, : RUNNABLE - 1]).all()
    for t in range(RUNNABLE - 1, len(series)):
        expected = bundle.runner.predict(series[t - RUNNABLE + 1 : t + 1]).price
        np.testing.assert_allclose(result.price[0, t], expected, rtol=1e-5)
    with pytest.raises(PredictionError):
        sweep(registry, series, symbol="BTCUSDT", model_type="schema_fails", progress=False)


def test_sweep_ranges_are_clipped_where_the_core_says_the_first_window_is_full(
    tmp_path: Path,
) -> None:
    root = tmp_path / "registry"
    disagreeing_bundle(root, "schema_runs", metadata_seq=RUNNABLE, schema_seq=RUNNABLE)
    bundle = open_registry(root).get_bundle_by_key(f"BTCUSDT:1h:schema_runs:{VERSION}")
    assert bundle is not None
    loaded = bundle.runner.bundle
    assert loaded.full_windows([(0, 2), (2, 10), (12, 12)]) == [(RUNNABLE - 1, 10)]
