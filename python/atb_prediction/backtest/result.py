"""``SweepResult``: what a sweep returns, with a pandas view and a picture."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

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

    def plot(
        self,
        close: npt.ArrayLike | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> Any:
        """Each version's predicted price (and the bar ``close`` when given) on a shared time
        axis, with a band showing which version was live at each time for ``"as-live"``.

        Returns the matplotlib figure; ``path`` also saves it as PNG. Needs the ``plot`` extra
        (``pip install "atb-prediction[plot]"``).
        """
        try:
            # The Figure class alone, not pyplot: no GUI backend, no global state.
            from matplotlib.figure import Figure
        except ImportError as error:
            raise ImportError(
                'SweepResult.plot needs matplotlib: pip install "atb-prediction[plot]"'
            ) from error
        x: Any = self.timestamps if self.timestamps is not None else np.arange(self.bars)
        band = self.live_version is not None
        figure = Figure(figsize=(10, 5 if band else 4), layout="constrained")
        axes = figure.subplots(
            2 if band else 1,
            1,
            sharex=True,
            squeeze=False,
            gridspec_kw={"height_ratios": [5, 1]} if band else None,
        )[:, 0]
        prices = axes[0]
        if close is not None:
            prices.plot(x, np.asarray(close, dtype=np.float64), color="black", lw=1, label="close")
        for row, version_id in enumerate(self.versions):
            values = (
                self.price[row] if not np.isnan(self.price[row]).all() else self.confidence[row]
            )
            prices.plot(x, values, lw=1, label=version_id)
        prices.set_ylabel("predicted price")
        prices.set_title(f"{self.symbol}/{self.model_type} sweep")
        prices.legend(loc="best", fontsize="small")
        if self.live_version is not None:
            live = axes[1]
            live.step(x, np.where(self.live_version < 0, np.nan, self.live_version), where="post")
            live.set_yticks(range(len(self.versions)), self.versions, fontsize="small")
            live.set_ylim(-0.5, len(self.versions) - 0.5)
            live.set_ylabel("live")
        if path is not None:
            figure.savefig(os.fspath(path), format="png")
        return figure
