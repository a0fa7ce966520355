"""The evidence a gated promotion asks for: the candidate must beat the current production
version and buy-and-hold over the gate's bars, by more than luck.

Both versions are the bundles the promotion opened once through its index
(:meth:`Gate.evaluate_bundles`): each runs the very bytes it was read (and checked) from, and
the evidence names those bytes by their sha256. They are swept over the same bars (raw OHLCV or
named features) and scored with live's signal rule (:mod:`atb_prediction.backtest.scores`),
which gives each row's per-bar strategy returns, buy-and-hold's among them. The candidate is
then compared with production, and with buy-and-hold, over the bars both rows of the pair
score, by a paired stationary block bootstrap of the chosen metric's difference
(:mod:`atb_prediction.backtest.bootstrap`). It passes only when it beats both with a p-value
of at most ``alpha``, over at least ``min_bars`` bars each.

:func:`atb_prediction.promotion.promote` takes a :class:`Gate` and journals its evidence,
passed or forced; promotion itself never imports the backtest machinery.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from atb_prediction import _core
from atb_prediction.backtest.bootstrap import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Comparison,
    compare_returns,
)
from atb_prediction.backtest.scores import BUY_AND_HOLD, SweepScores, check_settings, score_result
from atb_prediction.backtest.series import Series, as_series
from atb_prediction.backtest.sweeping import sweep_opened
from atb_prediction.metrics import (
    DEFAULT_ALPHA,
    LONG_THRESHOLD,
    MIN_BARS,
    SHORT_THRESHOLD,
    better_direction,
)
from atb_prediction.models.exceptions import InvalidArgumentError, InvalidInputError
from atb_prediction.promotion.gate import format_value

if TYPE_CHECKING:
    from atb_prediction._core import LoadedBundle

__all__ = ["Gate"]


@dataclass(frozen=True)
class Gate:
    """What a promotion must win: production and buy-and-hold, each by more than luck.

    Args:
        bars: The series both versions are swept over: anything ``sweep`` takes (a DataFrame of
            raw OHLCV bars or of named features, a mapping, a numpy array), with a ``close``
            column unless ``close`` is given. Columns that hold no numbers are left out.
        metric: The metric of the strategy's returns compared: ``sharpe`` (the default),
            ``total_return`` or ``max_drawdown`` (better when lower).
        horizon: Bars ahead the hit rate and price errors are judged against.
        fee_bps: Cost per unit of position changed, in basis points.
        close: One close per bar, when ``bars`` has no ``close`` column.
        series_sha256: The digest journaled for the series; by default the sha256 of the
            series' times, and of the names and values of its numeric columns (the command line
            passes the digest of its file's bytes).
        long_threshold, short_threshold: Live's signal rule for versions in price units: long
            above the first predicted return, short below the second.
        alpha: The largest p-value that passes, for each comparison.
        min_bars: The fewest bars each comparison must cover.
        resamples: Resamples of each bootstrap.
        block_length: Mean block length in bars; by default Politis and White's automatic
            choice, per comparison.
        seed: Seeds the resamples (the same bars and seed, the same p-values).
        periods_per_year: Bars a year for the Sharpe ratio; by default the bars a year the
            bars' times show (else the timeframe's), as :meth:`SweepResult.score` does.
    """

    bars: object
    metric: str = "sharpe"
    horizon: int = 1
    fee_bps: float = 0.0
    close: Any = None
    series_sha256: str | None = field(default=None)
    long_threshold: float = LONG_THRESHOLD
    short_threshold: float = SHORT_THRESHOLD
    alpha: float = DEFAULT_ALPHA
    min_bars: int = MIN_BARS
    resamples: int = DEFAULT_RESAMPLES
    block_length: float | None = None
    seed: int = DEFAULT_SEED
    periods_per_year: float | None = None

    def check(self, bars: int | None = None) -> None:
        """Refuses settings the gate cannot run with, naming the setting, before any work.

        Raises:
            InvalidArgumentError: (a ``ValueError``) a metric that is not one of the returns,
                a bad scoring setting, an ``alpha`` outside (0, 1), or bad bootstrap options.
        """
        better_direction(self.metric)
        _core.check_bootstrap(
            metric=self.metric,
            resamples=self.resamples,
            block_length=self.block_length,
            seed=self.seed,
        )
        check_settings(
            horizon=self.horizon,
            fee_bps=self.fee_bps,
            long_threshold=self.long_threshold,
            short_threshold=self.short_threshold,
            periods_per_year=self.periods_per_year,
            min_bars=self.min_bars,
            bars=bars,
        )
        if isinstance(self.alpha, bool) or not (
            isinstance(self.alpha, int | float) and 0.0 < self.alpha < 1.0
        ):
            raise InvalidArgumentError(
                f"alpha must be a p-value between 0 and 1 (0.05 is 5%), got {self.alpha!r}"
            )

    def evaluate(
        self,
        root: str | os.PathLike[str],
        symbol: str,
        model_type: str,
        candidate: str,
        production: str | None,
    ) -> dict[str, Any]:
        """:meth:`evaluate_bundles` of two versions of the registry at ``root``, each opened
        once through a scan of their model type (no other bundle is opened).

        Raises:
            ModelNotAvailableError: no such version.
            ModelLoadError: a version's folder is unreadable or its model does not open.
        """
        from atb_prediction.models.opening import open_versions
        from atb_prediction.models.scanning import scan_registry

        self.check()
        index = scan_registry(os.fspath(root), only=(symbol, model_type))
        wanted = [candidate] if production in (None, candidate) else [candidate, production]
        bundles = open_versions(index, symbol, model_type, wanted)
        return self.evaluate_bundles(bundles[0], bundles[1] if len(bundles) > 1 else None)

    def evaluate_bundles(
        self, candidate: LoadedBundle, production: LoadedBundle | None
    ) -> dict[str, Any]:
        """Sweeps and scores ``candidate`` and ``production`` (bundles of one model type,
        already opened) over the gate's bars, and compares the candidate with each of
        production and buy-and-hold; returns the evidence (see :func:`_evidence`), with
        ``passed`` and, when it did not pass, ``refusals`` saying why.

        Raises:
            InvalidArgumentError: a bad setting (:meth:`check`).
            ValueError: a series without close.
            PredictionError: a version cannot be swept over these bars.
        """
        series = self.bars if isinstance(self.bars, Series) else as_series(self.bars, None)
        self.check(series.bars)
        if production is not None and production.key == candidate.key:
            production = None
        bundles = [candidate] if production is None else [candidate, production]
        result = sweep_opened(bundles, series)
        scores = score_result(
            result,
            self.close,
            horizon=self.horizon,
            fee_bps=self.fee_bps,
            periods=self.periods_per_year,
            long_threshold=self.long_threshold,
            short_threshold=self.short_threshold,
            min_bars=self.min_bars,
            returns=True,
        )
        version = candidate.version_id
        tests: dict[str, dict[str, Any] | None] = {"production": None}
        refusals = []
        if production is not None:
            tests["production"] = self._compare(scores, version, production.version_id)
            if not self._passes(tests["production"]):
                against = f"production {production.version_id}"
                refusals.append(self._refusal(against, tests["production"]))
        tests["benchmark"] = self._compare(scores, version, BUY_AND_HOLD)
        if not self._passes(tests["benchmark"]):
            refusals.append(self._refusal(BUY_AND_HOLD, tests["benchmark"]))
        return _evidence(self, series, scores, candidate, production, tests, refusals)

    def _compare(self, scores: SweepScores, candidate: str, reference: str) -> dict[str, Any]:
        """The bootstrap of the metric's difference between two rows, over the bars both
        score; with fewer than ``min_bars`` such bars, only their count."""
        assert scores.returns is not None and scores.scored is not None
        rows = scores.versions
        first, second = rows.index(candidate), rows.index(reference)
        steps = scores.returns.shape[1]
        both = scores.scored[first, :steps] & scores.scored[second, :steps]
        bars = int(np.count_nonzero(both))
        if bars < self.min_bars:
            return {"bars": bars, "p_value": None}
        try:
            comparison = compare_returns(
                _only(scores.returns[first], both),
                _only(scores.returns[second], both),
                metric=self.metric,
                periods_per_year=scores.periods_per_year,
                resamples=self.resamples,
                block_length=self.block_length,
                seed=self.seed,
            )
        except InvalidInputError as error:  # too few bars for the automatic block length
            return {"bars": bars, "p_value": None, "error": str(error)}
        return _comparison_json(comparison)

    def _passes(self, test: dict[str, Any] | None) -> bool:
        """Whether a comparison passes: enough bars, and a p-value of at most ``alpha``."""
        assert test is not None
        p_value = test["p_value"]
        return p_value is not None and test["bars"] >= self.min_bars and p_value <= self.alpha

    def _refusal(self, against: str, test: dict[str, Any] | None) -> str:
        """Why the candidate did not pass one comparison: its value first, then the other's."""
        assert test is not None
        if test["p_value"] is None:
            why = test.get("error") or f"the gate needs at least {self.min_bars:,}"
            return (
                f"not shown better than {against} on {self.metric}: the two have "
                f"{test['bars']:,} scored bars in common; {why}"
            )
        return (
            f"not better than {against} on {self.metric} ({better_direction(self.metric)} is "
            f"better) over the {test['bars']:,} bars both score: {format_value(test['candidate'])} "
            f"against {format_value(test['reference'])}, p = {test['p_value']:.4g} (alpha "
            f"{self.alpha:g})"
        )


def _only(returns: npt.NDArray[np.float64], bars: npt.NDArray[np.bool_]) -> Any:
    """``returns`` with NaN at the bars not compared (the bootstrap pairs the rest)."""
    return np.where(bars, returns, np.nan)


def _comparison_json(comparison: Comparison) -> dict[str, Any]:
    found = comparison.to_json()
    return {key: found[key] for key in ("bars", "candidate", "reference", "p_value",
                                          "block_length")}  # fmt: skip


def _evidence(
    gate: Gate,
    series: Series,
    scores: SweepScores,
    candidate: LoadedBundle,
    production: LoadedBundle | None,
    tests: dict[str, dict[str, Any] | None],
    refusals: list[str],
) -> dict[str, Any]:
    """The evidence a promotion journals: the verdict and why; the candidate's, production's
    and buy-and-hold's rows of scores (``benchmark`` with its p-value); ``p_value`` against
    production; each comparison (``comparisons``: bars compared, both values, p-value, block
    length); the settings (metric, horizon, fee, thresholds, alpha, min_bars, resamples, block
    length asked for, seed); and the sha256 of the series and of both models as swept."""
    against_production, against_benchmark = tests["production"], tests["benchmark"]
    assert against_benchmark is not None
    benchmark = {**_json_row(scores.row(BUY_AND_HOLD)), "p_value": against_benchmark["p_value"]}
    return {
        "metric": gate.metric,
        "better": better_direction(gate.metric),
        "passed": not refusals,
        "refusals": refusals,
        "candidate": _json_row(scores.row(candidate.version_id)),
        "production": None if production is None else _json_row(scores.row(production.version_id)),
        "benchmark": benchmark,
        "p_value": None if against_production is None else against_production["p_value"],
        "comparisons": tests,
        "bars": series.bars,
        "horizon": gate.horizon,
        "fee_bps": float(gate.fee_bps),
        "long_threshold": float(gate.long_threshold),
        "short_threshold": float(gate.short_threshold),
        "alpha": float(gate.alpha),
        "min_bars": gate.min_bars,
        "resamples": gate.resamples,
        "block_length": gate.block_length,
        "seed": gate.seed,
        "periods_per_year": scores.periods_per_year,
        "series_sha256": gate.series_sha256 or _digest(series),
        "candidate_sha256": candidate.model_sha256,
        "production_sha256": None if production is None else production.model_sha256,
    }


def _digest(series: Series) -> str:
    """The sha256 of a series' timestamps, and of the names and values of its numeric columns
    (the columns a sweep can read; a text column such as ``symbol`` is left out)."""
    digest = hashlib.sha256()
    if series.timestamps is not None:
        digest.update(series.timestamps.tobytes())
    if series.frame is not None:
        frame: Any = series.frame
        numeric = [
            position
            for position, dtype in enumerate(frame.dtypes)
            if getattr(dtype, "kind", "O") in "iuf"
        ]
        names = [frame.columns[position] for position in numeric]
        values = series.values(numeric)
    else:
        names, values = list(series.names or ()), series.values(None)
    digest.update(repr(names).encode())
    digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    """A score row for the journal: NaN (not JSON) as ``None``."""
    return {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in row.items()
    }
