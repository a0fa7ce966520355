"""Running sweeps on a Ray cluster, with results bit-identical to the local engine.

The driver plans as locally, reads each bundle once (model bytes and metadata text, in the plan)
and normalises each version's series once; bundles and normalised series go into Ray's object
store (numpy arrays without a copy). Each worker is an actor that opens a bundle once from its
bytes, keeps it warm, and runs window ranges through the local Rust engine (one session, one
thread), returning only the small result arrays; the driver stitches them in order. Ranges are
cut on the same batch grid as the local engine, so every batch ONNX Runtime sees is the same and
so are the results.

Ray is imported only here, and only when a Ray engine runs: ``import atb_prediction`` never
imports it.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy.typing as npt

from atb_prediction.backtest.engine import (
    DEFAULT_BATCH_SIZE,
    SweepArrays,
    default_workers,
    new_result,
    run_unit,
    stitch,
    warn_nonfinite,
)
from atb_prediction.backtest.planning import BundleSpec, SweepPlan
from atb_prediction.backtest.progress import Reporter
from atb_prediction.backtest.result import SweepResult

__all__ = ["RayEngine", "import_ray"]

#: Pieces per worker: enough to balance uneven workers and retry little after a failure.
_PIECES_PER_WORKER = 8
#: Pieces queued on each actor at once, so that one is ready when the other returns.
_IN_FLIGHT_PER_WORKER = 2
_POLL_SECONDS = 0.1


def import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ImportError('engine="ray" needs Ray: pip install "atb-prediction[ray]"') from error
    return ray


class SweepActor:
    """A Ray worker: opens each bundle once from its bytes and runs window ranges of it."""

    def __init__(self) -> None:
        self.models: dict[str, Any] = {}

    def run(
        self,
        bundle: BundleSpec,
        normalised: npt.NDArray[Any],
        ranges: tuple[tuple[int, int], ...],
        batch_size: int,
    ) -> tuple[SweepArrays, int, int | None]:
        """The results of the windows ending at the bars of ``ranges`` (from the first one's
        start), and the count and first bar of windows that held non-finite values."""
        model = self.models.get(bundle.key)
        if model is None:
            model = self.models[bundle.key] = bundle.open(1)
        start, stop = ranges[0][0], ranges[-1][1]
        out = SweepArrays.empty(start, stop - start, model.classes)
        nonfinite, first_bad = run_unit(model, normalised, ranges, batch_size, out)
        return out, nonfinite, first_bad


def _pieces(
    ranges: Sequence[tuple[int, int]], first: int, batch_size: int, piece_windows: int
) -> list[tuple[tuple[int, int], ...]]:
    """``ranges`` split into pieces of about ``piece_windows`` windows, cut only on the batch
    grid (which starts at ``first``) so that each piece runs exactly the local engine's
    batches."""
    step = max(1, piece_windows // batch_size) * batch_size
    pieces: list[tuple[tuple[int, int], ...]] = []
    current: list[tuple[int, int]] = []
    for start, stop in ranges:
        while start < stop:
            cell = first + ((start - first) // step + 1) * step
            end = min(cell, stop)
            current.append((start, end))
            start = end
            if end == cell:
                pieces.append(tuple(current))
                current = []
    if current:
        pieces.append(tuple(current))
    return pieces


class RayEngine:
    """Runs sweeps on Ray: a local Ray started on first use (with this machine's CPUs and left
    running), the one already initialised, or the cluster at ``address`` (``"auto"``,
    ``"ray://host:10001"``).

    Args:
        address: Passed to ``ray.init`` when Ray is not initialised yet.
        num_workers: Actors, one CPU and one session each; the cluster's CPUs by default.
        batch_size: Windows per inference call; the local engine's default.
    """

    def __init__(
        self,
        address: str | None = None,
        num_workers: int | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.address = address
        self.num_workers = num_workers
        self.batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
        if num_workers is not None and num_workers < 1:
            raise ValueError(f"num_workers must be at least 1, got {num_workers}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        self._actors: list[Any] = []

    def __repr__(self) -> str:
        return (
            f"RayEngine(address={self.address!r}, num_workers={self.num_workers}, "
            f"batch_size={self.batch_size})"
        )

    def _connect(self) -> Any:
        ray = import_ray()
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False}
            if self.address is None:
                options["num_cpus"] = default_workers()
            ray.init(address=self.address, **options)
        return ray

    def actors(self) -> list[Any]:
        """The worker actors of the job running now (empty between jobs)."""
        return list(self._actors)

    def _start_actors(self, ray: Any) -> list[Any]:
        # Actors live for one job: held between jobs they would keep CPUs from every other
        # job on the cluster. A killed or crashed one is restarted and its calls retried.
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        wanted = min(self.num_workers or cpus, cpus)
        remote = ray.remote(num_cpus=1, max_restarts=3, max_task_retries=3)(SweepActor)
        self._actors = [remote.remote() for _ in range(wanted)]
        return self._actors

    def _stop_actors(self, ray: Any) -> None:
        for actor in self._actors:
            ray.kill(actor)
        self._actors = []

    def run(self, plan: SweepPlan, progress: Reporter | None) -> SweepResult:
        """Runs every task of ``plan`` on the actors."""
        return self.run_many([plan], progress)[0]

    def run_many(self, plans: Sequence[SweepPlan], progress: Reporter | None) -> list[SweepResult]:
        """Runs several plans as one job: every version of every plan shares the actors."""
        ray = self._connect()
        try:
            return self._run_many(ray, plans, progress)
        finally:
            self._stop_actors(ray)

    def _run_many(
        self, ray: Any, plans: Sequence[SweepPlan], progress: Reporter | None
    ) -> list[SweepResult]:
        actors = self._start_actors(ray)
        prepared = []
        for plan in plans:
            models = {task.row: task.bundle.open(1) for task in plan.tasks}
            result = new_result(plan, models)
            prepared.append((plan, models, result))
        total = sum(plan.windows for plan in plans)
        piece_windows = max(self.batch_size, math.ceil(total / (len(actors) * _PIECES_PER_WORKER)))
        pending: dict[Any, tuple[int, int, int, Any]] = {}
        nonfinite: dict[tuple[int, int], list[tuple[int, int | None]]] = {}
        started = time.perf_counter()
        # (plan number, row, bundle ref, series ref, ranges, windows), in bar order.
        work: deque[tuple[int, int, Any, Any, tuple[tuple[int, int], ...], int]] = deque()
        for number, (plan, models, _) in enumerate(prepared):
            for task in plan.tasks:
                model = models[task.row]
                series = plan.series.columns_for(task.bundle.feature_names)
                normalised = ray.put(model.normalise(series))
                bundle = ray.put(task.bundle)
                first = model.sequence_length - 1
                for ranges in _pieces(task.ranges, first, self.batch_size, piece_windows):
                    windows = sum(stop - start for start, stop in ranges)
                    work.append((number, task.row, bundle, normalised, ranges, windows))
                nonfinite[(number, task.row)] = []

        def submit(actor: Any) -> None:
            # Pieces go to whichever actor is free, not round-robin up front: an actor that
            # shares its core with Ray's own processes must not hold up the end of the job.
            number, row, bundle, normalised, ranges, windows = work.popleft()
            ref = actor.run.remote(bundle, normalised, ranges, self.batch_size)
            pending[ref] = (number, row, windows, actor)

        for _ in range(_IN_FLIGHT_PER_WORKER):
            for actor in actors:
                if work:
                    submit(actor)
        done = 0
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_SECONDS)
                for ref in ready:
                    number, row, windows, actor = pending.pop(ref)
                    if work:
                        submit(actor)
                    out, count, first_bad = _get(ray, ref)
                    stitch(prepared[number][2], row, out)
                    nonfinite[(number, row)].append((count, first_bad))
                    done += windows
                if progress is not None:
                    progress(done, total)
        except BaseException:
            for ref in pending:
                ray.cancel(ref)
            raise
        elapsed = time.perf_counter() - started
        results = []
        for number, (plan, _, result) in enumerate(prepared):
            for task in plan.tasks:
                counts = nonfinite[(number, task.row)]
                firsts = [bar for _, bar in counts if bar is not None]
                warn_nonfinite(
                    task.bundle.version_id,
                    sum(count for count, _ in counts),
                    min(firsts) if firsts else None,
                )
            # Versions share the actors, so each gets the job's wall time.
            results.append(replace(result, elapsed=tuple(elapsed for _ in plan.tasks)))
        return results


def _get(ray: Any, ref: Any) -> Any:
    """``ray.get``, re-raising a worker's exception as itself rather than ``RayTaskError``."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        cause = error.cause
        if isinstance(cause, BaseException):
            raise cause from None
        raise
