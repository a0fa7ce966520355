"""``SweepResult``: what a sweep returns, with a pandas view and a picture."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from atb_prediction.backtest.scores import AS_LIVE, SweepScores, score_result

__all__ = ["SweepResult", "VersionSummary"]


@dataclass(frozen=True)
class VersionSummary:
    """One version's line of a sweep summary."""

    version_id: str
    bars: int
    """Bars the version was asked for (for ``"as-live"``, the bars it was live)."""
    windows: int
    """Bars with a full, finite window: the defined predictions."""
    mean_confidence: float
    down: int
    flat: int
    up: int
    seconds: float


@dataclass(frozen=True, eq=False)
class SweepResult:
    """Every version's prediction at every bar of a series.

    Row ``v`` of each array belongs to ``versions[v]``; column ``t`` to bar ``t``, predicted from
    the window of bars ``t - seq + 1 .. t``. Undefined predictions (no full window, NaN in the
    window, or, for ``"as-live"``, another version live) are NaN with direction 0.
    """

    symbol: str
    model_type: str
    versions: tuple[str, ...]
    price: npt.NDArray[np.float64]
    """``[versions, bars]``; NaN for classifiers."""
    confidence: npt.NDArray[np.float64]
    """``[versions, bars]``."""
    direction: npt.NDArray[np.int8]
    """``[versions, bars]``: 1, 0 or -1."""
    probabilities: npt.NDArray[np.float64] | None
    """``[versions, bars, classes]`` for classifiers, else ``None``."""
    timestamps: npt.NDArray[np.datetime64] | None
    """One UTC time per bar, when known."""
    live_version: npt.NDArray[np.int64] | None
    """For ``"as-live"``: per bar, the row of the version live then (-1: none was)."""
    windows: tuple[int, ...]
    """Per version, the windows run."""
    elapsed: tuple[float, ...]
    """Per version, the wall time of its run in seconds."""
    price_units: tuple[bool, ...] = ()
    """Per version, whether ``price`` is in price units (mapped back by ``price_normalization``'s
    mean/std, or with the bars' target column for ``rolling_minmax``) rather than the model's
    own scaled output."""
    close: npt.NDArray[np.float64] | None = None
    """The series' ``close`` column, when it has one by name."""
    timeframe: str | None = None
    """The timeframe of the versions swept."""
    classifiers: tuple[bool, ...] = ()
    """Per version, whether it is a classifier (its price is NaN by design)."""

    @property
    def bars(self) -> int:
        """The number of bars."""
        return int(self.price.shape[1])

    def summary(self) -> list[VersionSummary]:
        """Per version: bars, defined windows, mean confidence, direction counts, wall time."""
        lines = []
        for row, version_id in enumerate(self.versions):
            defined = ~np.isnan(self.confidence[row])
            direction = self.direction[row]
            bars = (
                int(np.count_nonzero(self.live_version == row))
                if self.live_version is not None
                else self.bars
            )
            lines.append(
                VersionSummary(
                    version_id=version_id,
                    bars=bars,
                    windows=int(np.count_nonzero(defined)),
                    mean_confidence=float(self.confidence[row][defined].mean())
                    if defined.any()
                    else float("nan"),
                    down=int(np.count_nonzero(defined & (direction < 0))),
                    flat=int(np.count_nonzero(defined & (direction == 0))),
                    up=int(np.count_nonzero(defined & (direction > 0))),
                    seconds=self.elapsed[row],
                )
            )
        return lines

    def to_pandas(self) -> Any:
        """A DataFrame with one row per bar (indexed by timestamp when known) and columns
        ``(field, version)``: ``price``, ``confidence``, ``direction`` and, for classifiers,
        ``p<class>``; plus ``("live_version", "")`` naming the live version for ``"as-live"``.
        """
        import importlib

        pd: Any = importlib.import_module("pandas")

        columns: dict[tuple[str, str], Any] = {}
        for field in ("price", "confidence", "direction"):
            values = getattr(self, field)
            for row, version_id in enumerate(self.versions):
                columns[(field, version_id)] = values[row]
        if self.probabilities is not None:
            for k in range(self.probabilities.shape[2]):
                for row, version_id in enumerate(self.versions):
                    columns[(f"p{k}", version_id)] = self.probabilities[row, :, k]
        if self.live_version is not None:
            names = np.array([*self.versions, None], dtype=object)
            columns[("live_version", "")] = names[self.live_version]
        index = (
            pd.DatetimeIndex(self.timestamps, name="timestamp").tz_localize("UTC")
            if self.timestamps is not None
            else pd.RangeIndex(self.bars, name="bar")
        )
        frame = pd.DataFrame(columns, index=index)
        frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["field", "version"])
        return frame

    def score(
        self,
        close: npt.ArrayLike | None = None,
        *,
        horizon: int = 1,
        fee_bps: float = 0.0,
        periods_per_year: float | None = None,
    ) -> SweepScores:
        """Which version would have earned most: one row of scores per version (and
        ``"as-live"`` for an as-live sweep: whichever version was live at each bar), computed in
        Rust in one pass per row with the GIL released.

        Columns: ``bars``, ``hit_rate``, ``mae``, ``rmse``, ``total_return``, ``sharpe``,
        ``max_drawdown``, ``turnover``. A version's signal at bar ``t`` is ``sign(price[t] -
        close[t])`` when its prices are in price units (:attr:`price_units`), else its
        direction; the strategy holds that position from close ``t`` to close ``t + 1``, paying
        ``fee_bps`` per unit of position changed. See ``src/core/backtest/score.rs`` for every
        definition.

        Args:
            close: One close per bar; the ``close`` column of the bars swept by default.
            horizon: Bars ahead that the hit rate and the price errors are judged against.
            fee_bps: Cost of changing the position by one unit, in basis points.
            periods_per_year: Bars per year for the Sharpe ratio; from :attr:`timeframe` by
                default (``1h`` 8760, ``4h`` 2190, ``1d`` 365, ``Nm`` 525600 / N).

        Raises:
            ValueError: no close (the series had no ``close`` column and none was given), a
                close of the wrong length, an unknown timeframe, or a bad horizon or fee.
        """
        return score_result(self, close, horizon=horizon, fee_bps=fee_bps, periods=periods_per_year)

    def plot(
        self,
        close: npt.ArrayLike | None = None,
        path: str | os.PathLike[str] | None = None,
        *,
        horizon: int = 1,
        fee_bps: float = 0.0,
    ) -> Any:
        """Two panels sharing the time axis: the close with each version's predicted price (for
        versions whose prices are in price units; for ``"as-live"``, each version drawn bold
        where it was live), and each version's cumulative strategy return (:meth:`score`) with
        the as-live composite in bold.

        ``close`` is the sweep's own close column by default; without one, only the predictions
        are drawn. Returns the matplotlib figure; ``path`` also saves it as PNG. Needs the
        ``plot`` extra (``pip install "atb-prediction[plot]"``).
        """
        try:
            # The Figure class alone, not pyplot: no GUI backend, no global state.
            from matplotlib.figure import Figure
        except ImportError as error:
            raise ImportError(
                'SweepResult.plot needs matplotlib: pip install "atb-prediction[plot]"'
            ) from error
        closes = self.close if close is None else np.ascontiguousarray(close, dtype=np.float64)
        x: Any = self.timestamps if self.timestamps is not None else np.arange(self.bars)
        figure = Figure(figsize=(10, 6 if closes is not None else 4), layout="constrained")
        rows = 2 if closes is not None else 1
        axes = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
        prices = axes[0]
        units = self.price_units or tuple(False for _ in self.versions)
        if closes is not None:
            prices.plot(x, closes, color="black", lw=1.2, label="close")
        for row, version_id in enumerate(self.versions):
            if closes is not None and not units[row]:
                continue  # a scaled output on a price axis would flatten everything else
            values = self.price[row] if units[row] else self.confidence[row]
            (line,) = prices.plot(x, values, lw=0.8, alpha=0.5, label=version_id)
            if self.live_version is not None:
                live = np.where(self.live_version == row, values, np.nan)
                prices.plot(x, live, lw=2.0, color=line.get_color())
        prices.set_ylabel("price" if closes is not None else "prediction")
        title = f"{self.symbol}/{self.model_type} sweep"
        if self.live_version is not None:
            title += " (bold: live)"
        prices.set_title(title)
        prices.legend(loc="best", fontsize="small")
        if closes is not None:
            scores = score_result(self, closes, horizon=horizon, fee_bps=fee_bps, equity=True)
            returns = axes[1]
            assert scores.equity is not None
            for row, name in enumerate(scores.versions):
                bold = name == AS_LIVE
                returns.plot(
                    x[1:],
                    scores.equity[row] - 1.0,
                    lw=2.2 if bold else 1.0,
                    color="black" if bold else None,
                    label=name,
                )
            returns.axhline(0.0, color="grey", lw=0.5)
            returns.set_ylabel("cumulative return")
            returns.legend(loc="best", fontsize="small")
        if self.timestamps is not None:
            from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

            locator = AutoDateLocator()  # type: ignore[no-untyped-call]
            formatter = ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
            axes[-1].xaxis.set_major_locator(locator)
            axes[-1].xaxis.set_major_formatter(formatter)
        if path is not None:
            figure.savefig(os.fspath(path), format="png")
        return figure
