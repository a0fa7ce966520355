"""Live's signal rule in the scores: a version whose prices are in price units takes the
position upstream's live strategy would (``tests/data/atb-signal-golden.json``, computed by
upstream's ``MLBasicSignalGenerator.generate_signal``), at the default thresholds and others."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from atb_prediction.metrics import LONG_THRESHOLD, SHORT_THRESHOLD
from sweep_helpers import sweep_result

GOLDEN = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "atb-signal-golden.json").read_text()
)
POSITIONS = {"BUY": 1, "SELL": -1, "HOLD": 0}


def positions(cases_close: list[float], cases_price: list[float], **settings: Any) -> list[int]:
    """The position our scores take at each case, read back from the per-bar returns.

    Each case is a bar followed by a bar without a prediction whose close is 1% higher (100
    after a close that is not a positive number), so the case's own return is ``position *
    1% - fee * |position|``: its sign gives the position, and a position over a step that books
    no return still pays the fee."""
    bars = 2 * len(cases_close)
    close = np.empty(bars)
    price = np.full(bars, np.nan)
    for index, (c, p) in enumerate(zip(cases_close, cases_price, strict=True)):
        close[2 * index] = c
        close[2 * index + 1] = c * 1.01 if np.isfinite(c) and c > 0 else 100.0
        price[2 * index] = p
    invalid = not (np.isfinite(close) & (close > 0)).all()
    with pytest.warns(RuntimeWarning, match="not a positive number") if invalid else nullcontext():
        returns = sweep_result(price, close, start=None).returns(fee_bps=1.0, **settings)
    pnl = returns.iloc[:, 0].to_numpy()[0::2]
    return [int(np.sign(value)) for value in pnl]


def test_the_default_thresholds_are_upstreams() -> None:
    defaults = GOLDEN["upstream_defaults"]
    assert (LONG_THRESHOLD, SHORT_THRESHOLD) == (
        defaults["long_threshold"],
        defaults["short_threshold"],
    )


@pytest.mark.parametrize(
    "setting", GOLDEN["settings"], ids=lambda s: f"{s['long_threshold']},{s['short_threshold']}"
)
def test_a_price_in_price_units_trades_as_live_would(setting: dict[str, Any]) -> None:
    close = [float(value) for value in GOLDEN["close"]]
    price = [float(value) for value in GOLDEN["price"]]
    thresholds = {
        name: setting[name]
        for name in ("long_threshold", "short_threshold")
        if setting[name] is not None
    }
    expected = [POSITIONS[direction] for direction in setting["direction"]]
    got = positions(close, price, **thresholds)
    wrong = [
        (close[i], price[i], setting["direction"][i], got[i])
        for i in range(len(got))
        if got[i] != expected[i]
    ]
    assert not wrong, wrong
    assert set(expected) == {1, -1, 0}  # the cases reach every position


def test_a_version_scored_by_direction_ignores_the_thresholds() -> None:
    close = 100.0 * np.cumprod(np.r_[1.0, np.full(9, 1.01)])
    result = sweep_result(np.full(10, 50.0), close, units=(False,))  # direction +1 at every bar
    for thresholds in ({}, {"long_threshold": 0.5, "short_threshold": 0.4}):
        scores = result.score(**thresholds)
        assert scores.exposure[0] == 1.0 and scores.turnover[0] == pytest.approx(1 / 9)
