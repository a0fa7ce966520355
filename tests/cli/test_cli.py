"""The ``atb`` executable's read commands on the real fixture registry (copied to a temporary
folder): list, compare, validate, inspect, plus help, exit codes and registry discovery."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from atb_prediction.cli import main
from cli_helpers import (
    FIXTURE_REGISTRY,
    assert_fits,
    assert_one_error_line,
    atb_command,
    clean_env,
    copy_registry,
    run_atb,
    run_json,
)
from conftest import FIXTURE_KEYS

LEGACY = "BTCUSDT:1d:basic:2025-09-16_legacy"
PRODUCTION = {
    ("BTCUSDT", "basic"): "2025-10-30_12h_v1",
    ("BTCUSDT", "sentiment"): "2025-12-23_20h_v2",
    ("ETHUSDT", "basic"): "2026-07-04_22h_v1",
    ("ETHUSDT", "sentiment"): "2025-12-23_21h_v2",
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy for the read-only commands of this module."""
    return copy_registry(FIXTURE_REGISTRY, tmp_path_factory.mktemp("cli") / "registry")


def fixture_versions() -> list[tuple[str, str, str, dict[str, object]]]:
    """(symbol, model_type, version, metadata) of every fixture version, read independently.

    ``latest`` is a symlink to a version folder: globbing through it would count that version
    twice, so only real folders count.
    """
    found = []
    for metadata_path in sorted(FIXTURE_REGISTRY.glob("*/*/*/metadata.json")):
        version_dir = metadata_path.parent
        if version_dir.is_symlink():
            continue
        found.append(
            (
                version_dir.parent.parent.name,
                version_dir.parent.name,
                version_dir.name,
                json.loads(metadata_path.read_text("utf-8")),
            )
        )
    return found


# --- help and usage -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["models"],
        ["models", "list"],
        ["models", "compare"],
        ["models", "validate"],
        ["models", "promote"],
        ["models", "history"],
        ["models", "rollback"],
        ["models", "inspect"],
        ["demo"],
    ],
)
def test_help_documents_the_exit_codes(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "exit status:" in text
    assert "0  success" in text and "2  usage error" in text
    assert_fits(text)
    if command[:1] == ["models"] and len(command) == 2:
        assert "--registry PATH" in text
        assert "MODEL_REGISTRY_PATH" in text


def test_the_installed_executable_runs() -> None:
    completed = run_atb("--version")
    assert completed.stdout.startswith("atb-prediction ")
    if Path(atb_command()[0]).name == "atb":
        assert Path(atb_command()[0]).parent == Path(sys.executable).parent


def test_python_dash_m_runs_the_same_command_line(registry: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "atb_prediction",
            "models",
            "list",
            "--registry",
            registry,
            "--json",
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=True,
    )
    assert json.loads(completed.stdout)["registry"] == str(registry)


@pytest.mark.parametrize(
    "arguments",
    [
        ["models"],
        ["models", "frobnicate"],
        ["models", "promote", "BTCUSDT"],
        ["models", "list", "--bogus"],
        ["models", "validate", "a:b:c:d:e"],
        ["models", "inspect", "A:B:C:D:E"],
    ],
)
def test_usage_errors_exit_2_with_one_line(registry: Path, arguments: list[str]) -> None:
    completed = run_atb(*arguments, "--registry", registry, expect=2)
    assert completed.stdout == ""
    assert_one_error_line(completed.stderr)


def test_a_missing_registry_is_one_error_line(tmp_path: Path) -> None:
    completed = run_atb("models", "list", "--registry", tmp_path / "absent", expect=1)
    assert completed.stdout == ""
    assert_one_error_line(completed.stderr)
    assert "registry not found" in completed.stderr
    assert "MODEL_REGISTRY_PATH" in completed.stderr


def test_registry_comes_from_the_environment_then_the_default(
    registry: Path, tmp_path: Path
) -> None:
    env = clean_env(MODEL_REGISTRY_PATH=str(registry))
    completed = subprocess.run(
        [*atb_command(), "models", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert json.loads(completed.stdout)["registry"] == str(registry)

    # Upstream's default, relative to the working directory.
    (tmp_path / "src/ml").mkdir(parents=True)
    (tmp_path / "src/ml/models").symlink_to(registry)
    completed = run_atb("models", "list", "--json", cwd=tmp_path)
    assert len(json.loads(completed.stdout)["models"]) == 7


# --- list ---------------------------------------------------------------------------------------


def test_list_shows_one_row_per_symbol_timeframe_and_type(registry: Path) -> None:
    completed = run_atb("models", "list", "--registry", registry)
    assert_fits(completed.stdout)
    assert completed.stderr == ""
    rows = [line.split() for line in completed.stdout.splitlines()[3:] if line.strip()]
    assert ["BTCUSDT", "1h", "basic", "2025-10-30_12h_v1", "3"] in rows
    assert ["BTCUSDT", "1d", "basic", "-", "2"] in rows
    assert ["ETHUSDT", "1h", "sentiment", "2025-12-23_21h_v2", "1"] in rows


def test_list_json_agrees_with_the_fixture_files(registry: Path) -> None:
    document = run_json("models", "list", "--registry", registry)
    assert document["registry"] == str(registry)
    assert "versions" not in document
    expected: dict[tuple[str, str, str], int] = {}
    for symbol, model_type, _, metadata in fixture_versions():
        group = (symbol, str(metadata["timeframe"]), model_type)
        expected[group] = expected.get(group, 0) + 1
    got = {
        (m["symbol"], m["timeframe"], m["model_type"]): m["version_count"]
        for m in document["models"]
    }
    assert got == expected
    for model in document["models"]:
        production = PRODUCTION[(model["symbol"], model["model_type"])]
        production_timeframe = json.loads(
            (
                FIXTURE_REGISTRY
                / model["symbol"]
                / model["model_type"]
                / production
                / "metadata.json"
            ).read_text("utf-8")
        )["timeframe"]
        if model["timeframe"] == production_timeframe:
            assert model["production"] == production
            assert model["production_source"] == "latest"
        else:
            assert model["production"] is None
    assert document["unavailable"] == []
    assert document["invalid"] == []


def test_list_all_checks_every_version(registry: Path) -> None:
    document = run_json("models", "list", "--all", "--registry", registry)
    versions = {entry["key"]: entry for entry in document["versions"]}
    assert len(versions) == len(fixture_versions()) == len(FIXTURE_KEYS)
    for symbol, model_type, version, metadata in fixture_versions():
        entry = versions[f"{symbol}:{metadata['timeframe']}:{model_type}:{version}"]
        directory = FIXTURE_REGISTRY / symbol / model_type / version
        assert entry["feature_schema"] == (directory / "feature_schema.json").is_file()
        assert entry["metrics"] == (directory / "metrics.json").is_file()
        assert entry["production"] == (PRODUCTION[(symbol, model_type)] == version)
        assert entry["created_at"] == metadata.get("created_at", metadata.get("training_date"))
        assert entry["stage"] == metadata.get("stage")
    assert [k for k, e in versions.items() if not e["valid"]] == [LEGACY]
    assert "metadata.json declares" in versions[LEGACY]["problems"][0]

    completed = run_atb("models", "list", "--all", "--registry", registry)
    assert_fits(completed.stdout)
    assert "2025-10-30_12h_v1 *" in completed.stdout
    assert f"{LEGACY}: model input" in completed.stdout


# --- compare ------------------------------------------------------------------------------------


def test_compare_prints_the_production_metrics(registry: Path) -> None:
    document = run_json("models", "compare", "BTCUSDT", "1h", "basic", "--registry", registry)
    metadata = json.loads(
        (FIXTURE_REGISTRY / "BTCUSDT/basic/2025-10-30_12h_v1/metadata.json").read_text("utf-8")
    )
    assert document["version"] == "2025-10-30_12h_v1"
    assert document["source"] == "metadata.json#/evaluation_results"
    assert document["metrics"] == metadata["evaluation_results"]

    completed = run_atb("models", "compare", "BTCUSDT", "1h", "basic", "--registry", registry)
    assert_fits(completed.stdout)
    assert "test_rmse" in completed.stdout and "0.0665467" in completed.stdout


def test_compare_versions_marks_the_best_value(registry: Path) -> None:
    document = run_json(
        "models", "compare", "BTCUSDT", "1h", "basic", "--versions", "--registry", registry
    )
    assert document["production"] == "2025-10-30_12h_v1"
    assert len(document["versions"]) == 3
    rows = {row["name"]: row for row in document["metrics"]}
    rmse = rows["test_rmse"]
    assert rmse["better"] == "lower"
    numbers = {v: x for v, x in rmse["values"].items() if x is not None}
    assert rmse["best"] == [min(numbers, key=numbers.__getitem__)]
    assert rmse["values"]["2025-09-17_1h_v1"] is None  # no metrics in that bundle

    completed = run_atb(
        "models", "compare", "BTCUSDT", "1h", "basic", "--versions", "--registry", registry
    )
    assert_fits(completed.stdout)
    assert " *" in completed.stdout
    for version in numbers:
        assert version in completed.stdout  # every version, over several blocks


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["BTCUSDT", "1d", "basic"], "no production bundle for BTCUSDT 1d basic"),
        (["DOGEUSDT", "1h", "basic"], "no symbol 'DOGEUSDT'"),
    ],
)
def test_compare_without_a_production_model_fails(
    registry: Path, arguments: list[str], message: str
) -> None:
    completed = run_atb("models", "compare", *arguments, "--registry", registry, expect=1)
    assert_one_error_line(completed.stderr)
    assert message in completed.stderr
    assert completed.stdout == ""


# --- validate -----------------------------------------------------------------------------------


def test_validate_reports_the_legacy_shape_mismatch_and_exits_1(registry: Path) -> None:
    document = run_json("models", "validate", "--registry", registry, expect=1)
    assert document["ok"] is False
    assert (document["checked"], document["passed"], document["failed"]) == (11, 10, 1)
    [failure] = [r for r in document["results"] if not r["ok"]]
    assert failure["key"] == LEGACY
    assert "(None, 120, 5)" in failure["problems"][0]
    assert all(r["timings"]["open"] >= 0 for r in document["results"])

    completed = run_atb("models", "validate", "--registry", registry, expect=1)
    assert_fits(completed.stdout)
    assert completed.stderr == ""  # no progress bar off a terminal
    assert "11 versions checked: 10 passed, 1 failed" in completed.stdout
    failing_rows = [line for line in completed.stdout.splitlines() if "FAIL" in line]
    assert len(failing_rows) == 1 and LEGACY in failing_rows[0]


@pytest.mark.parametrize(
    ("keys", "count"),
    [
        (["BTCUSDT:1h"], 5),
        (["BTCUSDT/basic/2025-10-30_12h_v1"], 1),
        (["*:1h:basic"], 4),
        (["ETHUSDT:1h:basic:2026-07-04_22h_v1", "ETHUSDT/sentiment"], 3),
    ],
)
def test_validate_selected_keys(registry: Path, keys: list[str], count: int) -> None:
    document = run_json("models", "validate", *keys, "--registry", registry)
    assert document["checked"] == count
    assert document["ok"] is True


def test_validate_a_key_matching_nothing_fails(registry: Path) -> None:
    completed = run_atb("models", "validate", "DOGEUSDT", "--registry", registry, expect=1)
    assert_one_error_line(completed.stderr)
    assert "'DOGEUSDT'" in completed.stderr


def test_validate_draws_a_progress_bar_only_on_a_terminal(registry: Path) -> None:
    pty = pytest.importorskip("pty")  # POSIX only
    controller, terminal = pty.openpty()
    try:
        completed = subprocess.run(
            [*atb_command(), "models", "validate", "BTCUSDT:1h:basic", "--registry", registry],
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            env=clean_env(),
            timeout=120,
            check=False,
        )
        os.close(terminal)
        terminal = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the terminal side is closed
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        if terminal >= 0:
            os.close(terminal)
        os.close(controller)
    assert completed.returncode == 0
    assert b"validating [" in drawn and b"3/3" in drawn
    assert "validating [" not in completed.stdout
    assert "\033[" not in completed.stdout  # stdout is a pipe: no colour


def test_colour_is_forced_by_force_color_and_off_otherwise(registry: Path) -> None:
    plain = run_atb("models", "list", "--registry", registry)
    coloured = run_atb("models", "list", "--registry", registry, env=clean_env(FORCE_COLOR="1"))
    assert "\033[" not in plain.stdout
    assert "\033[" in coloured.stdout


# --- inspect ------------------------------------------------------------------------------------


def test_inspect_json_describes_the_version(tmp_path: Path) -> None:
    registry = copy_registry(FIXTURE_REGISTRY, tmp_path / "registry")
    # The upstream bundle also holds a TensorFlow saved_model/ folder (not kept in tests/data):
    # its size is the sum of its files'.
    saved = registry / "BTCUSDT/basic/2025-10-30_12h_v1/saved_model"
    (saved / "variables").mkdir(parents=True)
    (saved / "saved_model.pb").write_bytes(b"x" * 100)
    (saved / "variables" / "variables.index").write_bytes(b"y" * 23)
    key = "BTCUSDT:1h:basic:2025-10-30_12h_v1"
    document = run_json("models", "inspect", key, "--registry", registry)
    model = registry / "BTCUSDT/basic/2025-10-30_12h_v1/model.onnx"
    assert document["key"] == key
    assert document["production"] is True
    assert document["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert document["inputs"] == [
        {"name": "input_layer", "dtype": "float32", "shape": [None, 120, 5]}
    ]
    assert document["outputs"][0]["shape"] == [None, 1]
    sizes = {f["name"]: f["size"] for f in document["files"]}
    assert sizes["model.onnx"] == model.stat().st_size
    assert sizes["saved_model/"] == 123
    assert document["metadata"]["model_id"] == "btcusdt_price_v3"
    assert document["feature_schema"]["sequence_length"] == 120
    assert document["problems"] == [] and document["valid"] is True


def test_inspect_of_a_fifo_model_names_the_problem_without_blocking(tmp_path: Path) -> None:
    """A model.onnx that is a pipe is never read (no writer: reading would block forever): the
    command fails at once, naming it, with one JSON document."""
    registry = copy_registry(FIXTURE_REGISTRY, tmp_path / "registry")
    model = registry / "BTCUSDT/basic/2025-10-26_21h_v1/model.onnx"
    model.unlink()
    os.mkfifo(model)
    document = run_json(
        "models", "inspect", "BTCUSDT:1h:basic:2025-10-26_21h_v1", "--registry", registry,
        expect=1,
    )  # fmt: skip
    assert (
        "model.onnx: the file is not a regular file (it is a FIFO)"
        in (document["error"]["message"])
    )


def test_inspect_prints_sections_that_fit(registry: Path) -> None:
    completed = run_atb("models", "inspect", LEGACY, "--registry", registry)
    assert_fits(completed.stdout)
    for heading in ("Inputs", "Outputs", "Files", "Metadata (metadata.json)", "Problems"):
        assert heading in completed.stdout.splitlines()
    assert "keras_tensor" in completed.stdout
    assert "metadata.json declares" in completed.stdout


@pytest.mark.parametrize(
    ("key", "version"),
    [
        ("BTCUSDT:1h:sentiment", "2025-12-23_20h_v2"),
        ("ETHUSDT/basic", "2026-07-04_22h_v1"),
        ("BTCUSDT/basic/2025-10-26_21h_v1", "2025-10-26_21h_v1"),
    ],
)
def test_inspect_resolves_short_keys(registry: Path, key: str, version: str) -> None:
    assert run_json("models", "inspect", key, "--registry", registry)["version"] == version


@pytest.mark.parametrize(
    ("key", "message"), [("BTCUSDT", "matches 2 versions"), ("X:1h", "no version")]
)
def test_inspect_refuses_ambiguous_or_unknown_keys(registry: Path, key: str, message: str) -> None:
    completed = run_atb("models", "inspect", key, "--registry", registry, expect=1)
    assert_one_error_line(completed.stderr)
    assert message in completed.stderr
