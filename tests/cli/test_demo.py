"""``atb demo`` and the registry it generates: layout, real models, and every command on it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from atb_prediction import OnnxSession
from atb_prediction.demo import DEMO_PROMOTION, DEMO_VERSIONS, demo_bars, write_demo_registry
from atb_prediction.models.validation import validate_registry
from cli_helpers import assert_fits, assert_one_error_line, run_atb, run_json

PROMOTED = DEMO_PROMOTION[2]
BEFORE = "2025-11-08_1h_v1"


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Run ``atb demo --out DIR`` once for the module: (registry, stdout)."""
    root = tmp_path_factory.mktemp("demo") / "registry"
    completed = run_atb("demo", "--out", root)
    assert completed.stderr == ""
    return root, completed.stdout


@pytest.fixture
def demo_registry(tmp_path: Path) -> Path:
    """A fresh demo registry written through the library, for commands that change it."""
    return write_demo_registry(tmp_path / "registry").root


def test_demo_prints_each_step(demo_output: tuple[Path, str]) -> None:
    root, stdout = demo_output
    for step in (
        f"1. Wrote a demo registry to {root}",
        "2. Promoted BTCUSDT/basic",
        "3. atb models list --registry",
        "4. atb models validate --registry",
        "5. Live prediction from raw bars through PredictionModelRegistry",
        "6. Backtest: every version of BTCUSDT/basic over the same bars, scored",
    ):
        assert step in stdout
    assert f"{BEFORE} -> {PROMOTED}" in stdout
    assert "8 versions checked: 8 passed, 0 failed" in stdout
    assert f"bundle      BTCUSDT:1h:basic:{PROMOTED}" in stdout
    assert "input       the last 239 of 720 synthetic hourly BTCUSDT bars" in stdout
    # The direction beside the price is explained: it follows the raw output, as upstream's.
    assert "follow the model's raw output" in " ".join(stdout.split())
    assert_fits("\n".join(line for line in stdout.splitlines() if str(root) not in line))


def test_demo_prediction_matches_onnxruntime(demo_output: tuple[Path, str]) -> None:
    """The demo's price: upstream's recipe in pandas and onnxruntime, on the demo bars."""
    import pandas as pd

    root, stdout = demo_output
    model = root / "BTCUSDT/basic" / PROMOTED / "model.onnx"
    metadata = json.loads((model.parent / "metadata.json").read_text("utf-8"))
    bars = pd.DataFrame(demo_bars()[0])
    window = metadata["price_normalization"]["window"]
    features = []
    for name in metadata["feature_names"]:
        column = bars[name.removesuffix("_normalized")]
        low = column.rolling(window, min_periods=1).min()
        high = column.rolling(window, min_periods=1).max()
        features.append(np.where(high != low, (column - low) / (high - low), 0.5))
    x = np.column_stack(features)[-metadata["sequence_length"] :].astype(np.float32)
    reference = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    [output] = reference.run(None, {"input_sequence": x[np.newaxis]})
    closes = bars["close"].tail(window)
    price = closes.min() + float(output.ravel()[0]) * (closes.max() - closes.min())
    match = re.search(r"price\s+([\d,]+\.\d\d) USDT next close", stdout)
    assert match is not None, stdout
    assert float(match.group(1).replace(",", "")) == pytest.approx(price, abs=0.006)


def test_demo_backtests_and_scores_every_version(demo_output: tuple[Path, str]) -> None:
    root, stdout = demo_output
    table = stdout[stdout.index("6. Backtest") :]
    versions = [v.version_id for v in DEMO_VERSIONS if v.symbol == "BTCUSDT" and
                v.model_type == "basic"]  # fmt: skip
    rows = [line.split() for line in table.splitlines() if line.split()[1:2] and
            line.split()[1] in versions]  # fmt: skip
    assert sorted(row[1] for row in rows) == sorted(versions)
    header = next(line for line in table.splitlines() if "SHARPE" in line)
    column = header.replace("HIT RATE", "HIT_RATE").replace("MAX DD", "MAX_DD").split()
    sharpes = [float(row[column.index("SHARPE")]) for row in rows]
    assert sharpes == sorted(sharpes, reverse=True)  # best Sharpe first
    assert f"picture: {root / 'sweep.png'}" in stdout
    assert (root / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert (root / "bars.csv").read_text("utf-8").splitlines()[0] == (
        "timestamp,open,high,low,close,volume"
    )


def test_demo_registry_layout(demo_output: tuple[Path, str]) -> None:
    root, _ = demo_output
    for version in DEMO_VERSIONS:
        directory = root / version.symbol / version.model_type / version.version_id
        metadata = json.loads((directory / "metadata.json").read_text("utf-8"))
        for field in ("symbol", "timeframe", "model_type", "version_id", "model_file"):
            assert metadata[field] == getattr(version, field, None) or field == "model_file"
        assert metadata["model_file"] == "model.onnx"
        assert metadata["sequence_length"] == version.sequence_length
        assert metadata["feature_names"] == list(version.feature_names)
        assert metadata["price_normalization"]["method"] == "rolling_minmax"
        assert metadata["created_at"].endswith("+00:00")
        schema = json.loads((directory / "feature_schema.json").read_text("utf-8"))
        assert [f["name"] for f in schema["features"]] == list(version.feature_names)
        assert (directory / "metrics.json").is_file() == version.with_metrics_file
        session = OnnxSession(directory / "model.onnx", warmup=False)
        assert session.inputs[0].shape == (
            None,
            version.sequence_length,
            len(version.feature_names),
        )
    assert os.readlink(root / "BTCUSDT/basic/latest") == PROMOTED
    assert os.readlink(root / "BTCUSDT/sentiment/latest") == "2025-11-10_1h_v1"
    assert not os.path.lexists(root / "ETHUSDT/sentiment/latest")  # production by fallback
    [line] = (root / "BTCUSDT/basic/promotions.jsonl").read_text("utf-8").splitlines()
    record = json.loads(line)
    assert (record["from"], record["to"], record["forced"]) == (BEFORE, PROMOTED, False)
    assert all(report.ok for report in validate_registry(root))


def test_demo_models_are_deterministic(tmp_path: Path) -> None:
    first = write_demo_registry(tmp_path / "a").root
    second = write_demo_registry(tmp_path / "b").root
    for version in DEMO_VERSIONS:
        relative = Path(version.symbol, version.model_type, version.version_id, "model.onnx")
        assert (first / relative).read_bytes() == (second / relative).read_bytes()


def test_demo_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    completed = run_atb("demo", "--out", tmp_path, expect=1)
    assert_one_error_line(completed.stderr)
    assert "not empty" in completed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_demo_defaults_to_atb_demo_in_the_current_folder(tmp_path: Path) -> None:
    """The README's examples name ``atb-demo`` and ``atb-demo/bars.csv``; a second run refuses
    to write over the first."""
    completed = run_atb("demo", cwd=tmp_path)
    created = tmp_path / "atb-demo"
    assert str(created) in completed.stdout
    assert (created / "BTCUSDT/basic/latest").is_symlink()
    first_bar = (created / "bars.csv").read_text("utf-8").splitlines()[1]
    assert first_bar.startswith("2025-10-28T00:00:00Z,")
    again = run_atb("demo", cwd=tmp_path, expect=1)
    assert_one_error_line(again.stderr)
    assert "atb-demo is not empty; give a new or empty folder (remove it, or pass --out DIR)" in (
        again.stderr
    )


def test_list_all_on_the_demo_registry(demo_registry: Path) -> None:
    document = run_json("models", "list", "--all", "--registry", demo_registry)
    assert len(document["versions"]) == len(DEMO_VERSIONS)
    assert all(entry["valid"] for entry in document["versions"])
    production = {e["key"] for e in document["versions"] if e["production"]}
    assert production == {
        f"BTCUSDT:1h:basic:{PROMOTED}",
        "BTCUSDT:1h:sentiment:2025-11-10_1h_v1",
        "ETHUSDT:1h:basic:2025-11-05_1h_v1",
        "ETHUSDT:1h:sentiment:2025-11-12_1h_v1",
    }
    sources = {(m["symbol"], m["model_type"]): m["production_source"] for m in document["models"]}
    assert sources[("ETHUSDT", "sentiment")] == "fallback"
    assert sources[("BTCUSDT", "basic")] == "latest"
    assert_fits(run_atb("models", "list", "--all", "--registry", demo_registry).stdout)


def test_compare_versions_on_nested_metrics(demo_registry: Path) -> None:
    document = run_json(
        "models", "compare", "BTCUSDT", "1h", "basic", "--versions", "--registry", demo_registry
    )
    rows = {row["name"]: row for row in document["metrics"]}
    assert rows["test.rmse"]["better"] == "lower"
    assert rows["test.rmse"]["best"] == [PROMOTED]
    assert rows["test.directional_accuracy"]["better"] == "higher"
    assert rows["test.directional_accuracy"]["best"] == [PROMOTED]
    assert rows["dataset"]["best"] == []  # labels are shown, never ranked
    assert {v["source"] for v in document["versions"]} == {"metrics.json"}

    single = run_json("models", "compare", "BTCUSDT", "1h", "basic", "--registry", demo_registry)
    assert single["source"] == "metrics.json"
    assert single["metrics"]["test"]["rmse"] == 0.0618
    fallback = run_json(
        "models", "compare", "ETHUSDT", "1h", "sentiment", "--registry", demo_registry
    )
    assert fallback["source"] == "metadata.json#/evaluation_results"

    table = run_atb(
        "models", "compare", "BTCUSDT:1h:basic", "--versions", "--sort", "test.rmse",
        "--registry", demo_registry,
    ).stdout  # fmt: skip
    assert_fits(table)
    header, _, first = table.splitlines()[1:4]
    assert header.split()[:2] == ["VERSION", "test.rmse"]
    assert re.search(r" 0\.0618 \*", first)


def test_history_rollback_and_inspect_on_the_demo_registry(demo_registry: Path) -> None:
    history = run_json("models", "history", "BTCUSDT", "basic", "--registry", demo_registry)
    assert [(e["from"], e["to"]) for e in history["entries"]] == [(BEFORE, PROMOTED)]
    run_atb("models", "rollback", "BTCUSDT", "basic", "--registry", demo_registry)
    assert os.readlink(demo_registry / "BTCUSDT/basic/latest") == BEFORE

    inspected = run_json("models", "inspect", "BTCUSDT:1h:basic", "--registry", demo_registry)
    assert inspected["version"] == BEFORE
    assert inspected["onnx_metadata"] == {"symbol": "BTCUSDT", "version_id": BEFORE}
    assert inspected["outputs"][0]["name"] == "predicted_close"
    assert_fits(
        run_atb("models", "inspect", "ETHUSDT:1h:basic", "--registry", demo_registry).stdout
    )
