"""``sweep`` and ``sweep_many``: every window of a history through versions of a model type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, Protocol

from atb_prediction.backtest.engine import LocalEngine
from atb_prediction.backtest.planning import SweepPlan, VersionSelection, plan_opened, plan_sweep
from atb_prediction.backtest.result import SweepResult
from atb_prediction.backtest.series import Series, as_series
from atb_prediction.progress import ProgressBar, Reporter, progress_reporter

if TYPE_CHECKING:
    from collections.abc import Sequence

    from atb_prediction._core import LoadedBundle
    from atb_prediction.config import PredictionConfig
    from atb_prediction.models.registry import PredictionModelRegistry

__all__ = ["Engine", "sweep", "sweep_many", "sweep_opened"]


class Engine(Protocol):
    """What runs sweep plans: :class:`LocalEngine` or :class:`RayEngine`."""

    def run_many(
        self, plans: Sequence[SweepPlan], progress: Reporter | None
    ) -> list[SweepResult]: ...


#: ``"local"``, ``"ray"``, or an engine object.
EngineChoice = Literal["local", "ray"] | Engine


def _engine(engine: EngineChoice, workers: int | None, batch_size: int | None) -> Engine:
    if engine == "local":
        return LocalEngine(workers, batch_size)
    if engine == "ray":
        from atb_prediction.backtest.ray_engine import RayEngine, import_ray

        import_ray()  # an ImportError naming the extra, before any work
        return RayEngine(num_workers=workers, batch_size=batch_size)
    if isinstance(engine, str):
        raise ValueError(f'engine must be "local", "ray" or an engine object, not {engine!r}')
    if workers is not None or batch_size is not None:
        raise ValueError("with an engine object, give workers and batch_size to the engine")
    return engine


def _run(
    engine: Engine, plans: list[SweepPlan], progress: bool | Reporter | None
) -> list[SweepResult]:
    reporter = progress_reporter(progress)
    try:
        return engine.run_many(plans, reporter)
    finally:
        if isinstance(reporter, ProgressBar):
            reporter.close()


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
    engine: EngineChoice = "local",
) -> SweepResult:
    """Predict at every bar of ``series`` with one or more versions of a model type.

    The prediction at bar ``t`` uses the window ``series[t - seq + 1 : t + 1]`` and equals what
    ``runner.predict`` returns for that window (same normalisation, denormalisation, confidence,
    direction and classification rules). Bars without a full window are NaN (direction 0); so
    are windows holding NaN or infinite values, with a warning. When the series' median spacing
    is not a version's timeframe, one warning names both.

    Args:
        registry: The registry to take the bundles from.
        series: ``[bars, features]`` floats (C or F order, any float dtype), or a pandas
            DataFrame, a mapping of 1-D arrays or a numpy structured array whose columns are
            matched to each bundle's ``feature_names`` by name, else read as raw OHLCV bars
            (``open`` ... ``volume`` in any case) for bundles that compute their features.
        symbol, model_type: The model type to sweep.
        timeframe: Only versions of this timeframe (any by default).
        versions: ``"production"`` (the ``latest`` version), ``"all"`` (every version that can
            predict; others are left out with a warning), ``"as-live"`` (each bar with the version
            that was production at its timestamp), or version ids.
        timestamps: One per bar, strictly increasing: ``datetime64`` of any unit, a
            ``DatetimeIndex``, ISO 8601 text, or epochs whose unit follows from their magnitude
            (seconds from 1e8, milliseconds from 1e11, microseconds from 1e14, nanoseconds from
            1e17); naive times are UTC. When not given: a DataFrame's ``DatetimeIndex``, else
            the first ``datetime64`` column or field, else the column named ``open_time``,
            ``timestamp``, ``time``, ``date`` or ``datetime`` (any case).
        workers: Sessions run in parallel (one thread each): the number of cores by default, or
            with ``engine="ray"`` the Ray actors (the cluster's CPUs by default).
        batch_size: Windows per inference call (256 by default).
        progress: ``None``: a progress bar when stderr is a terminal; ``False``: none; a callable
            receives ``(done, total)`` windows.
        engine: ``"local"`` (a thread pool in this process), ``"ray"`` (Ray actors; needs the
            ``ray`` extra), or a :class:`LocalEngine` / :class:`RayEngine`.

    Raises:
        ModelNotAvailableError: no such version, or no production version.
        ModelLoadError: a listed version is invalid or has problems.
        InvalidInputError: the series has the wrong shape, dtype or columns; a time is no
            time (naming the bar); times do not strictly increase (naming the first offending
            bar and both times); or ``"as-live"`` has no timestamps.
        ModelNotAvailableError: with ``"as-live"``, no version was live at any bar (naming the
            series' first and last times and when the first version went live).
        KeyboardInterrupt: Ctrl-C; the sweep stops within about a second.
    """
    chosen = _engine(engine, workers, batch_size)
    plan = plan_sweep(
        registry,
        series if isinstance(series, Series) else as_series(series, timestamps),
        symbol=symbol,
        model_type=model_type,
        timeframe=timeframe,
        versions=versions,
    )
    return _run(chosen, [plan], progress)[0]


def sweep_many(
    registry: PredictionModelRegistry,
    series: Mapping[str, object],
    *,
    model_type: str,
    timeframe: str | None = None,
    versions: VersionSelection = "production",
    timestamps: Mapping[str, object] | None = None,
    workers: int | None = None,
    batch_size: int | None = None,
    progress: bool | Reporter | None = None,
    engine: EngineChoice = "local",
) -> dict[str, SweepResult]:
    """:func:`sweep` for many symbols as one job: ``{symbol: series}`` to ``{symbol: result}``.

    Every request is checked before any work starts; on Ray, all symbols' windows share the
    actors. ``timestamps``, when given, maps symbols to their timestamps.
    """
    chosen = _engine(engine, workers, batch_size)
    plans = [
        plan_sweep(
            registry,
            values
            if isinstance(values, Series)
            else as_series(values, (timestamps or {}).get(symbol)),
            symbol=symbol,
            model_type=model_type,
            timeframe=timeframe,
            versions=versions,
        )
        for symbol, values in series.items()
    ]
    return dict(zip(series, _run(chosen, plans, progress), strict=True))


def sweep_opened(
    bundles: Sequence[LoadedBundle],
    series: object,
    *,
    config: PredictionConfig | None = None,
    workers: int | None = None,
    batch_size: int | None = None,
    progress: bool | Reporter | None = False,
    engine: EngineChoice = "local",
) -> SweepResult:
    """:func:`sweep` of bundles already opened, all of one model type, one row each in their
    order: each runs the very bytes it was opened (and checked) from, and no registry is
    scanned or opened. What a gate sweeps.

    Args:
        bundles: Versions of one model type, e.g. from ``_core.open_version``.
        series: As for :func:`sweep` (a :class:`Series` as it is).
        config: How sweep sessions are opened (confidence scale, direction threshold, timeout,
            providers); ``PredictionConfig()`` by default.
    """
    from atb_prediction.config import PredictionConfig

    chosen = _engine(engine, workers, batch_size)
    plan = plan_opened(
        bundles,
        series if isinstance(series, Series) else as_series(series, None),
        config=config or PredictionConfig(),
    )
    return _run(chosen, [plan], progress)[0]
