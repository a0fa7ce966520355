"""``SweepResult.plot``: buy-and-hold as its own line beside the versions, a title that says what
was scored and how, and the stretches where no version was live shaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pytest
from atb_prediction.backtest.scores import AS_LIVE, BUY_AND_HOLD
from sweep_helpers import random_walk, sweep_result


def test_the_picture_shows_the_benchmark_the_settings_and_when_nothing_was_live(
    tmp_path: Path,
) -> None:
    close = random_walk(200)
    price = np.vstack([close * 1.001, close * 0.999])
    live = np.full(200, -1)
    live[40:100] = 0
    live[130:] = 1  # nothing live before bar 40, nor from 100 to 129
    price[0, live != 0] = np.nan
    price[1, live != 1] = np.nan
    result = sweep_result(price, close, live_version=live)
    settings = {"fee_bps": 2.5, "horizon": 3, "long_threshold": 0.001, "short_threshold": -0.002}
    figure = result.plot(path=tmp_path / "sweep.png", series="bars.csv", **settings)
    prices, returns = figure.axes
    title = prices.get_title()
    for part in (
        "BTCUSDT/basic over bars.csv",
        "fee 2.5 bps",
        "horizon 3",
        "long above 0.001",
        "short below -0.002",
    ):
        assert part in title, title
    labels = returns.get_legend_handles_labels()[1]
    assert labels == [*result.versions, BUY_AND_HOLD, AS_LIVE]
    held = returns.get_lines()[labels.index(BUY_AND_HOLD)]
    expected = result.score(**settings)
    assert held.get_ydata()[-1] == pytest.approx(expected.row(BUY_AND_HOLD)["total_return"])
    assert held.get_linestyle() == "--"
    # One shaded span per stretch with nothing live, on both panels, from its first bar to its
    # last.
    times = mdates.date2num(result.timestamps)
    for axis in (prices, returns):
        spans = sorted(_span(patch) for patch in axis.patches)
        assert spans == [
            (round(times[0], 6), round(times[39], 6)),
            (round(times[100], 6), round(times[129], 6)),
        ]


def test_without_a_series_name_the_title_names_the_symbol() -> None:
    close = random_walk(50)
    figure = sweep_result(close * 1.001, close).plot()
    assert figure.axes[0].get_title().startswith("BTCUSDT/basic sweep: fee 0 bps, horizon 1")
    assert not figure.axes[0].patches  # a version predicted at every bar: nothing shaded


def _span(patch: Any) -> tuple[float, float]:
    """A vertical span's first and last x: a Rectangle (matplotlib 3.9 on) or a Polygon."""
    if hasattr(patch, "get_width"):
        return round(patch.get_x(), 6), round(patch.get_x() + patch.get_width(), 6)
    xs = np.asarray(patch.get_xy())[:, 0]
    return round(float(xs.min()), 6), round(float(xs.max()), 6)
