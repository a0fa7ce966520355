"""``SweepResult``: what a sweep returns, with a pandas view and a picture."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from atb_prediction.backtest.scores import AS_LIVE, BUY_AND_HOLD, SweepScores, score_result
from atb_prediction.metrics import LONG_THRESHOLD, MIN_BARS, SHORT_THRESHOLD

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
        long_threshold: float = LONG_THRESHOLD,
        short_threshold: float = SHORT_THRESHOLD,
        min_bars: int = MIN_BARS,
    ) -> SweepScores:
        """Which version would have earned most: one row of scores per version, then
        ``"buy-and-hold"`` (the benchmark), then ``"as-live"`` for an as-live sweep (whichever
        version was live at each bar), computed in Rust in one pass per row with the GIL
        released.

        Columns: ``bars``, ``hit_rate``, ``mae``, ``rmse``, ``total_return``, ``sharpe``,
        ``max_drawdown``, ``turnover``, ``exposure``. A version whose prices are in price units
        (:attr:`price_units`) trades live's rule (upstream's ``MLBasicSignalGenerator``): long
        when its predicted return ``(price[t] - close[t]) / close[t]`` is above
        ``long_threshold``, short when below ``short_threshold``, no position in between; any
        other version trades its direction. The strategy holds that position from close ``t``
        to close ``t + 1``, paying ``fee_bps`` per unit of position changed. Buy-and-hold is
        long from the first bar at which any version predicts, paying one entry. Bars whose
        close (or close ``horizon`` bars ahead) is not a positive number are skipped, with a
        warning. See ``src/core/backtest/score.rs`` for every definition; :meth:`returns` gives the
        per-bar returns the metrics are computed from.

        Args:
            close: One close per bar; the ``close`` column of the bars swept by default.
            horizon: Bars ahead that the hit rate and the price errors are judged against.
            fee_bps: Cost of changing the position by one unit, in basis points (0 or more).
            periods_per_year: Bars per year for the Sharpe ratio. By default the bars a year
                the series' times show, whatever the versions' timeframe: its bars over its
                span in 365-day years (continuous bars 1h apart: 8,760; 4h: 2,190; 1d: 365;
                daily equities about 252, as they trade); without times, the timeframe's.
                The scores say which they used (:attr:`SweepScores.periods_per_year`).
            long_threshold: Predicted return above which a version in price units goes long
                (upstream's ``LONG_ENTRY_THRESHOLD``, 0.0, by default).
            short_threshold: Predicted return below which it goes short (upstream's
                ``SHORT_ENTRY_THRESHOLD``, -0.0005, by default); at most ``long_threshold``.
            min_bars: The fewest scored bars a row needs to be ranked by
                :meth:`SweepScores.rows` (:data:`atb_prediction.metrics.MIN_BARS` by default).

        Raises:
            ValueError: no close (the series had no ``close`` column and none was given), a
                close of the wrong length, neither times nor a known timeframe;
                ``InvalidArgumentError`` (a ``ValueError``) for a horizon below 1 or not below
                the number of bars, a negative or non-finite fee, a non-finite threshold or a
                short threshold above the long one, a negative ``min_bars``.
        """
        return score_result(
            self,
            close,
            horizon=horizon,
            fee_bps=fee_bps,
            periods=periods_per_year,
            long_threshold=long_threshold,
            short_threshold=short_threshold,
            min_bars=min_bars,
        )

    def returns(
        self,
        close: npt.ArrayLike | None = None,
        *,
        fee_bps: float = 0.0,
        long_threshold: float = LONG_THRESHOLD,
        short_threshold: float = SHORT_THRESHOLD,
    ) -> Any:
        """The per-bar strategy returns of every row, as a pandas DataFrame for the tools quants
        already use (quantstats, empyrical, pyfolio): one column per version, then
        ``"buy-and-hold"``, then ``"as-live"`` for an as-live sweep; one row per bar but the
        first, indexed by the UTC time of the close the return runs to (by bar number when the
        sweep has no times). :meth:`score`'s ``total_return``, ``sharpe``, ``max_drawdown`` and
        ``turnover`` are exactly the standard statistics of these columns (compounded return,
        mean over standard deviation with ``ddof=1`` times the square root of the periods per
        year, the largest fall from the running peak of ``cumprod(1 + r)``).
        """
        import importlib

        pd: Any = importlib.import_module("pandas")
        scores = score_result(
            self,
            close,
            fee_bps=fee_bps,
            # The returns do not depend on the annualisation or the horizon; any valid value.
            periods=1.0,
            long_threshold=long_threshold,
            short_threshold=short_threshold,
            returns=True,
        )
        assert scores.returns is not None
        index = (
            pd.DatetimeIndex(self.timestamps[1:], name="timestamp").tz_localize("UTC")
            if self.timestamps is not None
            else pd.RangeIndex(1, self.bars, name="bar")
        )
        return pd.DataFrame(
            {name: scores.returns[row] for row, name in enumerate(scores.versions)}, index=index
        )

    def plot(
        self,
        close: npt.ArrayLike | None = None,
        path: str | os.PathLike[str] | None = None,
        *,
        horizon: int = 1,
        fee_bps: float = 0.0,
        long_threshold: float = LONG_THRESHOLD,
        short_threshold: float = SHORT_THRESHOLD,
        series: str | None = None,
    ) -> Any:
        """Two panels sharing the time axis: the close with each version's predicted price (for
        versions whose prices are in price units; for ``"as-live"``, each version drawn bold
        where it was live), and each row's cumulative strategy return (:meth:`score`): the
        versions, buy-and-hold dashed, the as-live composite in bold. Stretches where no
        version was live (predicted) are shaded. The title names the series (the symbol, and the
        ``series`` file or name when given), the fee, the horizon and the thresholds.

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
        scores = None
        if closes is not None:
            scores = score_result(
                self,
                closes,
                horizon=horizon,
                fee_bps=fee_bps,
                long_threshold=long_threshold,
                short_threshold=short_threshold,
                equity=True,
            )
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
        title = f"{self.symbol}/{self.model_type} " + (f"over {series}" if series else "sweep")
        if scores is not None:
            title += (
                f": fee {fee_bps:g} bps, horizon {horizon}, long above {long_threshold:g}, "
                f"short below {short_threshold:g}"
            )
        if self.live_version is not None:
            title += " (bold: live)"
        prices.set_title(title, fontsize="medium")
        prices.legend(loc="best", fontsize="small")
        if scores is not None:
            returns = axes[1]
            assert scores.equity is not None
            for row, name in enumerate(scores.versions):
                style: dict[str, Any] = {"lw": 1.0}
                if name == AS_LIVE:
                    style = {"lw": 2.2, "color": "black"}
                elif name == BUY_AND_HOLD:
                    style = {"lw": 1.4, "color": "grey", "ls": "--"}
                returns.plot(x[1:], scores.equity[row] - 1.0, label=name, **style)
            returns.axhline(0.0, color="grey", lw=0.5)
            returns.set_ylabel("cumulative return")
            returns.legend(loc="best", fontsize="small")
        for first, last in _runs(self._nothing_live()):
            for axis in axes:
                axis.axvspan(x[first], x[last], color="grey", alpha=0.15, lw=0)
        if self.timestamps is not None:
            from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

            locator = AutoDateLocator()  # type: ignore[no-untyped-call]
            formatter = ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
            axes[-1].xaxis.set_major_locator(locator)
            axes[-1].xaxis.set_major_formatter(formatter)
        if path is not None:
            figure.savefig(os.fspath(path), format="png")
        return figure

    def _nothing_live(self) -> npt.NDArray[np.bool_]:
        """Per bar, whether no version was live: for an as-live sweep, none had been promoted
        yet; otherwise, none had a prediction."""
        if self.live_version is not None:
            return np.asarray(self.live_version < 0)
        return np.asarray(np.isnan(self.confidence).all(axis=0))


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """The first and last index of each run of True in ``mask``."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]
