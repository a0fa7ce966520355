"""``atb models promote``, ``history`` and ``rollback`` through the installed executable, on
copies of the fixture registry (whose ``latest`` entries may be pointer files)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from atb_prediction import promotion
from atb_prediction.cli import main
from cli_helpers import (
    FIXTURE_REGISTRY,
    assert_fits,
    assert_one_error_line,
    copy_registry,
    run_atb,
    run_json,
)
from gate_helpers import RIGHT, SYMBOL, TYPE, WRONG, bars_file, signal_frame, signal_registry

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


def _gated(tmp_path: Path, candidate: str, production: str | None, *extra: str) -> Path:
    """A registry of the gate's signal versions, ``candidate`` promoted over ``production``
    through ``--gate`` (in-process, text output)."""
    root = signal_registry(tmp_path / "registry", production=production)
    bars = bars_file(tmp_path / "bars.csv", signal_frame(500))
    main(["models", "promote", f"{SYMBOL}:1h:{TYPE}:{candidate}", "--gate", str(bars),
          "--registry", str(root), *extra])  # fmt: skip
    return root


def _roles(out: str) -> list[str]:
    """The ROLE of each row of the gate's score table."""
    roles = ("candidate", "production", "benchmark")
    return [
        line.split()[0] for line in out.splitlines() if line.split()[:1] in [[r] for r in roles]
    ]


def test_a_gate_in_text_gives_the_verdict_each_comparison_and_each_row_s_role(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _gated(tmp_path, RIGHT, WRONG)
    out = capsys.readouterr().out
    assert (root / SYMBOL / TYPE / "latest").readlink() == Path(RIGHT)
    assert "the candidate passes on sharpe" in out
    assert f"  against production {WRONG}, over the " in out
    assert "  against buy-and-hold, over the " in out
    assert "Scores over every bar (a version without a window yet holds no position):" in out
    assert _roles(out) == ["candidate", "production", "benchmark"]

    _gated(tmp_path / "refused", WRONG, RIGHT)
    out = capsys.readouterr().out
    assert "the candidate is refused on sharpe" in out and "passes" not in out
    assert _roles(out) == ["candidate", "production", "benchmark"]


def test_a_first_gate_has_no_production_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _gated(tmp_path, RIGHT, None)
    out = capsys.readouterr().out
    assert "the candidate passes on sharpe" in out
    assert "against production" not in out
    assert _roles(out) == ["candidate", "benchmark"]


def _reason_column(table: str) -> tuple[list[str], str]:
    """The TIME cells of a history table, and its REASON column's text as one line (the cells
    wrap over several lines at 80 columns)."""
    lines = table.splitlines()
    (header,) = [n for n, line in enumerate(lines) if "REASON" in line]
    start = lines[header].index("REASON")
    rows = [line for line in lines[header + 1 :] if line.strip() and not set(line) <= {"-", " "}]
    times = [" ".join(line.split()[:2]) for line in rows if line[:4].isdigit()]
    return times, " ".join(" ".join(line[start:].split()) for line in rows)


@pytest.mark.parametrize("production", [WRONG, None])
def test_history_shows_a_gated_promotion_s_evidence_in_one_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], production: str | None
) -> None:
    root = _gated(tmp_path, RIGHT, production)
    capsys.readouterr()
    assert main(["models", "history", SYMBOL, TYPE, "--registry", str(root)]) == 0
    times, reasons = _reason_column(capsys.readouterr().out)
    (record,) = promotion.history(str(root), SYMBOL, TYPE)
    assert times == [record.time[:19].replace("T", " ")]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", times[0])
    gate = record.gate
    assert gate is not None and gate["passed"] is True
    candidate = f"{gate['candidate']['sharpe']:.4g}"
    p_values = f"buy-and-hold p {gate['benchmark']['p_value']:.3g}"
    if production is None:
        expected = f"gate: sharpe {candidate} vs - (passed); {p_values}"
    else:
        against = f"{gate['production']['sharpe']:.4g}"
        p_values = f"production p {gate['p_value']:.3g}, {p_values}"
        expected = f"gate: sharpe {candidate} vs {against} (passed); {p_values}"
    assert reasons == expected


def _dry_run_json(
    capsys: pytest.CaptureFixture[str], root: Path, version: str, *extra: str
) -> tuple[int, dict[str, Any]]:
    code = main(["models", "promote", f"{SYMBOL}:1h:{TYPE}:{version}", "--dry-run", "--json",
                 "--registry", str(root), *extra])  # fmt: skip
    return code, json.loads(capsys.readouterr().out)


def test_a_dry_run_of_a_passing_gate_refuses_nothing_and_names_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = signal_registry(tmp_path / "registry", production=WRONG)
    bars = bars_file(tmp_path / "bars.csv", signal_frame(500))
    code, document = _dry_run_json(capsys, root, RIGHT, "--gate", str(bars))
    assert code == 0
    assert document["gate"]["passed"] is True
    assert (document["refused"], document["refusals"]) == (False, [])
    assert document["registry"] == os.path.abspath(root)
    assert (document["symbol"], document["model_type"]) == (SYMBOL, TYPE)
    assert (document["from_version"], document["to_version"]) == (WRONG, RIGHT)
    assert (document["dry_run"], document["changed"]) == (True, True)
    assert (root / SYMBOL / TYPE / "latest").readlink() == Path(WRONG)


def test_a_forced_dry_run_still_runs_the_gate_but_refuses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = signal_registry(tmp_path / "registry", production=RIGHT)
    bars = bars_file(tmp_path / "bars.csv", signal_frame(500))
    code, document = _dry_run_json(capsys, root, WRONG, "--gate", str(bars), "--force")
    assert code == 0
    assert document["gate"] is not None and document["gate"]["passed"] is False
    assert (document["refused"], document["refusals"]) == (False, [])


def test_a_forced_dry_run_skips_validation(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["models", "promote", "BTCUSDT", "basic", LEGACY, "--dry-run", "--json",
                 "--registry", str(registry)])  # fmt: skip
    refused = json.loads(capsys.readouterr().out)
    assert code == 1 and any(r.startswith("fails validation: ") for r in refused["refusals"])
    code = main(["models", "promote", "BTCUSDT", "basic", LEGACY, "--dry-run", "--json",
                 "--force", "--registry", str(registry)])  # fmt: skip
    forced = json.loads(capsys.readouterr().out)
    assert code == 0 and (forced["refused"], forced["refusals"]) == (False, [])
    assert latest_of(registry) == CURRENT


def test_history_names_the_model_and_its_production(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = signal_registry(tmp_path / "registry", production=None)
    arguments = ["models", "history", SYMBOL, TYPE, "--registry", str(root)]
    assert main(arguments) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{SYMBOL}/{TYPE}: production is (no latest)",
        f"No promotions recorded in {SYMBOL}/{TYPE}/promotions.jsonl.",
    ]
    assert main(["models", "promote", f"{SYMBOL}:1h:{TYPE}:{RIGHT}", "--registry", str(root)]) == 0
    capsys.readouterr()
    assert main(arguments) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"{SYMBOL}/{TYPE}: production is {RIGHT}"
    assert main([*arguments, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["registry"] == os.path.abspath(root)
    assert (document["symbol"], document["model_type"], document["current"]) == (
        SYMBOL, TYPE, RIGHT,
    )  # fmt: skip
    assert [entry["to"] for entry in document["entries"]] == [RIGHT]
