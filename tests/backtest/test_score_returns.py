"""Per-bar strategy returns for the tools quants already use: ``SweepResult.returns()`` (pandas)
and ``SweepScores.returns`` (numpy), whose standard statistics, computed by quantstats, are
exactly the scores."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import quantstats.stats as qs
from atb_prediction import sweep
from atb_prediction.backtest import SweepResult
from atb_prediction.backtest.scores import AS_LIVE, BUY_AND_HOLD, score_result
from conftest import FIXTURE_REGISTRY, golden_frame
from sweep_helpers import open_registry, random_walk, sweep_result


def as_live_sweep() -> SweepResult:
    registry = open_registry(FIXTURE_REGISTRY)
    frame = golden_frame("BTCUSDT")
    frame.index = pd.date_range("2025-10-25", periods=len(frame), freq="h", tz="UTC")
    with pytest.warns(Warning):
        return sweep(registry, frame, symbol="BTCUSDT", model_type="basic",
                     versions="as-live", progress=False)  # fmt: skip


def test_returns_are_per_bar_by_utc_time_for_every_row() -> None:
    result = as_live_sweep()
    returns = result.returns(fee_bps=2.0)
    assert list(returns.columns) == [*result.versions, BUY_AND_HOLD, AS_LIVE]
    assert isinstance(returns.index, pd.DatetimeIndex) and str(returns.index.tz) == "UTC"
    assert len(returns) == result.bars - 1
    # The return of bar t runs from close t to close t + 1: indexed by the later close's time.
    assert returns.index[0] == pd.Timestamp("2025-10-25T01:00", tz="UTC")
    scores = score_result(result, fee_bps=2.0, returns=True)
    assert scores.returns is not None and scores.returns.shape == (4, result.bars - 1)
    np.testing.assert_array_equal(returns.to_numpy().T, scores.returns)
    no_times = sweep_result(np.full(5, 100.0), random_walk(5), start=None).returns()
    assert list(no_times.index) == [1, 2, 3, 4] and no_times.index.name == "bar"
    assert list(no_times.columns) == ["2026-01-01_1h_v1", BUY_AND_HOLD]


def test_the_scores_are_quantstats_statistics_of_the_returns() -> None:
    result = as_live_sweep()
    for fee, thresholds in ((0.0, {}), (3.0, {"long_threshold": 0.001, "short_threshold": -0.001})):
        scores = result.score(fee_bps=fee, **thresholds)
        returns = result.returns(fee_bps=fee, **thresholds)
        traded = 0
        for index, name in enumerate(scores.versions):
            column = returns[name]
            assert qs.comp(column) == pytest.approx(scores.total_return[index], rel=1e-9, abs=1e-15)
            assert -qs.max_drawdown(column) == pytest.approx(
                scores.max_drawdown[index], rel=1e-9, abs=1e-15
            )
            if column.std() == 0.0:  # never traded: no Sharpe ratio
                assert np.isnan(scores.sharpe[index])
                continue
            traded += 1
            sharpe = qs.sharpe(column, periods=scores.periods_per_year)
            assert sharpe == pytest.approx(scores.sharpe[index], rel=1e-9)
        assert traded >= 3


def test_a_loss_from_the_first_bar_is_a_drawdown_as_quantstats_counts_it() -> None:
    close = 100.0 * np.cumprod(np.r_[1.0, np.full(30, 1.01)])  # a steady rise
    result = sweep_result(np.full(31, 50.0), close)  # predicted far below: short from bar 0
    scores = result.score()
    column = result.returns().iloc[:, 0]
    assert scores.total_return[0] < 0
    assert scores.max_drawdown[0] == pytest.approx(-scores.total_return[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantstats' own deprecation notices, if any
        assert -qs.max_drawdown(column) == pytest.approx(scores.max_drawdown[0], rel=1e-12)
