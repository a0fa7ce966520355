"""Deep checks of registry versions: what ``atb models validate`` runs and ``promote`` requires.

The registry scan already checks every bundle's JSON against the schemas and that a model file
is there; it does not open the models. A version is valid here when, in addition, its model opens
in ONNX Runtime, its input shape agrees with ``feature_schema.json`` and with metadata's
``sequence_length`` / ``feature_names``, and one inference on an all-zero window gives finite
output. Those are the failures a live process would otherwise meet at its first prediction.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from atb_prediction._core import (
    DEFAULT_WARMUP_MAX_BYTES,
    LATEST,
    BundleRecord,
    LoadedBundle,
    RegistryIndex,
    TensorInfo,
    open_version,
    path_parts,
    shape_problems,
    zero_input_shapes,
)
from atb_prediction._core import (
    parse_key as parse_key_parts,
)
from atb_prediction.models.exceptions import ModelNotAvailableError, PredictionError

__all__ = [
    "INFERENCE_TIMEOUT_SECONDS",
    "KeyFilter",
    "KeyPattern",
    "VersionReport",
    "check_opened",
    "check_version",
    "parse_key",
    "split_bundle_path",
    "validate_registry",
    "validate_version",
    "zero_inputs",
]

INFERENCE_TIMEOUT_SECONDS = 30.0
"""Deadline of the zero-input inference, so that one pathological model cannot hang a check."""

ProgressCallback = Callable[[int, int, str], None]
"""``progress(done, total, key)``, called after each version is checked."""


@dataclass(frozen=True, slots=True)
class VersionReport:
    """The outcome of checking one version (or one bundle the scan could not read)."""

    key: str
    """``SYMBOL:TIMEFRAME:TYPE:VERSION``, or ``SYMBOL/TYPE/NAME`` for an unreadable bundle."""
    ok: bool
    problems: list[str] = field(default_factory=list)
    """One sentence per problem, naming the file, input or output concerned."""
    timings: dict[str, float] | None = None
    """Seconds spent opening the model (``open``) and running it (``inference``)."""
    path: str | None = None
    """The version folder (or the ``latest`` entry) checked."""


# --- key patterns -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyPattern:
    """A ``KEY`` argument: a version key, a prefix of one, or a path; ``*`` and ``?`` glob."""

    text: str
    symbol: str
    timeframe: str | None
    model_type: str | None
    version: str | None

    def matches(self, symbol: str, timeframe: str | None, model_type: str, version: str) -> bool:
        """Whether the version so named matches; an unknown timeframe matches any pattern."""
        pairs = [(self.symbol, symbol), (self.model_type, model_type), (self.version, version)]
        if self.timeframe is not None and timeframe is not None:
            pairs.append((self.timeframe, timeframe))
        return all(
            pattern is None or fnmatch.fnmatchcase(value, pattern) for pattern, value in pairs
        )


def parse_key(text: str) -> KeyPattern:
    """Parse a ``KEY`` argument (the core's layout reads it).

    Accepted forms: ``SYMBOL[:TIMEFRAME[:MODEL_TYPE[:VERSION]]]`` (the registry's bundle key
    and its prefixes) and ``SYMBOL/MODEL_TYPE[/VERSION]`` (the folder path). Each part may use
    shell-style wildcards, e.g. ``*:1h:basic``.

    Raises:
        ValueError: empty parts or too many of them.
    """
    symbol, timeframe, model_type, version = parse_key_parts(text)
    return KeyPattern(text, symbol, timeframe, model_type, version)


# --- one version --------------------------------------------------------------------------------


def zero_inputs(
    inputs: Sequence[TensorInfo],
    *,
    sequence_length: int | None,
    feature_count: int | None,
    max_bytes: int = DEFAULT_WARMUP_MAX_BYTES,
) -> dict[str, np.ndarray]:
    """An all-zero feed for every input, of batch 1; ``ValueError`` past ``max_bytes`` in all.

    Fixed dimensions come from the model. Dynamic ones are filled from the bundle's declarations
    where a ``[batch, sequence, features]`` input allows it, else with 1, so that a model with a
    symbolic sequence length is still run with the window the bundle says it expects. The shapes
    and the cap are the core's (``zero_input_shapes``, the warm-up's rule); the sizes are checked
    there before numpy allocates, so a hostile shape is a problem in the report rather than a
    ``MemoryError`` or an abort.
    """
    shapes = zero_input_shapes(
        [(tensor.name, tensor.shape, np.dtype(tensor.dtype).itemsize) for tensor in inputs],
        sequence_length=sequence_length,
        feature_count=feature_count,
        max_bytes=max_bytes,
    )
    return {
        tensor.name: np.zeros(shape, dtype=tensor.dtype)
        for tensor, shape in zip(inputs, shapes, strict=True)
    }


def validate_version(record: BundleRecord, bundle: LoadedBundle | None = None) -> VersionReport:
    """Check one version that the registry scan could read.

    Opens the model on one thread without warm-up (validation may open hundreds), or takes the
    session of ``bundle`` (the version as a promotion opened it, so that validation checks the
    very bytes the promotion evaluates), compares its input with the bundle's declarations, and
    runs it once on zeros. Never raises for a bad model: every failure becomes a problem in the
    report.
    """
    # Imported here: the package's __init__ imports this module's siblings, not the reverse.
    from atb_prediction import OnnxSession

    problems: list[str] = []
    timings: dict[str, float] = {}
    if bundle is not None:
        session = bundle.session
    else:
        started = time.perf_counter()
        try:
            session = OnnxSession(record.model_path, warmup=False, intra_op_threads=1)
        except (PredictionError, OSError) as exc:
            problems.append(f"model does not open: {exc}")
            return VersionReport(record.key, False, problems, None, os.fspath(record.directory))
        timings["open"] = time.perf_counter() - started

    problems.extend(shape_problems(session, record))
    try:
        feed = zero_inputs(
            session.inputs,
            # The window the bundle declares, by the core's one rule (predict::DeclaredWindow),
            # which the sweeps and predict_bars of a dynamic model use too.
            sequence_length=record.sequence_length,
            feature_count=record.feature_count,
        )
    except (TypeError, ValueError, MemoryError) as exc:
        # A dtype numpy cannot build, an absurd size, or more memory than the process may take.
        problems.append(f"cannot build an all-zero input: {exc}")
        feed = {}
    if feed:
        started = time.perf_counter()
        try:
            outputs = session.run(feed, timeout=INFERENCE_TIMEOUT_SECONDS)
        except (PredictionError, TypeError, ValueError) as exc:  # e.g. a string-typed input
            problems.append(f"inference on an all-zero input failed: {exc}")
        else:
            timings["inference"] = time.perf_counter() - started
            for info, output in zip(session.outputs, outputs, strict=False):
                values = np.asarray(output)
                if values.dtype.kind in "fc" and not np.isfinite(values).all():
                    bad = int(values.size - np.count_nonzero(np.isfinite(values)))
                    problems.append(
                        f"output {info.name!r} has {bad} non-finite value(s) of {values.size} "
                        "for an all-zero input"
                    )
                elif values.size == 0:
                    problems.append(f"output {info.name!r} is empty for an all-zero input")
    return VersionReport(record.key, not problems, problems, timings, os.fspath(record.directory))


# --- many versions ------------------------------------------------------------------------------


def split_bundle_path(root: str, path: str) -> tuple[str, str, str, str]:
    """(display key, symbol, model_type, name) of a path under the registry ``root`` (the
    core's ``path_parts``), padded with empty names when the path is shorter."""
    parts = path_parts(root, path)
    padded = [*parts, "", "", ""][:3]
    return "/".join(parts), padded[0], padded[1], padded[2]


class KeyFilter:
    """``KEY`` arguments applied to a registry's versions, remembering which matched any: a key
    that matched nothing is an error, not an empty result."""

    def __init__(self, keys: Sequence[str]) -> None:
        """Raises ``ValueError`` for a malformed key."""
        self.patterns = [parse_key(key) for key in keys]
        self._used: set[str] = set()

    def wanted(self, symbol: str, timeframe: str | None, model_type: str, version: str) -> bool:
        """Whether the version so named is selected (every version, without keys)."""
        if not self.patterns:
            return True
        hits = [p for p in self.patterns if p.matches(symbol, timeframe, model_type, version)]
        self._used.update(p.text for p in hits)
        return bool(hits)

    def require_all_matched(self, index_root: str) -> None:
        """Raise ``ModelNotAvailableError`` naming the keys that matched no version."""
        unmatched = [p.text for p in self.patterns if p.text not in self._used]
        if unmatched:
            raise ModelNotAvailableError(
                f"no version in {index_root} matches {', '.join(map(repr, unmatched))}"
            )


def validate_registry(
    root: str | os.PathLike[str],
    keys: Sequence[str] | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> list[VersionReport]:
    """Check every version of the registry at ``root``, or those matching ``keys``.

    Bundles the scan could not read (bad JSON, schema failure, no model file) and model types
    whose ``latest`` is broken are reported as failures beside the versions checked by
    :func:`validate_version`. Reports come in the scan's order, unreadable bundles last.

    Raises:
        ValueError: a key is malformed.
        LookupError: a key matches nothing (:class:`~atb_prediction.ModelNotAvailableError`).
        PredictionError: the registry root is missing or unreadable.
    """
    from atb_prediction.models.scanning import scan_registry

    selection = KeyFilter(keys or ())
    wanted = selection.wanted
    index = scan_registry(os.fspath(root))
    index_root = os.fspath(index.root)

    records = [
        r for r in index.versions if wanted(r.symbol, r.timeframe, r.model_type, r.version_id)
    ]
    failed: list[VersionReport] = []
    for bundle in index.invalid:
        path = os.fspath(bundle.path)
        display, symbol, model_type, name = split_bundle_path(index_root, path)
        if wanted(symbol, None, model_type, name):
            failed.append(VersionReport(display, False, [bundle.reason], None, path))
    reported = {report.key for report in failed}
    for (symbol, model_type), reason in sorted(index.unavailable.items()):
        display = f"{symbol}/{model_type}/{LATEST}"
        if display not in reported and wanted(symbol, None, model_type, LATEST):
            path = os.path.join(index_root, symbol, model_type, LATEST)
            failed.append(VersionReport(display, False, [reason], None, path))

    selection.require_all_matched(index_root)

    total = len(records) + len(failed)
    reports = []
    for done, record in enumerate(records, start=1):
        reports.append(validate_version(record))
        if progress is not None:
            progress(done, total, record.key)
    reports.extend(failed)
    if progress is not None and failed:
        progress(total, total, failed[-1].key)
    return reports


def check_version(
    root: str | os.PathLike[str], symbol: str, model_type: str, version: str
) -> VersionReport:
    """Validate one version folder, schema checks included: what a promotion requires."""
    from atb_prediction.models.scanning import scan_registry

    index = scan_registry(os.fspath(root))
    found = _locate(index, symbol, model_type, version)
    return found if isinstance(found, VersionReport) else validate_version(found)


def check_opened(
    index: RegistryIndex, symbol: str, model_type: str, version: str
) -> tuple[VersionReport, LoadedBundle | None]:
    """Validate one version as a promotion does: opened once through ``index`` (the scan the
    command already made), the checks run on the session built from the bytes read. The bundle
    comes back (``None`` when it does not open) for a gate to sweep and its digest to be
    sealed, so that validation, the gate and the manifest all see the same bytes."""
    from atb_prediction.models.opening import opening_options

    found = _locate(index, symbol, model_type, version)
    if isinstance(found, VersionReport):
        return found, None
    try:
        bundle = open_version(index, found.key, opening_options(index))
    except (PredictionError, OSError) as exc:
        problem = f"model does not open: {exc}"
        return VersionReport(found.key, False, [problem], None, os.fspath(found.directory)), None
    if bundle is None:  # pragma: no cover - the record came from this index
        raise ModelNotAvailableError(f"{found.key} is not in {index.root}")
    return validate_version(found, bundle), bundle


def _locate(
    index: RegistryIndex, symbol: str, model_type: str, version: str
) -> BundleRecord | VersionReport:
    """The scan's record of the version, or the failed report of a folder it skipped or never
    found."""
    from atb_prediction.models.opening import find_record, skipped

    record = find_record(index, symbol, model_type, version)
    if record is not None:
        return record
    wanted = [symbol, model_type, version]
    folder = skipped(index, symbol, model_type, version)
    if folder is not None:
        return VersionReport("/".join(wanted), False, [folder.reason], None, folder.path)
    path = os.path.join(os.fspath(index.root), symbol, model_type, version)
    return VersionReport(
        "/".join(wanted), False, [f"{path} is not a version the registry scan found"], None, path
    )
