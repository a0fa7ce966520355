"""The paired stationary block bootstrap (``src/core/backtest/bootstrap.rs``) against
``arch.bootstrap``: the same index streams give the same statistic, the same data give p-values
that agree within Monte-Carlo error, and the automatic block length is arch's
``optimal_block_length``."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from arch.bootstrap import StationaryBootstrap, optimal_block_length
from atb_prediction import _core
from atb_prediction.backtest.bootstrap import (
    BOOTSTRAP_METRICS,
    DEFAULT_RESAMPLES,
    Comparison,
    compare_returns,
)
from atb_prediction.backtest.bootstrap import optimal_block_length as ours_block_length
from atb_prediction.models.exceptions import InvalidArgumentError, InvalidInputError

PERIODS = 8760.0
Returns = npt.NDArray[np.float64]


def sharpe(r: Returns) -> float:
    std = float(np.std(r, ddof=1))
    return float(np.mean(r) / std * math.sqrt(PERIODS)) if std > 0 else math.nan


def total_return(r: Returns) -> float:
    return float(np.prod(1.0 + r) - 1.0)


def max_drawdown(r: Returns) -> float:
    """From the initial capital 1, as quantstats and empyrical count it."""
    equity = np.concatenate(([1.0], np.cumprod(1.0 + r)))
    return float(np.max(1.0 - equity / np.maximum.accumulate(equity)))


#: The metrics by their numpy definitions, and whether higher is better.
METRICS: dict[str, tuple[Callable[[Returns], float], bool]] = {
    "sharpe": (sharpe, True),
    "total_return": (total_return, True),
    "max_drawdown": (max_drawdown, False),
}


def oriented(metric: str, candidate: Returns, reference: Returns) -> float:
    """The difference, positive when the candidate is better."""
    function, higher = METRICS[metric]
    difference = function(candidate) - function(reference)
    return difference if higher else -difference


def persistent_pair(n: int, edge: float, seed: int) -> tuple[Returns, Returns]:
    """Two return series sharing an autocorrelated market, the candidate with a small edge."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0.0, 0.004, n)
    market = np.empty(n)
    market[0] = shocks[0]
    for t in range(1, n):
        market[t] = 0.3 * market[t - 1] + shocks[t]
    candidate = market + edge + rng.normal(0.0, 0.003, n)
    reference = market + rng.normal(0.0, 0.003, n)
    return candidate, reference


def test_the_metrics_cover_returns_only_and_other_metrics_are_refused() -> None:
    assert BOOTSTRAP_METRICS == ("sharpe", "total_return", "max_drawdown")
    assert DEFAULT_RESAMPLES == 1000
    a, b = persistent_pair(300, 0.0, 1)
    for metric in ("hit_rate", "mae", "turnover", "exposure", "nope"):
        with pytest.raises(InvalidArgumentError) as refused:
            compare_returns(a, b, metric=metric)
        assert f'not "{metric}"' in str(refused.value)
        assert "sharpe, total_return, max_drawdown" in str(refused.value)


@pytest.mark.parametrize("metric", list(METRICS))
def test_the_statistic_of_arch_s_own_resamples_is_arch_s(metric: str) -> None:
    """Index streams drawn by arch, fed to ours: the same difference for every resample."""
    candidate, reference = persistent_pair(500, 0.0005, 2)
    bootstrap = StationaryBootstrap(7.5, candidate, reference, seed=np.random.default_rng(3))
    expected, streams = [], []
    for (c, r), _ in bootstrap.bootstrap(200):
        expected.append(oriented(metric, c, r))
        streams.append(np.asarray(bootstrap.index, dtype=np.int64).copy())
    ours = _core.bootstrap_differences(
        candidate, reference, np.stack(streams), metric=metric, periods_per_year=PERIODS
    )
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("metric", "edge"), [("sharpe", 0.0002), ("total_return", 0.00015), ("max_drawdown", 0.0001)]
)
def test_p_values_agree_with_arch_within_monte_carlo_error(metric: str, edge: float) -> None:
    """The same data, block length, statistic and p-value rule through arch: the p-values of
    two independent sets of 4,000 resamples differ by chance alone (standard error below 0.011
    each), so they agree within 0.05."""
    candidate, reference = persistent_pair(2000, edge, 4)
    block = optimal_block_length(candidate - reference)["stationary"].iloc[0]
    resamples = 4000
    ours = compare_returns(
        candidate, reference, metric=metric, periods_per_year=PERIODS, resamples=resamples,
        seed=5,
    )  # fmt: skip
    assert ours.block_length == pytest.approx(max(block, 1.0), rel=1e-9)
    observed = oriented(metric, candidate, reference)
    bootstrap = StationaryBootstrap(ours.block_length, candidate, reference, seed=6)
    differences = bootstrap.apply(lambda c, r: oriented(metric, c, r), resamples).ravel()
    beyond = np.count_nonzero(np.isnan(differences) | (differences - observed >= observed))
    theirs = (1 + beyond) / (1 + resamples)
    assert 0.02 < theirs < 0.98, theirs  # a p-value worth comparing, not pinned at an end
    assert ours.p_value == pytest.approx(theirs, abs=0.05)
    function, _ = METRICS[metric]
    assert ours.candidate == pytest.approx(function(candidate), rel=1e-9)
    assert ours.reference == pytest.approx(function(reference), rel=1e-9)


def test_the_automatic_block_length_is_arch_s() -> None:
    rng = np.random.default_rng(7)
    for n in (120, 3000, 20000):
        noise = rng.normal(0.0, 1.0, n)
        persistent = np.empty(n)
        persistent[0] = noise[0]
        for t in range(1, n):
            persistent[t] = 0.8 * persistent[t - 1] + noise[t]
        for series in (noise, persistent):
            expected = optimal_block_length(series)["stationary"].iloc[0]
            assert ours_block_length(series) == pytest.approx(expected, rel=1e-9)


def test_a_clear_edge_has_the_smallest_p_value_and_none_the_largest() -> None:
    rng = np.random.default_rng(8)
    market = rng.normal(0.0, 0.01, 3000)
    right, wrong = np.abs(market), -np.abs(market)
    better = compare_returns(right, wrong, periods_per_year=PERIODS)
    assert better.p_value == 1 / 1001 and better.resamples == 1000 and better.seed == 0
    assert compare_returns(wrong, right, periods_per_year=PERIODS).p_value > 0.99
    # The same seed, the same answer; another seed, another draw.
    assert compare_returns(right, market, periods_per_year=PERIODS) == compare_returns(
        right, market, periods_per_year=PERIODS
    )
    a, b = persistent_pair(1000, 0.0, 9)
    first = compare_returns(a, b, seed=1)
    assert compare_returns(a, b, seed=2).p_value != first.p_value
    assert isinstance(first, Comparison) and first.to_json()["metric"] == "sharpe"


def test_only_bars_both_series_have_are_compared() -> None:
    a, b = persistent_pair(400, 0.0, 10)
    a[:50] = np.nan
    b[-10:] = np.nan
    comparison = compare_returns(a, b, metric="total_return", block_length=3.0)
    assert comparison.bars == 340 and comparison.block_length == 3.0
    assert comparison.candidate == pytest.approx(total_return(a[50:-10]))


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"resamples": 0}, InvalidArgumentError, "resamples must be at least 1"),
        ({"resamples": -5}, InvalidArgumentError, "resamples must be at least 1, got -5"),
        ({"seed": -1}, InvalidArgumentError, "seed must be an integer from 0 to 2**64 - 1"),
        ({"block_length": 0.5}, InvalidArgumentError, "block_length must be a number of bars"),
        ({"periods_per_year": 0.0}, InvalidArgumentError, "periods_per_year must be positive"),
    ],
)
def test_bad_options_are_refused_naming_them(
    options: dict[str, float], error: type[Exception], message: str
) -> None:
    a, b = persistent_pair(200, 0.0, 11)
    with pytest.raises(error) as refused:
        compare_returns(a, b, **options)  # type: ignore[arg-type]
    assert str(refused.value).startswith(message.replace(" positive", " a positive number"))


def test_series_that_cannot_be_paired_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="got 3 and 2"):
        compare_returns(np.zeros(3), np.zeros(2))
    with pytest.raises(InvalidInputError, match="0 bar"):
        compare_returns(np.full(5, np.nan), np.zeros(5))
    with pytest.raises(InvalidInputError, match="automatic block length needs more bars"):
        compare_returns(np.arange(6.0), np.zeros(6))


@pytest.mark.parametrize("metric", ["sharpe", "total_return", "max_drawdown"])
def test_the_metrics_compared_are_the_scores_own(metric: str) -> None:
    """Over every bar of a row's returns, the bootstrap's observed value is the score's."""
    from atb_prediction.backtest import SweepResult
    from atb_prediction.backtest.scores import score_result

    rng = np.random.default_rng(12)
    bars = 800
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, bars)))
    direction = np.sign(rng.normal(size=(2, bars))).astype(np.int8)
    result = SweepResult(
        symbol="BTCUSDT", model_type="basic", versions=("a", "b"),
        price=np.tile(close, (2, 1)), confidence=np.full((2, bars), 0.5),
        direction=direction, probabilities=None, timestamps=None, live_version=None,
        windows=(bars, bars), elapsed=(0.0, 0.0), price_units=(False, False), close=close,
        timeframe="1h", classifiers=(False, False),
    )  # fmt: skip
    scores = score_result(result, fee_bps=1.0, returns=True)
    assert scores.returns is not None
    comparison = compare_returns(
        scores.returns[0], scores.returns[1], metric=metric, periods_per_year=PERIODS,
        resamples=10,
    )  # fmt: skip
    assert comparison.bars == bars - 1 and float(scores.exposure[0]) == 1.0
    assert comparison.candidate == pytest.approx(float(getattr(scores, metric)[0]), rel=1e-12)
    assert comparison.reference == pytest.approx(float(getattr(scores, metric)[1]), rel=1e-12)


def test_a_series_that_is_not_one_return_per_bar_is_named() -> None:
    flat, grid = np.zeros(10), np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"^candidate must be one return per bar \(1-D\)"):
        compare_returns(grid, flat)
    with pytest.raises(ValueError, match=r"^reference must be one return per bar \(1-D\)"):
        compare_returns(flat, grid)
    with pytest.raises(ValueError, match=r"^values must be one return per bar \(1-D\), got sh"):
        ours_block_length(grid)


def test_without_periods_per_year_the_sharpe_is_per_bar() -> None:
    rng = np.random.default_rng(3)
    candidate, reference = rng.normal(0.01, 0.02, 300), rng.normal(0.0, 0.02, 300)
    per_bar = compare_returns(candidate, reference, resamples=99)
    assert per_bar.candidate == pytest.approx(candidate.mean() / candidate.std(ddof=1))
    yearly = compare_returns(candidate, reference, resamples=99, periods_per_year=4.0)
    assert yearly.candidate == pytest.approx(2.0 * per_bar.candidate)
