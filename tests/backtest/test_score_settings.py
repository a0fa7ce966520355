"""Scoring settings no score can be computed with are refused by name, with a ``ValueError``,
by ``score()``, ``returns()``, the gate and the one shared check, before any work: any horizon
that leaves nothing to judge (0, negative, the series' length or more, beyond 64 bits), a
negative or non-finite fee, thresholds that are not numbers or cross."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from atb_prediction.backtest import Gate
from atb_prediction.backtest.scores import check_settings
from atb_prediction.models.exceptions import InvalidArgumentError
from sweep_helpers import RIGHT, WRONG, random_walk, signal_bars, signal_registry, sweep_result

BAD: list[tuple[dict[str, Any], str]] = [
    ({"horizon": 0}, "horizon must be at least 1 bar, got 0"),
    ({"horizon": -1}, "horizon must be at least 1 bar, got -1"),
    ({"horizon": -(2**64)}, "horizon must be at least 1 bar, got -18446744073709551616"),
    ({"horizon": 2**64 - 1}, "horizon 18446744073709551615 leaves no bar to judge"),
    ({"horizon": 2**200}, r"horizon 2\*\*127 or more leaves no bar to judge"),
    ({"horizon": 50}, "horizon 50 leaves no bar to judge: the series has 50 bars"),
    ({"fee_bps": -1.0}, "fee_bps must be a finite number of basis points, 0 or more, got -1"),
    ({"fee_bps": -1e-12}, "fee_bps must be .* 0 or more"),
    ({"fee_bps": float("nan")}, "fee_bps must be a finite number"),
    ({"fee_bps": float("inf")}, "fee_bps must be a finite number"),
    ({"long_threshold": float("nan")}, "long_threshold must be a finite predicted return"),
    ({"short_threshold": float("-inf")}, "short_threshold must be a finite predicted return"),
    ({"long_threshold": -0.01}, r"short_threshold \(-0.0005\) must not be above long_threshold"),
    ({"periods_per_year": 0.0}, "periods_per_year must be a positive number"),
    ({"min_bars": -1}, "min_bars must be a whole number, 0 or more, got -1"),
]


@pytest.mark.parametrize(("setting", "message"), BAD, ids=[m[:30] for _, m in BAD])
def test_score_refuses_a_bad_setting_by_name(setting: dict[str, Any], message: str) -> None:
    result = sweep_result(np.full(50, 100.0), random_walk(50))
    arguments = dict(setting)
    if "periods_per_year" not in arguments:
        with pytest.raises(InvalidArgumentError, match=message):
            result.score(**arguments)
    with pytest.raises(ValueError, match=message):
        check_settings(bars=50, **arguments)


def test_the_boundaries_are_accepted() -> None:
    result = sweep_result(np.full(50, 100.0), random_walk(50))
    assert result.score(horizon=49).bars[0] == 1
    assert result.score(fee_bps=0.0, long_threshold=0.001, short_threshold=0.001).bars[0] == 49
    check_settings(horizon=2**64)  # no series yet: only the lower bound is known
    check_settings(min_bars=0)


def test_returns_refuse_a_negative_fee() -> None:
    result = sweep_result(np.full(50, 100.0), random_walk(50))
    with pytest.raises(InvalidArgumentError, match=r"fee_bps must be .* 0 or more, got -2"):
        result.returns(fee_bps=-2.0)


def test_the_gate_refuses_a_bad_setting_before_any_sweep(tmp_path: Path) -> None:
    root = signal_registry(tmp_path / "registry", production=WRONG)
    # No version of the registry can be swept over these bars: the refusal must come first.
    bars = signal_bars().rename(columns={"signal": "other"})
    for setting, message in (
        ({"fee_bps": -1.0}, "fee_bps must be .* 0 or more, got -1"),
        ({"fee_bps": float("nan")}, "fee_bps must be a finite number"),
        ({"horizon": -1}, "horizon must be at least 1 bar, got -1"),
        ({"horizon": 2**64 - 1}, "horizon 18446744073709551615 leaves no bar to judge"),
        ({"horizon": len(bars)}, f"the series has {len(bars)} bars"),
    ):
        with pytest.raises(InvalidArgumentError, match=message):
            Gate(bars, **setting).evaluate(root, "BTCUSDT", "basic", RIGHT, WRONG)
