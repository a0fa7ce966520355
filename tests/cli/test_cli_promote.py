"""``atb models promote``, ``history`` and ``rollback`` through the installed executable, on
copies of the fixture registry (whose ``latest`` entries may be pointer files)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_helpers import (
    FIXTURE_REGISTRY,
    assert_fits,
    assert_one_error_line,
    copy_registry,
    run_atb,
    run_json,
)

CURRENT = "2025-10-30_12h_v1"
OLDER = "2025-10-26_21h_v1"
DAILY = "2025-10-27_14h_v1"
LEGACY = "2025-09-16_legacy"  # its metadata declares 9 features, its model takes 5


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    return copy_registry(FIXTURE_REGISTRY, tmp_path / "registry")


def latest_of(registry: Path) -> str:
    latest = registry / "BTCUSDT/basic/latest"
    return os.readlink(latest) if latest.is_symlink() else latest.read_text().strip()


def journal(registry: Path) -> list[dict[str, object]]:
    path = registry / "BTCUSDT/basic/promotions.jsonl"
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_promote_switches_latest_and_journals(registry: Path) -> None:
    completed = run_atb(
        "models", "promote", "BTCUSDT", "basic", OLDER, "--reason", "roll out",
        "--registry", registry,
    )  # fmt: skip
    assert f"{CURRENT} -> {OLDER}" in completed.stdout
    latest = registry / "BTCUSDT/basic/latest"
    assert latest.is_symlink() and os.readlink(latest) == OLDER
    [line] = journal(registry)
    assert (line["from"], line["to"], line["reason"], line["forced"]) == (
        CURRENT,
        OLDER,
        "roll out",
        False,
    )
    assert line["user"] and line["host"] and str(line["time"]).endswith("+00:00")

    listed = run_json("models", "list", "--registry", registry)
    rows = {(m["symbol"], m["timeframe"], m["model_type"]): m for m in listed["models"]}
    assert rows[("BTCUSDT", "1h", "basic")]["production"] == OLDER
    hidden = sorted(p.name for p in (registry / "BTCUSDT/basic").iterdir() if p.name[0] == ".")
    assert hidden == [".latest.lock"]


def test_promote_json_reports_the_record(registry: Path) -> None:
    document = run_json("models", "promote", "BTCUSDT", "basic", OLDER, "--registry", registry)
    assert document["changed"] is True
    assert document["record"]["from"] == CURRENT and document["record"]["to"] == OLDER
    again = run_json("models", "promote", "BTCUSDT", "basic", OLDER, "--registry", registry)
    assert again["changed"] is False
    assert len(journal(registry)) == 1


def test_promote_refuses_a_version_failing_validation(registry: Path) -> None:
    """The legacy bundle fails validation and is 1d: a dry run names both refusals."""
    completed = run_atb(
        "models", "promote", "BTCUSDT", "basic", LEGACY, "--dry-run", "--registry", registry,
        expect=1,
    )  # fmt: skip
    assert "fails validation" in completed.stdout
    assert "metadata.json declares" in completed.stdout
    assert "(1d) over production" in completed.stdout
    refused = run_atb(
        "models", "promote", "BTCUSDT", "basic", LEGACY, "--registry", registry, expect=1
    )
    assert_one_error_line(refused.stderr)
    assert "--force" in refused.stderr
    assert latest_of(registry) == CURRENT
    assert not (registry / "BTCUSDT/basic/promotions.jsonl").exists()

    run_atb("models", "promote", "BTCUSDT", "basic", LEGACY, "--force", "--registry", registry)
    assert latest_of(registry) == LEGACY
    assert journal(registry)[-1]["forced"] is True


def test_promote_refuses_a_schema_invalid_version(registry: Path) -> None:
    metadata = registry / "BTCUSDT/basic" / OLDER / "metadata.json"
    document = json.loads(metadata.read_text("utf-8"))
    document["sequence_length"] = "one hundred and twenty"
    metadata.write_text(json.dumps(document), encoding="utf-8")
    completed = run_atb(
        "models", "promote", "BTCUSDT", "basic", OLDER, "--registry", registry, expect=1
    )
    assert_one_error_line(completed.stderr)
    assert "sequence_length" in completed.stderr
    assert latest_of(registry) == CURRENT


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["BTCUSDT", "basic", "2030-01-01_1h_v1"], "no version '2030-01-01_1h_v1'"),
        (["BTCUSDT", "lstm", CURRENT], "no model type 'lstm' for BTCUSDT"),
        (["BTCUSDT", "basic", "../sentiment"], "not a valid registry folder name"),
    ],
)
def test_promote_refuses_what_does_not_exist(
    registry: Path, arguments: list[str], message: str
) -> None:
    completed = run_atb("models", "promote", *arguments, "--registry", registry, expect=1)
    assert_one_error_line(completed.stderr)
    assert message in completed.stderr
    assert latest_of(registry) == CURRENT


def test_promote_refuses_a_latest_directory(registry: Path) -> None:
    latest = registry / "BTCUSDT/basic/latest"
    latest.unlink()
    latest.mkdir()
    completed = run_atb(
        "models", "promote", "BTCUSDT", "basic", OLDER, "--force", "--registry", registry, expect=1
    )
    assert_one_error_line(completed.stderr)
    assert "real directory" in completed.stderr
    assert latest.is_dir() and not latest.is_symlink()


def test_history_and_rollback_round_trip(registry: Path) -> None:
    empty = run_json("models", "history", "BTCUSDT", "basic", "--registry", registry)
    assert empty["entries"] == [] and empty["current"] == CURRENT

    run_atb("models", "promote", "BTCUSDT", "basic", OLDER, "--registry", registry)
    run_atb("models", "promote", "BTCUSDT", "basic", DAILY, "--force", "--registry", registry)
    back = run_json(
        "models", "rollback", "BTCUSDT", "basic", "--reason", "bad fills", "--registry", registry
    )
    assert (back["record"]["from"], back["record"]["to"]) == (DAILY, OLDER)
    assert back["record"]["action"] == "rollback"
    completed = run_atb("models", "rollback", "BTCUSDT", "basic", "--registry", registry)
    assert f"Rolled back BTCUSDT/basic: {OLDER} -> {CURRENT}" in completed.stdout
    assert latest_of(registry) == CURRENT

    refused = run_atb("models", "rollback", "BTCUSDT", "basic", "--registry", registry, expect=1)
    assert_one_error_line(refused.stderr)
    assert "nothing to roll back to" in refused.stderr

    history = run_json("models", "history", "BTCUSDT", "basic", "--registry", registry)
    assert history["current"] == CURRENT
    assert [(e["action"], e["from"], e["to"]) for e in history["entries"]] == [
        ("promote", CURRENT, OLDER),
        ("promote", OLDER, DAILY),
        ("rollback", DAILY, OLDER),
        ("rollback", OLDER, CURRENT),
    ]
    assert history["entries"][2]["reason"] == "bad fills"

    table = run_atb("models", "history", "BTCUSDT", "basic", "--registry", registry).stdout
    assert_fits(table)
    assert table.count("[rollback]") == 2
    assert f"production is {CURRENT}" in table


def test_history_of_a_missing_model_type_fails(registry: Path) -> None:
    completed = run_atb("models", "history", "BTCUSDT", "lstm", "--registry", registry, expect=1)
    assert_one_error_line(completed.stderr)
