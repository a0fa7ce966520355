"""``sweep``: every window of a history through one or more versions of a model type."""

from __future__ import annotations

from typing import TYPE_CHECKING

from atb_prediction.backtest.engine import LocalEngine
from atb_prediction.backtest.planning import VersionSelection, plan_sweep
from atb_prediction.backtest.progress import ProgressBar, Reporter, progress_reporter
from atb_prediction.backtest.result import SweepResult
from atb_prediction.backtest.series import Series, as_series

if TYPE_CHECKING:
    from atb_prediction.models.registry import PredictionModelRegistry

__all__ = ["sweep"]


def sweep(
    registry: PredictionModelRegistry,
    series: object,
    *,
    symbol: str,
    model_type: str,
    timeframe: str | None = None,
    versions: VersionSelection = "production",
    timestamps: object | None = None,
    workers: int | None = None,
    batch_size: int | None = None,
    progress: bool | Reporter | None = None,
) -> SweepResult:
    """Predict at every bar of ``series`` with one or more versions of a model type.

    The prediction at bar ``t`` uses the window ``series[t - seq + 1 : t + 1]`` and equals what
    ``runner.predict`` returns for that window (same normalisation, denormalisation, confidence,
    direction and classification rules). Bars without a full window are NaN (direction 0); so
    are windows holding NaN or infinite values, with a warning.

    Args:
        registry: The registry to take the bundles from.
        series: ``[bars, features]`` floats (C or F order, any float dtype), or a pandas DataFrame
            whose columns are matched to each bundle's ``feature_names`` by name.
        symbol, model_type: The model type to sweep.
        timeframe: Only versions of this timeframe (any by default).
        versions: ``"production"`` (the ``latest`` version), ``"all"`` (every version that can
            predict; others are left out with a warning), ``"as-live"`` (each bar with the version
            that was production at its timestamp), or version ids.
        timestamps: One per bar: ``datetime64``, a ``DatetimeIndex`` or POSIX seconds; naive
            times are UTC. A DataFrame's ``DatetimeIndex`` is used when not given.
        workers: Sessions run in parallel (one thread each); the number of cores by default.
        batch_size: Windows per inference call (256 by default).
        progress: ``None``: a progress bar when stderr is a terminal; ``False``: none; a callable
            receives ``(done, total)`` windows.

    Raises:
        ModelNotAvailableError: no such version, or no production version.
        ModelLoadError: a listed version is invalid or has problems.
        InvalidInputError: the series has the wrong shape, dtype or columns, or ``"as-live"``
            has no timestamps.
        KeyboardInterrupt: Ctrl-C; the sweep stops within about a second.
    """
    engine = LocalEngine(workers, batch_size)
    plan = plan_sweep(
        registry,
        series if isinstance(series, Series) else as_series(series, timestamps),
        symbol=symbol,
        model_type=model_type,
        timeframe=timeframe,
        versions=versions,
    )
    reporter = progress_reporter(progress)
    try:
        return engine.run(plan, reporter)
    finally:
        if isinstance(reporter, ProgressBar):
            reporter.close()
