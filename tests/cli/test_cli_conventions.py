"""The command line as a new user guesses it: the promotion guard, one way to name a model,
"did you mean", global options anywhere, one table per compare, IDs never cut, one error for an
unusable ONNX Runtime, each log line once, a quiet closed pipe, shell completion, versioned JSON,
and no numpy where no arrays are handled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from atb_prediction.cli.tables import Column, render_table
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

CURRENT = "2025-10-30_12h_v1"  # BTCUSDT basic production, 1h
OLDER = "2025-10-26_21h_v1"  # 1h
DAILY = "2025-10-27_14h_v1"  # 1d


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    return copy_registry(FIXTURE_REGISTRY, tmp_path / "registry")


def latest_of(registry: Path) -> str:
    return os.readlink(registry / "BTCUSDT/basic/latest")


# --- the promotion guard -------------------------------------------------------------------------


def test_promote_refuses_a_timeframe_change_naming_both_and_what_stops_resolving(
    registry: Path,
) -> None:
    completed = run_atb(
        "models", "promote", "BTCUSDT", "basic", DAILY, "--registry", registry, expect=1
    )
    assert_one_error_line(completed.stderr)
    for part in (DAILY, "(1d)", CURRENT, "(1h)", "timeframe='1h'", "BTCUSDT:1h:basic", "--force"):
        assert part in completed.stderr, part
    assert latest_of(registry) == CURRENT
    assert not (registry / "BTCUSDT/basic/promotions.jsonl").exists()

    forced = run_json(
        "models", "promote", f"BTCUSDT:1d:basic:{DAILY}", "--force", "--registry", registry
    )
    assert forced["record"]["forced"] is True and latest_of(registry) == DAILY


def test_promote_within_the_timeframe_is_not_refused(registry: Path) -> None:
    run_atb("models", "promote", f"BTCUSDT:1h:basic:{OLDER}", "--registry", registry)
    assert latest_of(registry) == OLDER


def test_promote_dry_run_changes_nothing(registry: Path) -> None:
    ok = run_json(
        "models", "promote", "BTCUSDT", "basic", OLDER, "--dry-run", "--registry", registry
    )
    assert (ok["dry_run"], ok["from_version"], ok["to_version"]) == (True, CURRENT, OLDER)
    assert (ok["changed"], ok["refused"], ok["timeframe_change"]) == (True, False, None)
    refused = run_json(
        "models", "promote", "BTCUSDT", "basic", DAILY, "--dry-run", "--registry", registry,
        expect=1,
    )  # fmt: skip
    assert refused["refused"] is True
    assert refused["timeframe_change"] == {"from": "1h", "to": "1d"}
    table = run_atb(
        "models", "promote", "BTCUSDT", "basic", OLDER, "--dry-run", "--registry", registry
    ).stdout
    assert f"Would promote BTCUSDT/basic: {CURRENT} -> {OLDER}" in table
    assert latest_of(registry) == CURRENT
    assert not (registry / "BTCUSDT/basic/promotions.jsonl").exists()


def test_rollback_to_a_named_version(registry: Path) -> None:
    run_atb("models", "promote", "BTCUSDT", "basic", OLDER, "--registry", registry)
    run_atb("models", "promote", "BTCUSDT", "basic", "2025-09-17_1h_v1", "--registry", registry)
    back = run_json(
        "models", "rollback", "BTCUSDT:1h:basic", "--to", CURRENT, "--registry", registry
    )
    assert (back["record"]["action"], back["record"]["to"]) == ("rollback", CURRENT)
    assert latest_of(registry) == CURRENT
    missing = run_atb(
        "models", "rollback", "BTCUSDT", "basic", "--to", "2025-10-31_12h_v1",
        "--registry", registry, expect=1,
    )  # fmt: skip
    assert "did you mean 2025-10-30_12h_v1" in missing.stderr


def test_rollback_force_reaches_the_promotion(registry: Path) -> None:
    """``rollback --force`` skips validation: rolling back to the legacy bundle (which fails it)
    is refused without, and done with."""
    run_atb(
        "models", "promote", "BTCUSDT", "basic", "2025-09-16_legacy", "--force",
        "--registry", registry,
    )  # fmt: skip
    run_atb("models", "promote", "BTCUSDT", "basic", CURRENT, "--force", "--registry", registry)
    refused = run_atb("models", "rollback", "BTCUSDT", "basic", "--registry", registry, expect=1)
    assert "fails validation" in refused.stderr
    run_atb("models", "rollback", "BTCUSDT", "basic", "--force", "--registry", registry)
    assert latest_of(registry) == "2025-09-16_legacy"


def test_list_says_why_a_model_has_no_production_version(registry: Path) -> None:
    document = run_json("models", "list", "--registry", registry)
    models = {(m["symbol"], m["timeframe"], m["model_type"]): m for m in document["models"]}
    assert models[("BTCUSDT", "1h", "basic")]["no_production_reason"] is None
    reason = models[("BTCUSDT", "1d", "basic")]["no_production_reason"]
    assert CURRENT in reason and "1h" in reason
    table = run_atb("models", "list", "--registry", registry).stdout
    assert_fits(table)
    assert "BTCUSDT 1d basic has no production version" in table

    (registry / "BTCUSDT/basic/latest").unlink()
    (registry / "BTCUSDT/basic/latest").symlink_to("2099-01-01_1h_v1")
    broken = run_json("models", "list", "--registry", registry)
    reasons = [m["no_production_reason"] for m in broken["models"] if m["symbol"] == "BTCUSDT"]
    assert any("unusable" in (r or "") for r in reasons)


# --- one way to name a model, and "did you mean" -------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        ["compare", "BTCUSDT:1h:basic"],
        ["history", "BTCUSDT:1h:basic"],
        ["inspect", "BTCUSDT:1h:basic"],
        ["validate", "BTCUSDT:1h:basic"],
        ["promote", f"BTCUSDT:1h:basic:{CURRENT}"],
    ],
)
def test_every_command_takes_the_key_list_prints(registry: Path, arguments: list[str]) -> None:
    document = run_json("models", *arguments, "--registry", registry)
    assert document["schema"] == 1


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["compare", "BTCUSTD", "1h", "basic"], "did you mean BTCUSDT"),
        (["compare", "BTCUSDT:1h:basik"], "did you mean basic"),
        (["history", "BTCUSDT", "lstm"], "there are: basic, sentiment"),
        (["promote", "BTCUSDT", "basic", "2025-10-30_12h_v2"], "did you mean 2025-10-30_12h_v1"),
        (["inspect", "BTCUSDT:1h:basic:2025-10-30_12h_v2"], "did you mean BTCUSDT:1h:basic:2025"),
        (["compare", "BTCUSDT", "1h", "basic", "--versions", "--sort", "rmse"], "did you mean"),
    ],
)
def test_unknown_names_get_suggestions(registry: Path, arguments: list[str], expected: str) -> None:
    completed = run_atb("models", *arguments, "--registry", registry, expect=1)
    assert_one_error_line(completed.stderr)
    assert expected in completed.stderr


def test_a_malformed_key_is_a_usage_error(registry: Path) -> None:
    completed = run_atb("models", "promote", "BTCUSDT:1h:basic", "--registry", registry, expect=2)
    assert "SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION" in completed.stderr


# --- global options, output formats, JSON schema -------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        ["--registry", "{R}", "models", "list", "--json"],
        ["models", "--registry", "{R}", "list", "-o", "json"],
        ["models", "list", "--registry", "{R}", "--output", "json"],
        ["--json", "models", "list", "--registry", "{R}"],
        ["models", "--json", "--registry", "{R}", "list"],
    ],
)
def test_global_options_before_or_after_the_subcommand(
    registry: Path, arguments: list[str]
) -> None:
    completed = run_atb(*[str(registry) if a == "{R}" else a for a in arguments])
    document = json.loads(completed.stdout)
    assert document["schema"] == 1 and document["registry"] == str(registry)


def test_output_table_overrides_nothing_and_rejects_unknown_formats(registry: Path) -> None:
    table = run_atb("models", "list", "-o", "table", "--registry", registry).stdout
    assert table.startswith("Registry ")
    bad = run_atb("models", "list", "-o", "yaml", "--registry", registry, expect=2)
    assert "invalid choice" in bad.stderr


# --- compare --versions: one table ---------------------------------------------------------------


def test_compare_versions_is_one_table_with_last_and_sort(registry: Path) -> None:
    completed = run_atb(
        "models", "compare", "BTCUSDT", "1h", "basic", "--versions", "--last", "2",
        "--sort", "test_rmse", "--registry", registry,
    )  # fmt: skip
    assert_fits(completed.stdout)
    lines = completed.stdout.splitlines()
    assert lines[0] == "BTCUSDT 1h basic: 2 versions (the 2 newest), best test_rmse first"
    assert lines[1].split()[:2] == ["VERSION", "test_rmse"]
    assert sum(1 for line in lines if line.startswith("---")) == 1  # one table
    assert lines[3].startswith(OLDER) and lines[4].startswith(CURRENT)  # 0.0664909 < 0.0665467
    document = run_json(
        "models", "compare", "BTCUSDT", "1h", "basic", "--versions", "--last", "2",
        "--sort", "test_rmse", "--registry", registry,
    )  # fmt: skip
    assert [v["version"] for v in document["versions"]] == [OLDER, CURRENT]


def test_ids_are_never_cut() -> None:
    version = "2025-10-30_12h_v1_with_a_long_suffix"
    table = render_table(
        [Column("VERSION", identifier=True), Column("NOTE", optional=True), Column("OK")],
        [[version, "a note that is rather long", "yes"]],
        width=40,
    )
    assert version in table
    assert "NOTE" not in table  # the optional column went instead
    assert "..." not in table


def test_list_all_on_a_narrow_terminal_keeps_every_key(registry: Path) -> None:
    from atb_prediction.cli.listing import _print_tables, list_document
    from atb_prediction.cli.output import Console
    from atb_prediction.models.scanning import scan_registry
    from atb_prediction.models.validation import validate_version

    index = scan_registry(registry)
    reports = {r.key: validate_version(r) for r in index.versions}
    document = list_document(index, reports)

    class Narrow(Console):
        @property
        def width(self) -> int:
            return 44

    import io

    out = io.StringIO()
    _print_tables(Narrow(stdout=out, stderr=io.StringIO()), document, show_all=True)
    for record in index.versions:
        assert record.version_id in out.getvalue()
    assert "..." not in out.getvalue().split("\n\n")[0]


# --- failures: one error for the runtime, each log line once, closed pipes -------------------


def test_an_unusable_onnx_runtime_is_one_error_with_exit_2(registry: Path) -> None:
    env = clean_env(ORT_DYLIB_PATH="/nonexistent/libonnxruntime.so")
    for arguments in (["validate"], ["list", "--all"], ["inspect", "BTCUSDT:1h:basic"]):
        completed = run_atb("models", *arguments, "--registry", registry, expect=2, env=env)
        assert_one_error_line(completed.stderr)
        assert "ONNX Runtime cannot be used" in completed.stderr
        assert "FAIL" not in completed.stdout


def test_each_log_line_is_printed_once(registry: Path) -> None:
    run_atb("models", "promote", "BTCUSDT", "basic", OLDER, "--registry", registry)
    journal = registry / "BTCUSDT/basic/promotions.jsonl"
    journal.write_text(journal.read_text() + "{not json\n")
    completed = run_atb("models", "rollback", "BTCUSDT", "basic", "--registry", registry)
    warnings = [line for line in completed.stderr.splitlines() if "line 2 skipped" in line]
    assert len(warnings) == 1, completed.stderr
    assert warnings[0].startswith("atb models rollback: WARNING: ")


def test_a_closed_pipe_exits_0_quietly(registry: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (`head`) is gone before atb writes anything
    try:
        completed = subprocess.run(
            [*atb_command(), "models", "list", "--all", "--registry", str(registry)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""


# --- shell completion ----------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str) -> None:
    script = run_atb("completion", shell).stdout
    assert "atb" in script and "_ARGCOMPLETE" in script


def complete(line: str, tmp_path: Path, registry: Path) -> list[str]:
    """What the shell would offer for ``line`` (argcomplete's protocol, as the scripts use it)."""
    out = tmp_path / "completions"
    env = clean_env(
        _ARGCOMPLETE="1",
        _ARGCOMPLETE_IFS="\n",
        _ARGCOMPLETE_STDOUT_FILENAME=str(out),
        COMP_LINE=line,
        COMP_POINT=str(len(line)),
        MODEL_REGISTRY_PATH=str(registry),
    )
    subprocess.run(atb_command(), env=env, timeout=120, check=True, capture_output=True)
    return [word.strip() for word in out.read_text().split("\n")]


def test_completion_offers_the_registry_names(tmp_path: Path, registry: Path) -> None:
    assert set(complete("atb models promote ", tmp_path, registry)) >= {"BTCUSDT", "ETHUSDT"}
    assert set(complete("atb models promote BTCUSDT ", tmp_path, registry)) == {
        "basic",
        "sentiment",
    }
    versions = complete("atb models promote BTCUSDT basic 2025-10", tmp_path, registry)
    assert {OLDER, DAILY, CURRENT} <= set(versions)
    keys = complete("atb models inspect ETHUSDT:1h:", tmp_path, registry)
    assert "ETHUSDT:1h:basic" in keys and "ETHUSDT:1h:basic:2026-07-04_22h_v1" in keys
    assert "1h" in complete("atb models compare BTCUSDT ", tmp_path, registry)
    assert "list" in complete("atb models l", tmp_path, registry)


# --- no numpy where no arrays are handled --------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        ["--help"],
        ["models", "--help"],
        ["models", "list", "--registry", "{R}"],
        ["models", "list", "--registry", "{R}", "--json"],
        ["models", "history", "BTCUSDT", "basic", "--registry", "{R}"],
        ["models", "compare", "BTCUSDT:1h:basic", "--versions", "--registry", "{R}"],
        ["completion", "bash"],
    ],
)
def test_cli_paths_without_arrays_import_no_numpy(arguments: list[str]) -> None:
    argv = [str(FIXTURE_REGISTRY) if a == "{R}" else a for a in arguments]
    code = (
        "import sys\n"
        "from atb_prediction.cli import main\n"
        f"try:\n    status = main({argv!r})\nexcept SystemExit as exc:\n    status = exc.code\n"
        "loaded = sorted(m for m in sys.modules if m == 'numpy' or m.startswith('numpy.'))\n"
        "sys.stdout.flush()\n"
        "print('NUMPY', loaded[:3], file=sys.stderr)\n"
        "sys.exit(status)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "NUMPY []" in completed.stderr
