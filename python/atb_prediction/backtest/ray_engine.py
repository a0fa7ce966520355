"""Running sweeps on a Ray cluster, with results bit-identical to the local engine.

The driver plans as locally and normalises each version's series once; each bundle goes into
Ray's object store as a :class:`BundlePayload` (the model bytes the driver's registry opened and
checked, and its metadata text), with the normalised series (numpy arrays without a copy). Each
worker is an actor that opens a bundle once from those bytes, keeps it warm, and runs window
ranges through the local Rust engine (one session, one thread), returning only the small result
arrays; the driver stitches them in order and maps ``rolling_minmax`` outputs back to prices.
Ranges are cut on the local engine's batch grid (by the core, ``SweepModel.pieces``), so every
batch ONNX Runtime sees is the same and so are the results.

Actors outlive a job: the process keeps one pool of them, shared by every :class:`RayEngine`,
and stops them once idle for ``keep_alive`` seconds. Starting an actor (a Python process that
imports this package) costs about as much as a tenth of the benchmark sweep, and a study runs
many sweeps.

Ray is imported only here, and only when a Ray engine runs: ``import atb_prediction`` never
imports it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

import numpy.typing as npt

from atb_prediction._core import SweepModel, usable_cores
from atb_prediction.backtest.engine import (
    DEFAULT_BATCH_SIZE,
    SweepArrays,
    finish_prices,
    model_input,
    new_result,
    run_unit,
    stitch,
    warn_nonfinite,
)
from atb_prediction.backtest.planning import BundlePayload, SweepPlan
from atb_prediction.backtest.result import SweepResult
from atb_prediction.progress import Reporter

__all__ = ["DEFAULT_KEEP_ALIVE", "RayEngine", "import_ray"]

#: Seconds idle actors stay up after a job, for the next sweep to find them warm.
DEFAULT_KEEP_ALIVE = 60.0
#: Pieces per worker: enough to balance uneven workers and retry little after a failure.
_PIECES_PER_WORKER = 8
#: Pieces queued on each actor at once, so that one is ready when the other returns.
_IN_FLIGHT_PER_WORKER = 2
#: Bundles an actor keeps open between pieces and jobs (least recently used ones close first).
_MODELS_PER_ACTOR = 16
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
        # By fingerprint, not registry key: a version folder rewritten between two sweeps
        # must not be served by the session of its old bytes.
        self.models: OrderedDict[str, SweepModel] = OrderedDict()

    def run(
        self,
        fingerprint: str,
        bundle: BundlePayload,
        normalised: npt.NDArray[Any],
        ranges: tuple[tuple[int, int], ...],
        batch_size: int,
    ) -> tuple[SweepArrays, int, int | None]:
        """The results of the windows ending at the bars of ``ranges`` (from the first one's
        start), and the count and first bar of windows that held non-finite values."""
        model = self.models.pop(fingerprint, None)
        if model is None:
            model = bundle.open(1)
        self.models[fingerprint] = model
        while len(self.models) > _MODELS_PER_ACTOR:
            self.models.popitem(last=False)
        start, stop = ranges[0][0], ranges[-1][1]
        out = SweepArrays.empty(start, stop - start, model.classes)
        nonfinite, first_bad = run_unit(model, normalised, ranges, batch_size, out)
        return out, nonfinite, first_bad


class _ActorPool:
    """This process's sweep actors, shared by every engine and kept warm between jobs.

    One pool per process rather than per engine: two engines of one driver share the actors,
    so neither waits for CPUs the other holds idle. Actors hold a CPU each, so once no job has
    run for ``keep_alive`` seconds they are stopped and the cluster gets its CPUs back.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._actors: list[Any] = []
        self._remote: Any = None
        self._connection: str | None = None
        self._jobs = 0
        self._timer: threading.Timer | None = None

    def acquire(self, ray: Any, wanted: int) -> list[Any]:
        """``wanted`` actors for a job, started where the pool has fewer."""
        with self._lock:
            self._cancel_timer()
            connection = _connection(ray)
            if connection != self._connection:
                # Ray was shut down and started again since: the old actors died with it.
                self._actors, self._remote = [], None
                self._connection = connection
            if self._remote is None:
                # A killed or crashed actor is restarted (as often as it takes: it is shared by
                # every later job) and its calls retried; a piece that keeps failing fails.
                self._remote = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=3)(
                    SweepActor
                )
            while len(self._actors) < wanted:
                self._actors.append(self._remote.remote())
            self._jobs += 1
            return self._actors[:wanted]

    def release(self, ray: Any, keep_alive: float) -> None:
        """Ends a job; the last one to end starts the idle countdown."""
        with self._lock:
            self._jobs -= 1
            if self._jobs:
                return
            if keep_alive <= 0:
                self._stop(ray)
                return
            self._timer = threading.Timer(keep_alive, self._expire, args=(ray,))
            self._timer.daemon = True
            self._timer.start()

    def discard(self, actor: Any) -> None:
        """Forgets an actor that died for good; the next job starts another."""
        with self._lock:
            if actor in self._actors:
                self._actors.remove(actor)

    def stop_idle(self, ray: Any) -> bool:
        """Stops the actors now unless a job is running; whether they were stopped."""
        with self._lock:
            if self._jobs:
                return False
            self._cancel_timer()
            self._stop(ray)
            return True

    def _expire(self, ray: Any) -> None:
        with self._lock:
            if not self._jobs:
                self._stop(ray)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _stop(self, ray: Any) -> None:
        connected = ray.is_initialized() and _connection(ray) == self._connection
        if connected:
            for actor in self._actors:
                ray.kill(actor)
        self._actors = []


_POOL = _ActorPool()


def _connection(ray: Any) -> str:
    """This driver's connection to Ray: a new one after ``ray.shutdown()`` and ``ray.init()``
    (a new cluster has a new session, a reconnected driver a new job), whose actors are new."""
    context = ray.get_runtime_context()
    return f"{context.get_session_name()}/{context.get_job_id()}"


@dataclass(frozen=True)
class _Piece:
    """Some windows of one version of one plan, as sent to an actor."""

    plan: int
    row: int
    fingerprint: str
    bundle: Any  # object ref of the BundlePayload
    normalised: Any  # object ref of the normalised series
    ranges: tuple[tuple[int, int], ...]

    @property
    def windows(self) -> int:
        return sum(stop - start for start, stop in self.ranges)


class RayEngine:
    """Runs sweeps on Ray: a local Ray started on first use (with this machine's CPUs and left
    running), the one already initialised, or the cluster at ``address`` (``"auto"``,
    ``"ray://host:10001"``).

    The actors, one CPU and one single-threaded session per bundle each, are shared by every
    engine of this process and outlive a job: the next sweep finds them and their sessions
    warm. They stop once idle for ``keep_alive`` seconds, on :meth:`close`, or with the driver.

    Args:
        address: Passed to ``ray.init`` when Ray is not initialised yet.
        num_workers: Actors; the cluster's CPUs by default, and never more.
        batch_size: Windows per inference call; the local engine's default.
        keep_alive: Seconds idle actors are kept after a job (60 by default); 0 stops them at
            the end of each job.
    """

    def __init__(
        self,
        address: str | None = None,
        num_workers: int | None = None,
        batch_size: int | None = None,
        keep_alive: float = DEFAULT_KEEP_ALIVE,
    ) -> None:
        self.address = address
        self.num_workers = num_workers
        self.batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
        self.keep_alive = keep_alive
        if num_workers is not None and num_workers < 1:
            raise ValueError(f"num_workers must be at least 1, got {num_workers}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not keep_alive >= 0:  # also refuses NaN
            raise ValueError(f"keep_alive must be 0 or more seconds, got {keep_alive}")
        self._actors: list[Any] = []

    def __repr__(self) -> str:
        return (
            f"RayEngine(address={self.address!r}, num_workers={self.num_workers}, "
            f"batch_size={self.batch_size}, keep_alive={self.keep_alive})"
        )

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stops this process's sweep actors now, unless a sweep is running on them. Ray itself
        keeps running; the next sweep starts new actors."""
        try:
            ray = import_ray()
        except ImportError:
            return
        _POOL.stop_idle(ray)

    def _connect(self) -> Any:
        ray = import_ray()
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False}
            if self.address is None:
                options["num_cpus"] = usable_cores()
            ray.init(address=self.address, **options)
        return ray

    def actors(self) -> list[Any]:
        """The actors of this engine's running or last job (they may have stopped since)."""
        return list(self._actors)

    def run(self, plan: SweepPlan, progress: Reporter | None) -> SweepResult:
        """Runs every task of ``plan`` on the actors."""
        return self.run_many([plan], progress)[0]

    def run_many(self, plans: Sequence[SweepPlan], progress: Reporter | None) -> list[SweepResult]:
        """Runs several plans as one job: every version of every plan shares the actors."""
        ray = self._connect()
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        # This job's own list (an engine may run jobs from several threads at once); the
        # engine only remembers the latest for `actors()`.
        actors = self._actors = _POOL.acquire(ray, min(self.num_workers or cpus, cpus))
        try:
            return self._run_many(ray, actors, plans, progress)
        finally:
            _POOL.release(ray, self.keep_alive)

    def _run_many(
        self, ray: Any, actors: list[Any], plans: Sequence[SweepPlan], progress: Reporter | None
    ) -> list[SweepResult]:
        prepared = []
        for plan in plans:
            models = {task.row: task.open(1) for task in plan.tasks}
            prepared.append((plan, models, new_result(plan, models)))
        total = sum(plan.windows for plan in plans)
        piece_windows = max(self.batch_size, math.ceil(total / (len(actors) * _PIECES_PER_WORKER)))
        nonfinite: dict[tuple[int, int], list[tuple[int, int | None]]] = {}
        started = time.perf_counter()
        work: deque[_Piece] = deque()  # in bar order
        for number, (plan, models, _) in enumerate(prepared):
            for task in plan.tasks:
                model = models[task.row]
                normalised = ray.put(model_input(model, plan, task))
                payload = task.payload()
                bundle = ray.put(payload)
                fingerprint = payload.fingerprint()
                pieces = model.pieces(task.ranges, plan.series.bars, self.batch_size, piece_windows)
                for cut in pieces:
                    ranges = tuple((start, stop) for start, stop in cut)
                    work.append(_Piece(number, task.row, fingerprint, bundle, normalised, ranges))
                nonfinite[(number, task.row)] = []
        pending: dict[Any, tuple[_Piece, Any]] = {}  # object ref -> (piece, its actor)

        def fill() -> None:
            # Pieces go to whichever actor is free, not round-robin up front: an actor that
            # shares its core with Ray's own processes must not hold up the end of the job.
            for _ in range(_IN_FLIGHT_PER_WORKER):
                for actor in actors:
                    queued = sum(holder is actor for _, holder in pending.values())
                    if work and queued < _IN_FLIGHT_PER_WORKER:
                        piece = work.popleft()
                        ref = actor.run.remote(
                            piece.fingerprint, piece.bundle, piece.normalised, piece.ranges,
                            self.batch_size,
                        )  # fmt: skip
                        pending[ref] = (piece, actor)

        done = 0
        fill()
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_SECONDS)
                for ref in ready:
                    piece, actor = pending.pop(ref)
                    try:
                        out, count, first_bad = _get(ray, ref)
                    except ray.exceptions.RayActorError:
                        # Gone for good (restarts are unlimited, so killed without restart or
                        # its node lost): its pieces go to the others.
                        _POOL.discard(actor)
                        if actor in actors:
                            actors.remove(actor)
                        if not actors:
                            raise
                        work.appendleft(piece)
                        continue
                    stitch(prepared[piece.plan][2], piece.row, out)
                    nonfinite[(piece.plan, piece.row)].append((count, first_bad))
                    done += piece.windows
                fill()
                if progress is not None:
                    progress(done, total)
        except BaseException:
            for ref in pending:
                ray.cancel(ref)
            raise
        elapsed = time.perf_counter() - started
        results = []
        for number, (plan, models, result) in enumerate(prepared):
            for task in plan.tasks:
                finish_prices(models[task.row], plan, task, result)
                counts = nonfinite[(number, task.row)]
                firsts = [bar for _, bar in counts if bar is not None]
                warn_nonfinite(
                    task.key,
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
