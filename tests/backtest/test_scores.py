"""Sweep scores against a plain numpy implementation of their definitions
(``tests/score_reference.py``), the picture, the CLI's ``--score``, and gated promotion."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from atb_prediction import sweep
from atb_prediction.backtest import SweepResult
from atb_prediction.backtest.scores import AS_LIVE, BUY_AND_HOLD, score_result
from atb_prediction.metrics import METRICS, is_better
from conftest import FIXTURE_REGISTRY, affine_model, golden_frame, point_latest, write_bundle
from score_reference import reference_returns, reference_scores
from sweep_helpers import BARS, RIGHT, WRONG, bars_file, open_registry, signal_bars, signal_registry


def reference_rows(result: SweepResult) -> list[tuple[str, dict[str, Any]]]:
    """Every row of ``result``'s scores as arrays for the reference: each version, then
    buy-and-hold (a classifier-like row that says up from the first bar any version predicts),
    then the as-live composite."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for row, version in enumerate(result.versions):
        rows.append(
            (
                version,
                dict(
                    price=result.price[row],
                    confidence=result.confidence[row],
                    direction=result.direction[row],
                    price_units=result.price_units[row],
                    classifier=result.classifiers[row],
                ),
            )
        )
    classes = np.array(result.classifiers)[:, None]
    predicted = ~np.isnan(result.confidence) & (classes | np.isfinite(result.price))
    held = np.arange(result.bars) >= np.argmax(predicted.any(axis=0))
    rows.append(
        (
            BUY_AND_HOLD,
            dict(
                price=np.full(result.bars, np.nan),
                confidence=np.where(held, 1.0, np.nan),
                direction=held.astype(np.int8),
                price_units=False,
                classifier=True,
            ),
        )
    )
    if result.live_version is not None:
        live = result.live_version
        take = np.clip(live, 0, None)
        bar = np.arange(result.bars)
        none = live < 0
        rows.append(
            (
                AS_LIVE,
                dict(
                    price=np.where(none, np.nan, result.price[take, bar]),
                    confidence=np.where(none, np.nan, result.confidence[take, bar]),
                    direction=np.where(none, 0, result.direction[take, bar]),
                    price_units=np.where(none, False, np.array(result.price_units)[take]),
                    classifier=np.where(none, False, np.array(result.classifiers)[take]),
                ),
            )
        )
    return rows


def assert_matches_reference(
    result: SweepResult,
    close: np.ndarray,
    *,
    horizon: int = 1,
    fee_bps: float = 0.0,
    **thresholds: float,
) -> None:
    """Every score, and every per-bar return, of every row equals the reference's."""
    scores = score_result(
        result,
        close,
        horizon=horizon,
        fee_bps=fee_bps,
        periods={"1h": 8760.0, "12h": 730.0, "1d": 365.0}[result.timeframe or "1h"],
        returns=True,
        **thresholds,
    )
    rows = reference_rows(result)
    assert scores.versions == tuple(name for name, _ in rows)
    assert scores.returns is not None
    for index, (name, row) in enumerate(rows):
        expected = reference_scores(
            close=close,
            horizon=horizon,
            fee_bps=fee_bps,
            periods_per_year=scores.periods_per_year,
            **thresholds,
            **row,
        )
        for metric in METRICS:
            got = float(getattr(scores, metric)[index])
            want = expected[metric]
            assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(
                want, rel=1e-6, abs=1e-12
            ), f"{name} {metric}: {got} != {want}"
        units = np.broadcast_to(np.asarray(row.pop("price_units"), dtype=bool), close.shape)
        classes = np.broadcast_to(np.asarray(row.pop("classifier"), dtype=bool), close.shape)
        want_returns = reference_returns(
            **{key: value[np.newaxis] for key, value in row.items()},
            price_units=units[np.newaxis],
            classifier=classes[np.newaxis],
            close=close,
            fee_bps=fee_bps,
            **thresholds,
        )[0]
        np.testing.assert_allclose(scores.returns[index], want_returns, rtol=1e-12, atol=1e-15)


def test_the_right_version_scores_80_percent_and_ranks_first(tmp_path: Path) -> None:
    registry = open_registry(signal_registry(tmp_path / "registry"))
    bars = signal_bars()
    result = sweep(registry, bars, symbol="BTCUSDT", model_type="basic", versions="all",
                   progress=False)  # fmt: skip
    assert result.versions == (RIGHT, WRONG) and result.price_units == (False, False)
    scores = result.score()
    frame = scores.to_pandas()
    assert list(frame.columns) == list(METRICS)
    assert list(frame.index) == [RIGHT, WRONG, BUY_AND_HOLD] and frame.index.name == "version"
    assert frame.loc[RIGHT, "hit_rate"] == pytest.approx(0.8, abs=0.002)
    assert frame.loc[WRONG, "hit_rate"] == pytest.approx(0.2, abs=0.002)
    assert frame.loc[RIGHT, "bars"] == BARS - 1
    ranked = [row["version"] for row in scores.rows(ranked_by="sharpe")]
    assert ranked.index(RIGHT) < ranked.index(WRONG)
    ranked = [row["version"] for row in scores.rows(ranked_by="max_drawdown")]
    assert ranked.index(RIGHT) < ranked.index(WRONG)
    for fee in (0.0, 25.0):
        for horizon in (1, 3):
            assert_matches_reference(result, bars["close"].to_numpy(), horizon=horizon,
                                     fee_bps=fee)  # fmt: skip


def test_fees_cost_each_change_of_position(tmp_path: Path) -> None:
    registry = open_registry(signal_registry(tmp_path / "registry"))
    result = sweep(registry, signal_bars(), symbol="BTCUSDT", model_type="basic",
                   versions=[RIGHT], progress=False)  # fmt: skip
    free, costly = result.score(), result.score(fee_bps=10.0)
    assert costly.total_return[0] < free.total_return[0]
    assert costly.turnover[0] == free.turnover[0] > 0.5
    assert costly.hit_rate[0] == free.hit_rate[0]


def test_prices_in_price_units_score_against_close_with_nan_stretches() -> None:
    registry = open_registry(FIXTURE_REGISTRY)
    frame = golden_frame("BTCUSDT")  # a NaN volume at bar 395: NaN windows after it
    with pytest.warns(Warning):
        result = sweep(registry, frame, symbol="BTCUSDT", model_type="basic", versions="all",
                       progress=False)  # fmt: skip
    assert result.price_units == (False, True)
    scores = result.score(fee_bps=3.0)
    priced = scores.row("2025-10-30_12h_v1")
    assert math.isfinite(priced["mae"]) and math.isfinite(priced["rmse"])
    # No full window before bar 119, NaN windows at 395..399 (so the last bar, without a next
    # close, had no prediction anyway).
    assert priced["bars"] == 400 - 119 - 5
    scaled = scores.row("2025-10-26_21h_v1")
    assert math.isnan(scaled["mae"]) and math.isnan(scaled["rmse"])
    close = frame["close"].to_numpy()
    assert_matches_reference(result, close, fee_bps=3.0)
    assert_matches_reference(result, close, horizon=5)
    # Closes that are not numbers are skipped, with one warning, and the metrics stay numbers.
    holes = close.copy()
    holes[300:310] = np.nan
    first = r"\(the first at bar 300, 2024-03-13T12:00:00Z\)"
    with pytest.warns(RuntimeWarning, match=rf"^10 closes are not a positive number {first}"):
        assert_matches_reference(result, holes)
    with pytest.warns(RuntimeWarning, match="skip the bars"):
        holed = result.score(holes)
    assert np.isfinite(holed.total_return).all() and np.isfinite(holed.sharpe).all()


def test_an_as_live_composite_takes_the_live_version_at_each_bar() -> None:
    registry = open_registry(FIXTURE_REGISTRY)
    frame = golden_frame("BTCUSDT")
    frame.index = pd.date_range("2025-10-25", periods=len(frame), freq="h", tz="UTC")
    with pytest.warns(Warning):
        result = sweep(registry, frame, symbol="BTCUSDT", model_type="basic",
                       versions="as-live", progress=False)  # fmt: skip
    scores = result.score()
    assert scores.versions == (*result.versions, BUY_AND_HOLD, AS_LIVE)
    assert_matches_reference(result, frame["close"].to_numpy(), fee_bps=2.0)


def test_a_classifier_scores_by_its_direction(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    write_bundle(root, "BTCUSDT", "basic", RIGHT, model=affine_model(1, 1, weight=5.0,
                 activation="sigmoid"), metadata={
        "timeframe": "1h", "sequence_length": 1, "feature_names": ["signal"],
        "task_type": "binary_classification", "class_labels": [-1, 1],
    })  # fmt: skip
    point_latest(root, "BTCUSDT", "basic", RIGHT)
    bars = signal_bars()
    bars.loc[bars.index[100:120], "signal"] = np.nan  # a stretch without predictions
    with pytest.warns(RuntimeWarning, match="20 windows hold NaN"):
        result = sweep(open_registry(root), bars, symbol="BTCUSDT", model_type="basic",
                       progress=False)  # fmt: skip
    assert result.classifiers == (True,) and np.isnan(result.price).all()
    scores = result.score()
    assert scores.bars[0] == BARS - 20 - 1
    assert scores.hit_rate[0] == pytest.approx(0.8, abs=0.01)
    assert math.isnan(scores.mae[0])
    assert_matches_reference(result, bars["close"].to_numpy(), fee_bps=1.0)


def test_scoring_needs_a_close_and_a_timeframe(tmp_path: Path) -> None:
    registry = open_registry(signal_registry(tmp_path / "registry"))
    series = signal_bars()[["signal"]]
    result = sweep(registry, series, symbol="BTCUSDT", model_type="basic", progress=False)
    assert result.close is None
    with pytest.raises(ValueError, match="has no close column: pass close="):
        result.score()
    with pytest.raises(ValueError, match=r"close must have one value per bar \(500\)"):
        result.score(np.ones(3))
    with pytest.raises(ValueError, match="horizon must be at least 1"):
        result.score(np.ones(BARS), horizon=0)
    with pytest.raises(ValueError, match="fee_bps must be a finite number"):
        result.score(np.ones(BARS), fee_bps=float("nan"))
    assert result.score(np.ones(BARS), periods_per_year=1.0).periods_per_year == 1.0


def test_which_metrics_are_better_lower() -> None:
    assert is_better("sharpe", 2.0, 1.0) and not is_better("sharpe", 1.0, 1.0)
    assert is_better("max_drawdown", 0.1, 0.2) and not is_better("rmse", 3.0, 2.0)
    assert is_better("mae", 1.0, float("nan")) and not is_better("sharpe", float("nan"), 1.0)
    assert is_better("hit_rate", 0.1, None)
    with pytest.raises(ValueError, match="unknown metric 'profit'"):
        is_better("profit", 1.0, 0.0)


def test_the_picture_has_prices_and_returns(tmp_path: Path) -> None:
    registry = open_registry(FIXTURE_REGISTRY)
    frame = golden_frame("BTCUSDT").iloc[:300]
    frame.index = pd.date_range("2025-10-25", periods=len(frame), freq="h", tz="UTC")
    with pytest.warns(Warning):
        result = sweep(registry, frame, symbol="BTCUSDT", model_type="basic",
                       versions="as-live", progress=False)  # fmt: skip
    path = tmp_path / "sweep.png"
    figure = result.plot(path=path)
    prices, returns = figure.axes
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert prices.get_legend_handles_labels()[1] == ["close", "2025-10-30_12h_v1"]
    labels = returns.get_legend_handles_labels()[1]
    assert labels == [*result.versions, BUY_AND_HOLD, AS_LIVE]
    as_live = returns.get_lines()[labels.index(AS_LIVE)]
    assert as_live.get_linewidth() > returns.get_lines()[0].get_linewidth()
    equity = result.score().total_return[-1]
    assert as_live.get_ydata()[-1] == pytest.approx(equity)


# --- the command line ------------------------------------------------------------------------


def test_cli_score_ranks_by_sharpe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from atb_prediction.cli import main

    root = signal_registry(tmp_path / "registry")
    path = bars_file(tmp_path / "bars.csv", signal_bars())
    args = ["backtest", "sweep", "BTCUSDT", "basic", "--series", str(path), "--registry",
            str(root), "--versions", "all", "--score", "--fee-bps", "2"]  # fmt: skip
    assert main([*args, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    scores = document["scores"]
    assert [row["version"] for row in scores] == [RIGHT, BUY_AND_HOLD, WRONG]
    assert list(scores[0]) == ["version", *METRICS, "rank"]
    expected = sweep(open_registry(root), signal_bars(), symbol="BTCUSDT", model_type="basic",
                     versions="all", progress=False).score(fee_bps=2.0)  # fmt: skip
    assert scores[0]["sharpe"] == pytest.approx(float(expected.sharpe[0]))
    assert main(args) == 0
    table = capsys.readouterr().out
    assert table.index(RIGHT, table.index("SHARPE")) < table.index(WRONG, table.index("SHARPE"))
