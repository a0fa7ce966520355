"""A refused gate is a failure a script can see (issue 28's behaviours 3 to 5): exit status 1
under ``--json`` (still exactly one JSON document on stdout) and under ``--dry-run``, with a
message that gives the candidate's value, then production's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from atb_prediction import promotion
from atb_prediction.cli import main
from gate_helpers import RIGHT, SYMBOL, TYPE, WRONG, bars_file, signal_frame, signal_registry


def _refused_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str, Path]:
    """``promote`` of the worse version against the better production."""
    root = signal_registry(tmp_path / "registry", production=RIGHT)
    path = bars_file(tmp_path / "bars.csv", signal_frame(500))
    code = main(["models", "promote", f"{SYMBOL}:1h:{TYPE}:{WRONG}", "--gate", str(path),
                 "--registry", str(root), *extra])  # fmt: skip
    captured = capsys.readouterr()
    return code, captured.out, captured.err, root


def _values_in_order(message: str, gate: dict[str, Any]) -> None:
    """The candidate's value of the metric comes first, production's after it: the values
    compared (over the bars both score), as ``comparisons`` records them."""
    compared = gate["comparisons"]["production"]
    candidate, production = compared["candidate"], compared["reference"]
    assert candidate != production
    first, second = message.find(f"{candidate:.4g}"), message.find(f"{production:.4g}")
    assert 0 <= first < second, (message, candidate, production)


def test_a_refused_gate_under_json_exits_1_with_one_json_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err, root = _refused_run(tmp_path, capsys, "--json")
    assert code == 1
    document = json.loads(out)  # exactly one document: anything more would not parse
    assert document["changed"] is False and document["gate"]["passed"] is False
    assert WRONG in document["refused"] and "not better" in document["refused"]
    _values_in_order(document["refused"], document["gate"])
    assert err.startswith("atb models promote: error: ") and err.count("\n") == 1
    assert (root / SYMBOL / TYPE / "latest").readlink() == Path(RIGHT)
    assert not (root / SYMBOL / TYPE / promotion.JOURNAL_NAME).exists()


@pytest.mark.parametrize("json_output", [False, True])
def test_a_dry_run_of_a_refused_gate_exits_1_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], json_output: bool
) -> None:
    code, out, _, root = _refused_run(tmp_path, capsys, "--dry-run",
                                      *(["--json"] if json_output else []))  # fmt: skip
    assert code == 1
    if json_output:
        document = json.loads(out)
        assert document["dry_run"] is True and document["refused"] is True
        (reason,) = [r for r in document["refusals"] if "not better" in r]
        _values_in_order(reason, document["gate"])
    else:
        (line,) = [line for line in out.splitlines() if "refused:" in line]
        assert "not better" in line and WRONG in line
    assert (root / SYMBOL / TYPE / "latest").readlink() == Path(RIGHT)


def test_the_refusal_gives_the_candidate_s_value_then_production_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err, _ = _refused_run(tmp_path, capsys)
    assert code == 1
    root = tmp_path / "registry"
    from atb_prediction.backtest import Gate

    evidence = Gate(signal_frame(500)).evaluate(root, SYMBOL, TYPE, WRONG, RIGHT)
    _values_in_order(err, evidence)
