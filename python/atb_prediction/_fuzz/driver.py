"""What the fuzzing child runs on one registry: scan, registry, predict, run, validate.

A bad bundle must never make the scan, the registry or validation raise: it is recorded as
invalid or reported as a problem. A prediction or a run may fail only with a ``PredictionError``
or a ``MemoryError`` (the child runs under a memory limit, and a typed refusal is the right
answer to a model that declares more than memory holds). Anything else raised is a finding; a
Rust panic (``PanicException``), a crash or a hang is a crash, and the parent notices the last
two.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np

from atb_prediction import OnnxSession
from atb_prediction._fuzz.cases import WINDOW
from atb_prediction.models.exceptions import PredictionError
from atb_prediction.models.onnx_runner import OnnxRunner

__all__ = ["Finding", "drive"]

Finding = tuple[str, str]
"""``("exception" | "crash", traceback)``."""

_HUGE_BATCH = 10**9
"""A batch no memory holds: beside a zero dim, the input is empty whatever its batch; beside the
declared window, only a view of one element is."""

_REFUSALS = (PredictionError, MemoryError)
"""How a prediction or a run may refuse."""

_MAX_BYTES = 2**63
"""More bytes than numpy can even shape: it multiplies every dim, a zero one counted as one, by
the item size in a signed 64-bit int, so ``(10**9, 0, 2**40)`` is too big though empty."""


def drive(root: Path) -> Finding | None:
    """Exercise every loader on ``root``; what went wrong, else None."""
    try:
        _drive(root)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # PanicException derives from BaseException
        panic = type(error).__name__ == "PanicException"
        return ("crash" if panic else "exception"), traceback.format_exc()
    return None


def _drive(root: Path) -> None:
    from atb_prediction import PredictionConfig, PredictionModelRegistry, scan_registry
    from atb_prediction.models.validation import validate_registry

    index = scan_registry(root)
    for record in index.versions:
        _ = (record.metadata, record.feature_schema, record.metrics)
    config = PredictionConfig(
        model_registry_path=str(root), inference_timeout=5.0, intra_op_threads=1
    )
    registry = PredictionModelRegistry(config)
    runners = [bundle.runner for bundle in registry.list_bundles()]
    for runner in runners:
        _predict(runner)
        _predict_batch(runner)
    for record in index.versions:
        registry.get_bundle_by_key(record.key)
    registry.reload_models()
    validate_registry(root)
    # Last, as the most hostile inputs: a crash here leaves the rest exercised.
    for runner in runners:
        for feed in _feeds(runner.session.inputs):
            _run(runner.session, feed)


# One function per call, so that a crash's innermost frame names the call.


def _predict(runner: OnnxRunner) -> None:
    with suppress(*_REFUSALS):
        runner.predict(np.zeros(WINDOW, dtype=np.float32))


def _predict_batch(runner: OnnxRunner) -> None:
    with suppress(*_REFUSALS):
        runner.predict_batch(np.zeros((2, *WINDOW), dtype=np.float32))


def _run(session: OnnxSession, feed: Mapping[str, Any]) -> None:
    with suppress(*_REFUSALS):
        session.run(feed)


def _feeds(inputs: tuple[Any, ...]) -> Iterator[Mapping[str, Any]]:
    """Inputs shaped as the model declares them (a dynamic dim as 1), without allocating what
    a huge declared shape would take: a zero-stride view of one element; then empty inputs
    (batch 0, and a huge batch beside a zero dim); then a huge batch of the declared window,
    which no copy of the input fits in memory."""

    shapes = {info.name: tuple(1 if d is None else d for d in info.shape) for info in inputs}
    ranks = [len(shape) for shape in shapes.values()]
    if not inputs or any(d < 0 for shape in shapes.values() for d in shape):
        return
    variants: list[Callable[[tuple[int, ...]], tuple[int, ...]]] = [lambda shape: shape]
    if min(ranks) >= 1:
        variants.append(lambda shape: (0, *shape[1:]))
    if min(ranks) >= 2:
        variants.append(lambda shape: (_HUGE_BATCH, 0, *shape[2:]))
    if min(ranks) >= 1:
        variants.append(lambda shape: (_HUGE_BATCH, *shape[1:]))
    for variant in variants:
        feed = {info.name: variant(shapes[info.name]) for info in inputs}
        if all(_numpy_can_shape(feed[info.name], info.dtype) for info in inputs):
            yield {
                info.name: np.broadcast_to(np.zeros((), dtype=info.dtype), feed[info.name])
                for info in inputs
            }


def _numpy_can_shape(shape: tuple[int, ...], dtype: Any) -> bool:
    return bool(math.prod(max(d, 1) for d in shape) * np.dtype(dtype).itemsize < _MAX_BYTES)
