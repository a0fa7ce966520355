"""The gate of a gated promotion (``Gate``, ``promote --gate``): its evidence is the scores of
both versions over the same bars with its settings, its digest covers what it evaluated, a worse
candidate is refused and a better one journaled with its evidence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from atb_prediction import sweep
from gate_helpers import signal_registry as gate_registry
from sweep_helpers import BARS, RIGHT, WRONG, bars_file, open_registry, signal_bars, signal_registry


def _json_row(row: dict[str, object]) -> dict[str, object]:
    return {k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in row.items()}


def test_the_gate_evidence_is_the_scores_of_both_versions_with_its_settings(
    tmp_path: Path,
) -> None:
    """The oracle: the same sweep and scores through the public API."""
    from atb_prediction.backtest import Gate

    root = signal_registry(tmp_path / "registry", production=WRONG)
    bars = signal_bars()
    gate = Gate(bars, metric="max_drawdown", horizon=2, fee_bps=5.0)
    evidence = gate.evaluate(root, "BTCUSDT", "basic", RIGHT, WRONG)
    swept = sweep(open_registry(root), bars, symbol="BTCUSDT", model_type="basic",
                  versions=[RIGHT, WRONG], progress=False)  # fmt: skip
    expected = swept.score(horizon=2, fee_bps=5.0)
    digests = ("series_sha256", "candidate_sha256", "production_sha256")
    assert all(len(evidence[key]) == 64 for key in digests)
    settings = ("metric", "better", "passed", "candidate", "production", "bars", "horizon",
                "fee_bps", "periods_per_year")  # fmt: skip
    assert {key: evidence[key] for key in settings} == {
        "metric": "max_drawdown", "better": "lower", "passed": True,
        "candidate": _json_row(expected.row(RIGHT)), "production": _json_row(expected.row(WRONG)),
        "bars": len(bars), "horizon": 2, "fee_bps": 5.0, "periods_per_year": 8760.0,
    }  # fmt: skip
    benchmark = {**_json_row(expected.row("buy-and-hold")), "p_value": evidence["p_value"]}
    assert evidence["benchmark"] == {**benchmark, "p_value": evidence["benchmark"]["p_value"]}
    assert evidence["p_value"] == evidence["comparisons"]["production"]["p_value"]

    # Without another production version only buy-and-hold is there to beat.
    for production in (None, RIGHT):
        alone = gate.evaluate(root, "BTCUSDT", "basic", RIGHT, production)
        assert alone["production"] is None and alone["passed"] is True
        assert alone["p_value"] is None and alone["comparisons"]["production"] is None
        assert alone["candidate"] == evidence["candidate"]
        assert alone["benchmark"] == evidence["benchmark"]


def test_the_gate_digest_covers_the_times_the_names_and_the_values(tmp_path: Path) -> None:
    from atb_prediction.backtest import Gate

    root = signal_registry(tmp_path / "registry", production=WRONG)
    bars = signal_bars(50)

    def digest(frame: pd.DataFrame) -> str:
        return str(Gate(frame).evaluate(root, "BTCUSDT", "basic", RIGHT, WRONG)["series_sha256"])

    first = digest(bars)
    assert len(first) == 64 and digest(bars.copy()) == first
    later = bars.set_axis(bars.index + pd.Timedelta(hours=1))
    changed = bars.assign(close=bars["close"] * 1.01)
    # Same values under another name.
    named_x, named_y = bars.assign(x=0.0), bars.assign(y=0.0)
    digests = {first, digest(later), digest(changed), digest(named_x), digest(named_y)}
    assert len(digests) == 5


def test_the_gate_refuses_a_worse_candidate_and_leaves_latest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from atb_prediction.cli import main

    root = signal_registry(tmp_path / "registry", production=RIGHT)
    path = bars_file(tmp_path / "bars.csv", signal_bars())
    code = main(["models", "promote", f"BTCUSDT:1h:basic:{WRONG}", "--gate", str(path),
                 "--registry", str(root)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert "sharpe" in captured.err and "not better" in captured.err
    assert RIGHT in captured.out and WRONG in captured.out  # both rows, side by side
    assert (root / "BTCUSDT" / "basic" / "latest").readlink() == Path(RIGHT)
    assert not (root / "BTCUSDT" / "basic" / "promotions.jsonl").exists()


def test_the_gate_journals_the_evidence_of_a_better_candidate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from atb_prediction.cli import main

    root = signal_registry(tmp_path / "registry", production=WRONG)
    bars = signal_bars()
    path = bars_file(tmp_path / "bars.csv", bars)
    code = main(["models", "promote", f"BTCUSDT:1h:basic:{RIGHT}", "--gate", str(path),
                 "--metric", "max_drawdown", "--horizon", "2", "--fee-bps", "1",
                 "--registry", str(root), "--json"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    document = json.loads(capsys.readouterr().out)
    assert (root / "BTCUSDT" / "basic" / "latest").readlink() == Path(RIGHT)
    (line,) = (root / "BTCUSDT" / "basic" / "promotions.jsonl").read_text().splitlines()
    gate = json.loads(line)["gate"]
    assert gate == document["record"]["gate"]
    assert gate["metric"] == "max_drawdown" and gate["passed"] is True
    assert (gate["horizon"], gate["fee_bps"], gate["bars"]) == (2, 1.0, BARS)
    import hashlib

    assert gate["series_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert gate["candidate"]["version"] == RIGHT and gate["production"]["version"] == WRONG
    assert gate["candidate"]["max_drawdown"] < gate["production"]["max_drawdown"]
    assert main(["models", "history", "BTCUSDT", "basic", "--registry", str(root)]) == 0
    history = " ".join(capsys.readouterr().out.split())  # the REASON column wraps
    candidate, production = gate["candidate"]["max_drawdown"], gate["production"]["max_drawdown"]
    assert f"gate: max_drawdown {candidate:.4g} vs {production:.4g} (passed)" in history


def test_a_forced_gate_is_journaled_as_forced(tmp_path: Path) -> None:
    from atb_prediction.backtest import Gate
    from atb_prediction.promotion import promote

    root = signal_registry(tmp_path / "registry", production=RIGHT)
    result = promote(root, "BTCUSDT", "basic", WRONG, gate=Gate(signal_bars()), force=True)
    assert result.changed and result.record.forced
    gate = result.record.gate
    assert gate is not None and gate["passed"] is False and gate["metric"] == "sharpe"
    assert gate["candidate"]["sharpe"] < gate["production"]["sharpe"]


def test_a_refusal_reads_both_values_or_joins_the_gate_s_reasons() -> None:
    """A gate that gives no reasons of its own (any ``GateLike``) is refused with both values
    of its metric, ``nan`` for one it lacks; a gate's own reasons are joined in order."""
    from atb_prediction.promotion.gate import refusal

    evidence = {
        "metric": "sharpe", "better": "higher", "bars": 120, "passed": False,
        "candidate": {"version": "v2", "sharpe": 0.51234},
        "production": {"version": "v1", "sharpe": None},
    }  # fmt: skip
    assert str(refusal(evidence)) == (
        "v2 is refused by the gate: not better than production v1 on sharpe (higher is "
        "better): 0.5123 against nan over 120 bars; promote with --force to override"
    )
    first = {**evidence, "production": None}
    assert str(refusal(first)) == (
        "v2 is refused by the gate: not better than the gate on sharpe (higher is better): "
        "0.5123 against nan over 120 bars; promote with --force to override"
    )
    reasons = {**evidence, "refusals": ["too few bars", "p = 0.2 above alpha 0.05"]}
    error = refusal(reasons)
    assert error.evidence is reasons
    assert str(error) == (
        "v2 is refused by the gate: too few bars; p = 0.2 above alpha 0.05; promote with "
        "--force to override"
    )


class _VerdictGate:
    """A gate of the user's own (``GateLike``): evidence that did not pass and gives no
    ``refusals`` of its own, so the promotion words the refusal from its rows."""

    def __init__(self, candidate: float, production: float | None) -> None:
        self.values = (candidate, production)

    def evaluate_bundles(self, candidate: object, production: object) -> dict[str, object]:
        mine, theirs = self.values
        return {
            "metric": "sharpe",
            "better": "higher",
            "passed": False,
            "candidate": {"version": WRONG, "sharpe": mine},
            "production": None if theirs is None else {"version": RIGHT, "sharpe": theirs},
            "bars": 321,
        }


@pytest.mark.parametrize("production", [RIGHT, None])
def test_a_gate_without_refusals_is_refused_with_the_candidate_s_value_first(
    tmp_path: Path, production: str | None
) -> None:
    """Issue 28, behaviour 5, for a gate of the user's own: the message gives the candidate's
    value, then production's (``nan`` when there is none), and nothing changes."""
    from atb_prediction.promotion import GateRefusedError, promote

    root = gate_registry(tmp_path / "registry", production=production)
    gate = _VerdictGate(-1.25, None if production is None else 2.5)
    with pytest.raises(GateRefusedError) as refused:
        promote(root, "BTCUSDT", "basic", WRONG, gate=gate)
    against = f"production {RIGHT}" if production else "the gate"
    assert str(refused.value) == (
        f"{WRONG} is refused by the gate: not better than {against} on sharpe (higher is "
        f"better): -1.25 against {'2.5' if production else 'nan'} over 321 bars; promote with "
        "--force to override"
    )
    assert refused.value.evidence["candidate"]["sharpe"] == -1.25
    latest = root / "BTCUSDT" / "basic" / "latest"
    assert (latest.readlink() == Path(RIGHT)) if production else not latest.exists()
    assert not (root / "BTCUSDT" / "basic" / "promotions.jsonl").exists()
