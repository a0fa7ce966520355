"""The rows of a sweep's scores: the buy-and-hold benchmark beside every version, exposure,
ranking (NaN rows last, rows with too few bars unranked), closes that are not numbers, and the
values of versions scored by direction, unchanged from before live's rule."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from atb_prediction import sweep
from atb_prediction.backtest.scores import AS_LIVE, BUY_AND_HOLD, score_result
from atb_prediction.metrics import MIN_BARS
from sweep_helpers import (
    RIGHT,
    WRONG,
    open_registry,
    random_walk,
    signal_bars,
    signal_registry,
    sweep_result,
)

NAN = float("nan")


def foresight(close: np.ndarray, every: int = 1) -> np.ndarray:
    """Predicted prices that know the next close (NaN at the last bar); every ``every``-th bar
    the prediction is the opposite move."""
    price = np.full(close.size, np.nan)
    move = close[1:] - close[:-1]
    flip = np.where(np.arange(close.size - 1) % every == every - 1, -1.0, 1.0) if every > 1 else 1
    price[:-1] = close[:-1] + 2.0 * move * flip
    return price


# --- buy-and-hold ------------------------------------------------------------------------------


def test_buy_and_hold_is_long_from_the_first_bar_any_version_predicts() -> None:
    close = random_walk(200)
    price = np.vstack([foresight(close), foresight(close)])
    price[0, :30] = np.nan
    price[1, :20] = np.nan  # the earliest prediction: bar 20
    result = sweep_result(price, close)
    for fee in (0.0, 5.0):
        scores = score_result(result, fee_bps=fee, returns=True)
        assert scores.versions == (*result.versions, BUY_AND_HOLD)
        assert scores.start == 20
        row = scores.row(BUY_AND_HOLD)
        assert scores.returns is not None
        held = scores.returns[-1]
        market = close[1:] / close[:-1] - 1.0
        expected = np.where(np.arange(199) >= 20, market, 0.0)
        expected[20] -= fee / 1e4  # one entry, never an exit
        np.testing.assert_allclose(held, expected, rtol=0, atol=1e-15)
        assert row["total_return"] == pytest.approx(
            (1.0 + market[20] - fee / 1e4) * np.prod(1.0 + market[21:]) - 1.0, rel=1e-12
        )
        assert row["bars"] == 199 - 20  # every bar from 20 that has a next close
        assert row["exposure"] == 1.0
        assert row["turnover"] == pytest.approx(1 / 199)
        assert row["hit_rate"] == pytest.approx(np.mean(market[20:] > 0))
        assert math.isnan(row["mae"]) and math.isnan(row["rmse"])
    assert score_result(result).row(BUY_AND_HOLD)["total_return"] == pytest.approx(
        close[-1] / close[20] - 1.0, rel=1e-12
    )


def test_an_as_live_sweep_holds_from_the_first_live_bar() -> None:
    close = random_walk(300)
    price = np.vstack([foresight(close), foresight(close, every=3)])
    live = np.full(300, -1)
    live[50:120] = 0
    live[120:] = 1
    price[:, live < 0] = np.nan  # only the live version predicts, as in an as-live sweep
    price[0, 120:] = np.nan
    price[1, :120] = np.nan
    result = sweep_result(price, close, live_version=live)
    scores = result.score()
    assert scores.versions == (*result.versions, BUY_AND_HOLD, AS_LIVE)
    assert scores.start == 50
    assert scores.row(BUY_AND_HOLD)["total_return"] == pytest.approx(close[-1] / close[50] - 1)


def test_no_prediction_holds_nothing() -> None:
    close = random_walk(50)
    scores = sweep_result(np.full(50, NAN), close).score()
    row = scores.row(BUY_AND_HOLD)
    assert scores.start is None and row["bars"] == 0 and row["total_return"] == 0.0
    assert math.isnan(row["sharpe"]) and math.isnan(row["exposure"])


# --- exposure ----------------------------------------------------------------------------------


def test_exposure_is_the_share_of_scored_bars_with_a_position() -> None:
    close = np.full(101, 100.0)
    # Predicted returns alternate +0.01% (long) and -0.01% (inside live's dead band: flat).
    price = np.where(np.arange(101) % 2 == 0, 100.01, 99.99)
    scores = sweep_result(price, close).score()
    assert scores.bars[0] == 100
    assert scores.exposure[0] == 0.5
    assert scores.row(BUY_AND_HOLD)["exposure"] == 1.0
    frame = scores.to_pandas()
    assert frame.loc[BUY_AND_HOLD, "exposure"] == 1.0 and list(frame.columns)[-1] == "exposure"


# --- ranking -----------------------------------------------------------------------------------


def test_nan_rows_rank_last_and_the_rest_best_first() -> None:
    close = random_walk(400)
    rng = np.random.default_rng(1)
    price = np.vstack(
        [
            np.full(400, NAN),  # never predicts: NaN Sharpe, first in row order
            2.0 * close - foresight(close),  # always wrong
            foresight(close),  # always right
            close * (1.0 + rng.normal(0.0, 0.01, 400)),  # noise
            foresight(close, every=4),  # right 3 times in 4
        ]
    )
    result = sweep_result(
        price, close, versions=["a-none", "b-wrong", "c-right", "d-noise", "e-3of4"]
    )
    scores = result.score()
    sharpe = dict(zip(scores.versions, scores.sharpe, strict=True))
    assert math.isnan(sharpe["a-none"])
    ranked = scores.rows(ranked_by="sharpe")
    numbers = [name for name in scores.versions if not math.isnan(sharpe[name])]
    assert [row["version"] for row in ranked] == [
        *sorted(numbers, key=lambda name: -sharpe[name]),
        "a-none",
    ]
    assert ranked[0]["version"] == "c-right" and ranked[1]["version"] == "e-3of4"
    assert [row["rank"] for row in ranked] == [1, 2, 3, 4, 5, None]
    # Lower is better for drawdown and errors: NaN rows still last.
    by_error = scores.rows(ranked_by="rmse")
    assert [row["version"] for row in by_error[-2:]] == ["a-none", BUY_AND_HOLD]
    errors = [row["rmse"] for row in by_error[:-2]]
    assert errors == sorted(errors) and len(errors) == 4


def test_nan_rows_come_after_the_rows_with_too_few_bars() -> None:
    """Issue 28, behaviour 1, with both kinds of unranked row: the ranked rows best first, then
    the rows with too few bars (a number, though not ranked), then the NaN rows last; each kind
    in row order, whatever that order is."""
    close = random_walk(400)
    price = np.vstack([np.full(400, NAN), foresight(close), foresight(close), np.full(400, NAN)])
    price[1, 17:] = np.nan  # predicts 17 bars only: a number, too few bars to rank
    result = sweep_result(price, close, versions=["a-none", "b-brief", "c-right", "d-none"])
    scores = result.score()
    assert scores.bars[1] == 17 and not math.isnan(scores.sharpe[1])
    ranked = scores.rows(ranked_by="sharpe")
    assert [(row["version"], row["rank"]) for row in ranked] == [
        ("c-right", 1),
        (BUY_AND_HOLD, 2),
        ("b-brief", None),
        ("a-none", None),
        ("d-none", None),
    ]


def test_rows_with_fewer_than_min_bars_are_not_ranked() -> None:
    close = random_walk(400)
    price = np.vstack([foresight(close), 2.0 * close - foresight(close)])
    live = np.full(400, 1)
    live[:17] = 0  # the best version was live for 17 bars only, the worst after it
    price[0, 17:] = np.nan
    price[1, :17] = np.nan
    result = sweep_result(price, close, live_version=live, versions=["brief", "long"])
    scores = result.score()
    assert scores.min_bars == MIN_BARS and scores.bars[0] == 17
    ranked = scores.rows(ranked_by="sharpe")
    assert ranked[-1]["version"] == "brief" and ranked[-1]["rank"] is None
    assert [row["rank"] for row in ranked] == [1, 2, 3, None]
    assert all(row["bars"] >= MIN_BARS for row in ranked[:3])
    everything = scores.rows(ranked_by="sharpe", min_bars=0)
    assert everything[0]["version"] == "brief" and everything[0]["rank"] == 1
    # Exactly min_bars scored bars is enough: ranked, once.
    at_the_floor = result.score(min_bars=17).rows(ranked_by="sharpe")
    assert at_the_floor[0]["version"] == "brief"
    assert [row["rank"] for row in at_the_floor] == [1, 2, 3, 4]
    assert result.score(min_bars=18).rows(ranked_by="sharpe")[-1]["version"] == "brief"
    with pytest.raises(ValueError, match="min_bars must be a whole number, 0 or more, got -1"):
        scores.rows(ranked_by="sharpe", min_bars=-1)
    with pytest.raises(ValueError, match="exposure describes a row"):
        scores.rows(ranked_by="exposure")
    with pytest.raises(ValueError, match="unknown metric 'profit'"):
        scores.rows(ranked_by="profit")


# --- closes that are not numbers ---------------------------------------------------------------


def test_closes_that_are_not_numbers_are_skipped_with_one_warning() -> None:
    close = random_walk(300)
    close[[100, 101, 200]] = [NAN, float("inf"), 0.0]
    price = np.vstack([foresight(random_walk(300)), np.full(300, NAN)])
    price[1, 10:] = 1.0  # a direction-scored version, long throughout
    result = sweep_result(price, close, units=(True, False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = score_result(result, horizon=2, returns=True)
    assert len(caught) == 1 and caught[0].category is RuntimeWarning
    assert str(caught[0].message).startswith(
        "3 closes are not a positive number (the first at bar 100, 2026-01-05T04:00:00Z)"
    )
    assert caught[0].filename == __file__  # the warning names the caller's line
    for name in scores.versions:
        row = scores.row(name)
        for metric in ("total_return", "sharpe", "max_drawdown", "turnover", "hit_rate"):
            assert math.isfinite(row[metric]), (name, metric)
    assert math.isfinite(scores.row(result.versions[0])["mae"])
    # Skipped: bars whose close, or close two bars ahead, is one of the three.
    usable = np.isfinite(close) & (close > 0)
    judged = usable[:-2] & usable[2:]
    assert scores.bars[1] == np.count_nonzero(judged[10:])
    assert scores.scored is not None
    assert not scores.scored[1, [98, 99, 100, 101, 198, 200]].any()
    assert scores.scored[1, [97, 102, 103, 197, 199, 201]].all()
    # No return is booked over a step that touches one of them.
    assert scores.returns is not None
    assert (scores.returns[1, [99, 100, 101, 199, 200]] == 0.0).all()


# --- versions scored by direction --------------------------------------------------------------

#: Scores of the signal registry's direction-scored versions over ``signal_bars()`` with a fee of
#: 2 bps and a horizon of 3, computed before live's rule and buy-and-hold were added.
BEFORE = {
    RIGHT: {
        "bars": 497,
        "hit_rate": 0.6217303822937625,
        "total_return": 17.185496264394125,
        "sharpe": 65.40869443431492,
        "max_drawdown": 0.014827888976125192,
        "turnover": 1.0120240480961924,
    },
    WRONG: {
        "bars": 497,
        "hit_rate": 0.3782696177062374,
        "total_return": -0.9574098447091318,
        "sharpe": -69.88877513326351,
        # Was 0.9570295105746569 (from the first bar's equity): the drawdown now counts from
        # the initial capital, as quantstats does, and a version that only lost lost it all.
        "max_drawdown": 0.9574098447091318,
        "turnover": 1.0120240480961924,
    },
}


def test_versions_scored_by_direction_keep_their_values(tmp_path: Path) -> None:
    registry = open_registry(signal_registry(tmp_path / "registry"))
    result = sweep(registry, signal_bars(), symbol="BTCUSDT", model_type="basic",
                   versions="all", progress=False)  # fmt: skip
    assert result.price_units == (False, False)
    for thresholds in ({}, {"long_threshold": 0.01, "short_threshold": -0.01}):
        scores = result.score(fee_bps=2.0, horizon=3, **thresholds)
        for version, values in BEFORE.items():
            row = scores.row(version)
            for metric, value in values.items():
                assert row[metric] == pytest.approx(value, rel=1e-12, abs=0), (version, metric)
