"""The gate passes a candidate only when it beats production and buy-and-hold by more than luck
(issue 27's "done when"): a version that only holds the market is refused naming buy-and-hold,
a lucky random one is refused with its p-value, and one right 80% of the time passes with its
evidence journaled, bound to both models' bytes. The versions are real ONNX models predicting a
price from a ``signal`` column, scored by live's signal rule."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from atb_prediction import promotion
from atb_prediction.backtest import Gate
from atb_prediction.metrics import MIN_BARS, is_better
from gate_helpers import (
    HOLD,
    RIGHT,
    SYMBOL,
    TYPE,
    WRONG,
    bars_file,
    signal_frame,
    signal_registry,
)

BARS = 3000

#: Bars whose signal says nothing of the next move, on which ``RIGHT`` shows a Sharpe ratio of
#: about 2 (and ``WRONG``, its opposite, about -2).
LUCKY_SEED = 0


def _refused(root: Path, version: str, gate: Gate) -> dict[str, Any]:
    with pytest.raises(promotion.GateRefusedError) as refused:
        promotion.promote(root, SYMBOL, TYPE, version, gate=gate)
    directory = root / SYMBOL / TYPE
    assert (directory / "latest").readlink() == Path(WRONG)
    assert not (directory / promotion.JOURNAL_NAME).exists()
    evidence: dict[str, Any] = refused.value.evidence
    evidence["message"] = str(refused.value)
    return evidence


def test_a_version_that_only_holds_the_market_is_refused_naming_buy_and_hold(
    tmp_path: Path,
) -> None:
    """Long at every bar: far better than a production that is wrong 80% of the time, and
    exactly buy-and-hold, which it does not beat."""
    root = signal_registry(tmp_path / "registry", (HOLD, WRONG), price_units=True)
    evidence = _refused(root, HOLD, Gate(signal_frame(BARS)))
    assert evidence["candidate"]["exposure"] == 1.0
    assert evidence["comparisons"]["production"]["p_value"] < 0.01
    assert evidence["benchmark"]["version"] == "buy-and-hold"
    assert evidence["benchmark"]["p_value"] == 1.0
    assert evidence["benchmark"]["sharpe"] == evidence["candidate"]["sharpe"]
    (reason,) = evidence["refusals"]
    assert reason.startswith("not better than buy-and-hold on sharpe")
    assert "p = 1 (alpha 0.05)" in evidence["message"]


def test_a_lucky_random_version_is_refused_with_its_p_value(tmp_path: Path) -> None:
    """Two random strategies of opposite signs: one shows a Sharpe ratio of about 2, which the
    old rule ("strictly better") promoted; its p-value says it is luck."""
    root = signal_registry(tmp_path / "registry", price_units=True)
    bars = signal_frame(BARS, right=0.5, seed=LUCKY_SEED)
    evidence = _refused(root, RIGHT, Gate(bars))
    candidate, production = evidence["candidate"]["sharpe"], evidence["production"]["sharpe"]
    assert 1.5 < candidate < 2.5 and production < 0
    assert is_better("sharpe", candidate, production)  # what the old gate looked at
    p_value = evidence["p_value"]
    assert 0.05 < p_value < 0.5
    compared = evidence["comparisons"]["production"]
    # Every bar is scored by both (one-bar windows): the values compared are the rows'.
    assert (compared["candidate"], compared["reference"]) == pytest.approx((candidate, production))
    assert f"p = {p_value:.4g}" in evidence["message"]
    assert f"{candidate:.4g} against {production:.4g}" in evidence["message"]


def test_a_version_right_80_percent_of_the_time_passes_and_its_evidence_is_journaled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from atb_prediction.cli import main

    root = signal_registry(tmp_path / "registry", price_units=True)
    path = bars_file(tmp_path / "bars.csv", signal_frame(BARS))
    code = main(["models", "promote", f"{SYMBOL}:1h:{TYPE}:{RIGHT}", "--gate", str(path),
                 "--registry", str(root)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert (root / SYMBOL / TYPE / "latest").readlink() == Path(RIGHT)
    (line,) = (root / SYMBOL / TYPE / promotion.JOURNAL_NAME).read_text().splitlines()
    gate = json.loads(line)["gate"]
    assert gate["passed"] is True and gate["refusals"] == []
    assert gate["p_value"] < 0.01
    assert gate["benchmark"]["version"] == "buy-and-hold" and gate["benchmark"]["p_value"] < 0.01
    models = {v: (root / SYMBOL / TYPE / v / "model.onnx").read_bytes() for v in (RIGHT, WRONG)}
    assert gate["candidate_sha256"] == hashlib.sha256(models[RIGHT]).hexdigest()
    assert gate["production_sha256"] == hashlib.sha256(models[WRONG]).hexdigest()
    assert gate["series_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    keys = ("long_threshold", "short_threshold", "alpha", "min_bars", "resamples",
            "block_length", "seed")  # fmt: skip
    settings = {key: gate[key] for key in keys}
    assert settings == {"long_threshold": 0.0, "short_threshold": -0.0005, "alpha": 0.05,
                        "min_bars": MIN_BARS, "resamples": 1000, "block_length": None,
                        "seed": 0}  # fmt: skip
    for test in gate["comparisons"].values():
        assert test["bars"] >= MIN_BARS and test["block_length"] >= 1.0
    # Pass or refuse, both values and each p-value are printed.
    for against, test in ((f"production {WRONG}", gate["comparisons"]["production"]),
                          ("buy-and-hold", gate["comparisons"]["benchmark"])):  # fmt: skip
        assert (
            f"against {against}, over the {test['bars']:,} bars both score: sharpe "
            f"{test['candidate']:.4g} vs {test['reference']:.4g}, p = {test['p_value']:.4g}"
        ) in out
    # The history names both p-values beside the metric.
    assert main(["models", "history", SYMBOL, TYPE, "--registry", str(root)]) == 0
    history = " ".join(capsys.readouterr().out.split())
    expected = (
        f"production p {gate['p_value']:.3g}, buy-and-hold p {gate['benchmark']['p_value']:.3g}"
    )
    assert expected in history


def test_the_gate_s_knobs_are_used_and_journaled(tmp_path: Path) -> None:
    root = signal_registry(tmp_path / "registry", price_units=True)
    gate = Gate(signal_frame(600), metric="total_return", alpha=0.01, min_bars=200,
                resamples=300, block_length=4.0, seed=9, long_threshold=0.001,
                short_threshold=-0.001)  # fmt: skip
    evidence = gate.evaluate(root, SYMBOL, TYPE, RIGHT, WRONG)
    assert evidence["passed"] is True
    assert {evidence[k] for k in ("alpha", "min_bars", "resamples", "block_length", "seed")} == {
        0.01,
        200,
        300,
        4.0,
        9,
    }
    assert (evidence["long_threshold"], evidence["short_threshold"]) == (0.001, -0.001)
    for test in evidence["comparisons"].values():
        assert test["block_length"] == 4.0 and test["p_value"] == pytest.approx(1 / 301)
    # Thresholds above the predicted returns: no position, nothing to beat buy-and-hold with.
    idle = Gate(signal_frame(600), long_threshold=0.01, short_threshold=-0.01)
    refused = idle.evaluate(root, SYMBOL, TYPE, RIGHT, WRONG)
    assert refused["candidate"]["exposure"] == 0.0 and refused["passed"] is False
    # Too few bars in common: no p-value, refused, saying so.
    short = Gate(signal_frame(150), min_bars=200).evaluate(root, SYMBOL, TYPE, RIGHT, WRONG)
    assert short["passed"] is False and short["p_value"] is None
    assert "149 scored bars in common; the gate needs at least 200" in short["refusals"][0]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"metric": "hit_rate"}, "the bootstrap compares a metric of the strategy's returns"),
        ({"alpha": 0.0}, "alpha must be a p-value between 0 and 1"),
        ({"alpha": 1.5}, "alpha must be a p-value between 0 and 1"),
        ({"resamples": 0}, "resamples must be at least 1"),
        ({"block_length": 0.5}, "block_length must be a number of bars"),
        ({"seed": -1}, "seed must be an integer"),
        ({"min_bars": -1}, "min_bars must be a whole number"),
        ({"short_threshold": 0.1}, "short_threshold (0.1) must not be above long_threshold"),
    ],
)
def test_bad_settings_are_refused_before_any_work(
    tmp_path: Path, settings: dict[str, Any], message: str
) -> None:
    root = signal_registry(tmp_path / "registry", price_units=True)
    with pytest.raises(ValueError) as refused:
        promotion.promote(root, SYMBOL, TYPE, RIGHT, gate=Gate(signal_frame(300), **settings))
    assert message in str(refused.value)
    assert not (root / SYMBOL / TYPE / RIGHT / "manifest.json").exists()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--alpha", "2"], "--alpha must be a p-value between 0 and 1"),
        (["--resamples", "-3"], "--resamples must be at least 1, got -3"),
        (["--block-length", "0"], "--block-length must be a number of bars"),
        (["--seed", "-1"], "--seed must be an integer"),
    ],
)
def test_bad_gate_options_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str], message: str
) -> None:
    from atb_prediction.cli import main

    root = signal_registry(tmp_path / "registry", price_units=True)
    path = bars_file(tmp_path / "bars.csv", signal_frame(300))
    code = main(["models", "promote", f"{SYMBOL}:1h:{TYPE}:{RIGHT}", "--gate", str(path),
                 "--registry", str(root), *option])  # fmt: skip
    assert code == 2
    assert message in capsys.readouterr().err
