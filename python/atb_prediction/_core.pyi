"""Type stubs of the Rust extension ``atb_prediction._core`` (hand-written, checked by stubtest)."""

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, final, overload

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

from atb_prediction.models.prediction import ModelPrediction

__all__ = [
    "AS_LIVE",
    "BAR_COLUMNS",
    "BOOTSTRAP_METRICS",
    "BOOTSTRAP_RESAMPLES",
    "BUY_AND_HOLD",
    "DEFAULT_WARMUP_MAX_BYTES",
    "LATEST",
    "LONG_THRESHOLD",
    "MIN_BARS",
    "SHORT_THRESHOLD",
    "TIME_COLUMNS",
    "BarStream",
    "BundleOptions",
    "BundleRecord",
    "InvalidBundle",
    "LoadedBundle",
    "OnnxSession",
    "PredictionStore",
    "Predictor",
    "Refresh",
    "RegistryIndex",
    "SealCheck",
    "SweepModel",
    "TensorInfo",
    "bar_positions",
    "bar_window",
    "bars_per_year",
    "bootstrap_compare",
    "bootstrap_differences",
    "check_bootstrap",
    "check_score_settings",
    "check_seal",
    "check_time_order",
    "column_position",
    "configure_thread_pools",
    "document_kinds",
    "feature_positions",
    "features_digest",
    "format_key",
    "format_utc",
    "is_folder_name",
    "load_runtime",
    "median_spacing",
    "open_version",
    "optimal_block_length",
    "parse_key",
    "path_parts",
    "periods_per_year",
    "read_json_document",
    "read_latest",
    "refresh_bundles",
    "registry_folders",
    "registry_root",
    "runtime_library_path",
    "scan_registry_with",
    "score_metrics",
    "score_sweep",
    "seal_bundle",
    "series_columns",
    "shape_problems",
    "spacing_mismatch",
    "split_key",
    "time_column",
    "usable_cores",
    "utc_times",
    "verify_bundle",
    "version_date",
    "zero_input_shapes",
]

_Inputs = npt.ArrayLike | Mapping[str, npt.ArrayLike]

@final
class TensorInfo:
    """The name, numpy dtype and shape (``None`` for dynamic dimensions) of a model input/output."""

    def __new__(
        cls, name: str, dtype: npt.DTypeLike, shape: Sequence[int | None]
    ) -> TensorInfo: ...
    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> np.dtype[Any]: ...
    @property
    def shape(self) -> tuple[int | None, ...]: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __reduce__(self) -> tuple[Any, ...]: ...

@final
class OnnxSession:
    """An ONNX model loaded into ONNX Runtime; ``run`` is safe from many threads at once."""

    def __new__(
        cls,
        model: str | os.PathLike[str] | bytes,
        *,
        intra_op_threads: int | None = None,
        inter_op_threads: int | None = None,
        optimization_level: str = "all",
        providers: Sequence[str] | None = None,
        warmup: bool = True,
        warmup_max_bytes: int = 268435456,
        warmup_timeout: float | None = None,
    ) -> OnnxSession: ...
    @overload
    def run(
        self,
        inputs: _Inputs,
        input_feed: None = None,
        *,
        as_dict: Literal[False] = False,
        timeout: float | None = None,
    ) -> list[np.ndarray]:
        """Outputs in graph order (a list), or a dict of name to array with ``as_dict=True``.

        An output whose shape is known before the run is written straight into its new array.
        The array last passed for each input stays referenced by the session, so that passing
        the same (possibly refilled) array again reuses its ONNX Runtime value.
        """
    @overload
    def run(
        self,
        inputs: _Inputs,
        input_feed: None = None,
        *,
        as_dict: Literal[True],
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]: ...
    @overload
    def run(
        self,
        inputs: Sequence[str] | None,
        input_feed: Mapping[str, npt.ArrayLike],
        *,
        as_dict: Literal[False] = False,
        timeout: float | None = None,
    ) -> list[np.ndarray]:
        """``onnxruntime``'s form: the outputs named (all for ``None``) for an input feed."""
    @overload
    def run(
        self,
        inputs: Sequence[str] | None,
        input_feed: Mapping[str, npt.ArrayLike],
        *,
        as_dict: Literal[True],
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]: ...
    @property
    def inputs(self) -> tuple[TensorInfo, ...]: ...
    @property
    def outputs(self) -> tuple[TensorInfo, ...]: ...
    @property
    def metadata(self) -> dict[str, str]: ...
    @property
    def providers(self) -> list[str]: ...
    @property
    def origin(self) -> str: ...
    def __reduce__(self) -> tuple[Any, ...]:
        """By reference to the model file; a session opened from bytes raises ``TypeError``."""

@final
class Predictor:
    """Upstream's ``predict`` semantics for one bundle, run in one GIL-free call."""

    def __new__(
        cls,
        bundle: LoadedBundle,
        *,
        model_name: str,
        timeout: float | None = None,
        cache: PredictionStore | None = None,
        cache_key: str | None = None,
        cache_config: str = "",
    ) -> Predictor: ...
    def predict(self, features: npt.ArrayLike) -> ModelPrediction: ...
    def predict_batch(self, features: npt.ArrayLike) -> dict[str, np.ndarray]: ...
    def predict_bars(self, bars: object) -> ModelPrediction:
        """Upstream's live path from OHLCV bars (a DataFrame, a mapping of 1-D arrays or a
        structured array, oldest first; the last ``bars_needed`` bars are read): features,
        prediction, and the price in price units, in one call."""
    def predict_bar_window(self, bars: npt.NDArray[np.float64]) -> ModelPrediction:
        """``predict_bars`` of bars already read: ``[rows, 5]`` float64 in ``BAR_COLUMNS``
        order."""
    def stream(self, history: object = None) -> BarStream:
        """Bars one at a time after ``history``'s: ``push`` gives ``predict_bars`` of every bar
        so far."""
    @property
    def bars_needed(self) -> int:
        """How many of the last bars ``predict_bars`` reads; ``InvalidInputError`` when the
        bundle cannot take raw bars."""
    @property
    def cacheable(self) -> bool: ...
    @property
    def timeout(self) -> float | None: ...
    @property
    def model_name(self) -> str: ...

@final
class BarStream:
    """Bars one at a time for one bundle (``OnnxRunner.stream``)."""

    def push(self, bar: object) -> ModelPrediction | None:
        """The prediction ``predict_bars`` gives on every bar so far, or ``None`` while the
        model's window is not full. ``bar``: a mapping with OHLCV keys (any case), or a
        sequence of the 5 values in OHLCV order (6 with the bar's time first)."""
    @property
    def bars(self) -> int:
        """Bars given: the history's, and every bar pushed and taken."""

def bar_window(bars: object, rows: int | None = None) -> npt.NDArray[np.float64]:
    """The last ``rows`` bars of ``bars`` as a C-ordered ``[rows, 5]`` float64 array."""

@disjoint_base
class PredictionStore:
    """The built-in prediction cache's storage (``InMemoryPredictionCache`` subclasses it)."""

    def __new__(cls, ttl: float = 60.0, max_size: int | None = None) -> PredictionStore: ...
    def lookup(
        self, features: npt.ArrayLike, model_name: str, config_key: str
    ) -> dict[str, Any] | None: ...
    def store(
        self,
        features: npt.ArrayLike,
        model_name: str,
        config_key: str,
        price: float,
        confidence: float,
        direction: int,
    ) -> None: ...
    def clear(self) -> int: ...
    def invalidate_model(self, model_name: str) -> int: ...
    def invalidate_config_key(self, model_name: str, config_key: str) -> int: ...
    def get_stats(self) -> dict[str, Any]: ...
    @property
    def ttl(self) -> float: ...
    @property
    def max_size(self) -> int: ...
    def __len__(self) -> int: ...
    def advance_clock(self, seconds: float) -> None:
        """Moves this cache's clock forward, as if ``seconds`` had passed (for tests)."""

def features_digest(features: npt.ArrayLike) -> bytes:
    """A 16-byte digest of an array's dtype, shape and bytes."""

@final
class InvalidBundle:
    """A bundle the scan skipped, and why."""

    @property
    def path(self) -> str: ...
    @property
    def reason(self) -> str: ...

@final
class BundleRecord:
    """One valid version folder of a registry."""

    @property
    def symbol(self) -> str: ...
    @property
    def model_type(self) -> str: ...
    @property
    def version_id(self) -> str: ...
    @property
    def timeframe(self) -> str: ...
    @property
    def directory(self) -> str: ...
    @property
    def model_path(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def created_at(self) -> str | None: ...
    @property
    def stage(self) -> str | None: ...
    @property
    def is_production(self) -> bool: ...
    @property
    def from_latest(self) -> bool:
        """Production because ``latest`` names it (not upstream's highest-version fallback)."""
    @property
    def feature_count(self) -> int | None:
        """``feature_names``' count, else ``feature_schema.json``'s ``features``' count."""
    @property
    def sequence_length(self) -> int | None:
        """``feature_schema.json``'s ``sequence_length``, else ``metadata.json``'s."""
    @property
    def feature_names(self) -> list[str] | None:
        """``metadata.json``'s ``feature_names``: the columns a DataFrame is read by, in order."""
    @property
    def metadata(self) -> dict[str, Any]: ...
    @property
    def feature_schema(self) -> dict[str, Any] | None: ...
    @property
    def metrics(self) -> dict[str, Any] | None: ...

@final
class RegistryIndex:
    """The result of a registry scan."""

    @property
    def root(self) -> Path: ...
    @property
    def versions(self) -> tuple[BundleRecord, ...]: ...
    @property
    def invalid(self) -> tuple[InvalidBundle, ...]: ...
    @property
    def production(self) -> dict[tuple[str, str], str]: ...
    @property
    def unavailable(self) -> dict[tuple[str, str], str]: ...
    @property
    def scope(self) -> tuple[str, str] | None:
        """``(symbol, model_type)`` when the scan was limited to that model type."""
    @property
    def reused(self) -> int: ...
    def version(self, key: str) -> BundleRecord | None: ...
    def __len__(self) -> int: ...

@final
class BundleOptions:
    """How bundles are opened: session threading and providers, and the regression settings."""

    def __new__(
        cls,
        *,
        intra_op_threads: int | None = None,
        providers: Sequence[str] | None = None,
        confidence_scale_factor: float = 10.0,
        direction_threshold: float = 0.01,
        warmup: bool = True,
        warmup_max_bytes: int = 268435456,
        warmup_timeout: float | None = None,
        verify_integrity: str = "warn",
        registry_root: str | os.PathLike[str] | None = None,
    ) -> BundleOptions: ...

@final
class LoadedBundle:
    """A bundle with an open, warmed-up session, its prediction spec and its problems."""

    @staticmethod
    def open_model_file(path: str | os.PathLike[str], options: BundleOptions) -> LoadedBundle: ...
    @property
    def symbol(self) -> str: ...
    @property
    def model_type(self) -> str: ...
    @property
    def version_id(self) -> str: ...
    @property
    def timeframe(self) -> str: ...
    @property
    def directory(self) -> Path: ...
    @property
    def model_path(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def integrity_problem(self) -> str | None:
        """Why the model differs from ``manifest.json`` (checked under ``"warn"``), else None."""
    @property
    def problems(self) -> tuple[str, ...]: ...
    @property
    def metadata(self) -> dict[str, Any] | None: ...
    @property
    def feature_schema(self) -> dict[str, Any] | None: ...
    @property
    def metrics(self) -> dict[str, Any] | None: ...
    @property
    def session(self) -> OnnxSession: ...
    @property
    def cacheable(self) -> bool: ...
    @property
    def feature_names(self) -> list[str] | None: ...
    @property
    def window(self) -> tuple[int, int]:
        """``(sequence_length, feature_count)``; ``ModelLoadError`` when the bundle says neither."""
    def full_windows(self, ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """``ranges`` clipped to the bars that have a full window, emptied ones dropped."""
    @property
    def raw_bars_problem(self) -> str | None:
        """Why the bundle cannot take raw OHLCV bars, or ``None`` when it can."""
    @property
    def bars_needed(self) -> int | None:
        """How many of the last bars ``predict_bars`` reads; ``None`` without raw-bar support."""
    @property
    def price_scaling(self) -> Literal["model", "mean_std", "rolling_minmax"] | None:
        """How the output becomes a price; ``None`` for classifiers."""
    @property
    def price_target(self) -> str | None:
        """The bar column a ``rolling_minmax`` price is mapped back with."""
    @property
    def model_bytes(self) -> bytes:
        """The model bytes the session was opened from (and checked, when sealed)."""
    @property
    def model_sha256(self) -> str:
        """The lower-case hex sha256 of ``model_bytes``."""
    @property
    def batch_sessions(self) -> int:
        """Extra single-threaded sessions large ``predict_batch`` calls opened (and kept)."""
    @property
    def metadata_text(self) -> str | None:
        """The text of ``metadata.json`` as the scan read it."""
    @property
    def feature_schema_text(self) -> str | None:
        """The text of ``feature_schema.json`` as the scan read it."""

@final
class Refresh:
    """What a reload opened, kept, added, changed and removed (bundle keys)."""

    @property
    def opened(self) -> tuple[LoadedBundle, ...]: ...
    @property
    def reused(self) -> tuple[str, ...]: ...
    @property
    def kept(self) -> tuple[str, ...]: ...
    @property
    def added(self) -> tuple[str, ...]: ...
    @property
    def changed(self) -> tuple[str, ...]: ...
    @property
    def replaced(self) -> tuple[str, ...]: ...
    @property
    def removed(self) -> tuple[str, ...]: ...
    @property
    def failures(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def unavailable(self) -> dict[tuple[str, str], str]: ...
    @property
    def stale(self) -> dict[tuple[str, str], str]: ...
    @property
    def current(self) -> tuple[str, ...]: ...

def refresh_bundles(
    index: RegistryIndex,
    live: Sequence[LoadedBundle],
    reusable: Sequence[LoadedBundle],
    options: BundleOptions,
    previous: Refresh | None = None,
) -> Refresh:
    """Open every production version of ``index`` that no given open bundle covers."""

def open_version(index: RegistryIndex, key: str, options: BundleOptions) -> LoadedBundle | None:
    """Open the version ``key`` of ``index``; ``None`` when the index has no such version."""

def scan_registry_with(
    root: str | os.PathLike[str],
    schemas: Mapping[str, str],
    previous: RegistryIndex | None = None,
    only: tuple[str, str] | None = None,
) -> RegistryIndex:
    """Scan a registry with each document kind's schema text (see ``scan_registry``)."""

def read_json_document(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> Any:
    """A registry JSON file read by the core's guarded reader (regular, capped, confined)."""

def document_kinds() -> list[tuple[str, str]]:
    """The document kinds a bundle may hold, as ``(name, file name)``."""

def load_runtime(path: str | os.PathLike[str]) -> Path:
    """Load the ONNX Runtime library at ``path`` unless one is loaded; return the path in use."""

def runtime_library_path() -> Path | None:
    """The loaded ONNX Runtime library, or ``None`` before the first session."""

def shape_problems(session: OnnxSession, record: BundleRecord) -> list[str]:
    """Problems between the session's inputs and the record's declarations (empty when fine)."""

def zero_input_shapes(
    inputs: Sequence[tuple[str, Sequence[int | None], int]],
    *,
    sequence_length: int | None,
    feature_count: int | None,
    max_bytes: int = 268435456,
) -> list[list[int]]:
    """The shapes of a check's all-zero inputs; ``InvalidArgumentError`` past ``max_bytes``."""

DEFAULT_WARMUP_MAX_BYTES: int
"""The most bytes of all-zero inputs built to warm up or check a model (256 MiB)."""

def usable_cores() -> int:
    """The cores this process may use: its CPU affinity capped by its cgroup's CPU quota."""

def configure_thread_pools(
    *,
    intra_op_threads: int | None = None,
    inter_op_threads: int | None = None,
    allow_spinning: bool = False,
) -> dict[str, Any]:
    """Size the thread pools all sessions share (before the first session); return those in use."""

def seal_bundle(directory: str | os.PathLike[str], root: str | os.PathLike[str]) -> int:
    """Write ``directory/manifest.json`` (sha256 and size of every file); return the file count."""

@final
class SealCheck:
    """A bundle's files hashed once, set against its manifest."""

    @property
    def digests(self) -> dict[str, str]: ...
    @property
    def changes(self) -> list[str] | None: ...
    def write(self) -> int: ...

def check_seal(directory: str | os.PathLike[str], root: str | os.PathLike[str]) -> SealCheck:
    """Hash every file of the bundle once and set the digests against its manifest."""

def verify_bundle(
    directory: str | os.PathLike[str], root: str | os.PathLike[str]
) -> list[str] | None:
    """The files differing from ``manifest.json``, one sentence each; ``None`` when unsealed."""

def read_latest(type_dir: str | os.PathLike[str]) -> tuple[str, str | None]:
    """``(form, value)`` of ``type_dir/latest``: ``none``, ``symlink`` (the version a target
    beside it names, else the target as written), ``file``, or why not."""

# --- the registry's layout (core::layout) ---

LATEST: str
#: The bar columns raw-bar input has, in the order the core reads them.
BAR_COLUMNS: list[str]
"""The production pointer's name in a model-type folder (never a folder name)."""

BOOTSTRAP_RESAMPLES: int
"""Resamples the bootstrap draws when none are asked for."""

BOOTSTRAP_METRICS: list[str]
"""The metrics of returns the bootstrap compares."""

def is_folder_name(name: str) -> bool:
    """Whether ``name`` can name a SYMBOL, MODEL_TYPE or VERSION folder."""

def registry_folders(
    directory: str | os.PathLike[str], root: str | os.PathLike[str]
) -> tuple[list[str], list[tuple[str, str]]]:
    """The folders of ``directory`` as the scan of the registry ``root`` lists them: names
    served (sorted), and ``(name, reason)`` of each entry refused."""

def path_parts(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> list[str]:
    """The folder names of ``path`` below ``root`` (``[SYMBOL, MODEL_TYPE, NAME]``)."""

def registry_root(version_dir: str | os.PathLike[str]) -> Path | None:
    """The registry root of a version folder ``ROOT/SYMBOL/MODEL_TYPE/VERSION``."""

def version_date(version_id: str) -> tuple[int, int, int] | None:
    """``(year, month, day)`` a version id starts with, when it starts with a real date."""

def format_key(symbol: str, timeframe: str, model_type: str, version_id: str | None = None) -> str:
    """``SYMBOL:TIMEFRAME:MODEL_TYPE``, with ``version_id`` ``...:VERSION``."""

def split_key(text: str) -> list[str]:
    """The one to four parts of a key or a prefix of one; ``InvalidArgumentError`` else."""

def parse_key(text: str) -> tuple[str, str | None, str | None, str | None]:
    """``(symbol, timeframe, model_type, version)`` a ``KEY`` argument names (a key, a prefix
    of one, or ``SYMBOL/MODEL_TYPE[/VERSION]``); ``InvalidArgumentError`` else."""

def feature_positions(what: str, columns: Iterable[object], feature_names: list[str]) -> list[int]:
    """Where each of ``feature_names`` is among the column labels ``columns`` (the first of that
    name), as ``predict`` reads a DataFrame; ``InvalidInputError`` names every one ``what``
    lacks."""

def bar_positions(what: str, columns: Iterable[object]) -> list[int]:
    """Where open, high, low, close and volume are among the column labels ``columns``, in any
    case (exact names first); ``InvalidInputError`` names those ``what`` lack."""

def column_position(columns: Iterable[object], name: str) -> int | None:
    """The position of the column ``name``: exactly that name, else the first equal to it in
    any case; ``None`` without one."""

def series_columns(
    what: str, columns: Iterable[object], feature_names: list[str], takes_bars: bool
) -> tuple[Literal["features", "bars"], list[int]]:
    """How a bundle reads a series with named ``columns``: its ``feature_names``, else (when
    ``takes_bars``) the raw OHLCV columns; ``InvalidInputError`` names what ``what`` lacks."""

@final
class SweepModel:
    """One bundle opened for a sweep: one single-threaded session per worker."""

    def __new__(
        cls,
        model: bytes,
        metadata_json: str | None = None,
        feature_schema_json: str | None = None,
        *,
        origin: str,
        workers: int = 1,
        confidence_scale_factor: float = 10.0,
        direction_threshold: float = 0.01,
        timeout: float | None = None,
        providers: list[str] | None = None,
    ) -> SweepModel: ...
    @staticmethod
    def from_bundle(
        bundle: LoadedBundle,
        *,
        workers: int = 1,
        timeout: float | None = None,
        providers: list[str] | None = None,
    ) -> SweepModel: ...
    @property
    def sequence_length(self) -> int: ...
    @property
    def feature_count(self) -> int: ...
    @property
    def workers(self) -> int: ...
    @property
    def classes(self) -> int | None: ...
    @property
    def origin(self) -> str: ...
    def normalise(self, series: npt.NDArray[Any], *, bars: bool = False) -> npt.NDArray[Any]: ...
    def to_prices(
        self,
        target: npt.NDArray[np.float64],
        *,
        offset: int,
        price: npt.NDArray[np.float64],
        confidence: npt.NDArray[np.float64],
        direction: npt.NDArray[np.int8],
    ) -> tuple[int, int | None]: ...
    def pieces(
        self, ranges: Sequence[tuple[int, int]], bars: int, batch_size: int, piece_windows: int
    ) -> list[list[tuple[int, int]]]: ...
    def run(
        self,
        normalised: npt.NDArray[Any],
        ranges: Sequence[tuple[int, int]],
        batch_size: int,
        *,
        offset: int,
        price: npt.NDArray[np.float64],
        confidence: npt.NDArray[np.float64],
        direction: npt.NDArray[np.int8],
        probabilities: npt.NDArray[np.float64] | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> tuple[int, int, int | None]: ...

def periods_per_year(timeframe: str) -> float:
    """Bars per year of a timeframe (``15m``, ``1h``, ``4h``, ``1d``, ``1w``)."""

LONG_THRESHOLD: float
"""Live's default long threshold on the predicted return (upstream's ``LONG_ENTRY_THRESHOLD``)."""
SHORT_THRESHOLD: float
"""Live's default short threshold (upstream's ``SHORT_ENTRY_THRESHOLD``)."""
MIN_BARS: int
"""The fewest scored bars a row needs to be ranked, or to pass a gate."""
BUY_AND_HOLD: str
"""The name of the buy-and-hold benchmark's row."""
AS_LIVE: str
"""The name of the as-live composite's row."""

def score_metrics() -> list[tuple[str, str]]:
    """Every score column, in order, with which values are better (higher, lower, neither)."""

def check_score_settings(
    *,
    horizon: int,
    fee_bps: float,
    long_threshold: float,
    short_threshold: float,
    periods_per_year: float | None = None,
    bars: int | None = None,
) -> None:
    """Refuses scoring settings no score can be computed with, naming the setting."""

TIME_COLUMNS: list[str]
"""The names a series' time column goes by (any case): open_time, timestamp, time, date,
datetime."""

def utc_times(values: object, what: str = "timestamps") -> npt.NDArray[np.int64]:
    """Every time of a 1-D numpy array as UTC nanoseconds since the epoch: integer and float
    epochs with their unit from their magnitude (seconds from 1e8, milliseconds from 1e11,
    microseconds from 1e14, nanoseconds from 1e17), ``datetime64`` of any unit as it says.
    ``InvalidInputError`` names the first bar that is no time, or says the array holds none."""

def check_time_order(times: object) -> None:
    """``InvalidInputError`` unless the times (int64 nanoseconds, ``datetime64``, or epochs as
    :func:`utc_times` reads them) strictly increase, naming the first offending bar: its
    position and both times in ISO UTC."""

def median_spacing(times: npt.NDArray[np.int64]) -> int | None:
    """The median spacing (nanoseconds) of UTC nanosecond times; ``None`` for fewer than two."""

def bars_per_year(times: npt.NDArray[np.int64]) -> float | None:
    """The bars a year that strictly increasing UTC nanosecond times show: their bars over their
    span in 365-day years (daily equities ~252, daily crypto 365, continuous hourly 8,760);
    ``None`` for fewer than two."""

def spacing_mismatch(spacing: int, timeframe: str) -> str | None:
    """Why bars ``spacing`` nanoseconds apart are not a ``timeframe``'s, or ``None``."""

def format_utc(nanos: int) -> str:
    """UTC nanoseconds since the epoch as ISO 8601 text."""

def time_column(columns: Iterable[object]) -> int | None:
    """The position of the first column named open_time, timestamp, time, date or datetime
    (any case), or ``None``."""

def score_sweep(
    price: npt.NDArray[np.float64],
    confidence: npt.NDArray[np.float64],
    direction: npt.NDArray[np.int8],
    price_units: list[bool],
    classifier: list[bool],
    close: npt.NDArray[np.float64],
    *,
    versions: list[str],
    live_version: npt.NDArray[np.int64] | None = None,
    horizon: int,
    fee_bps: float,
    periods_per_year: float,
    long_threshold: float,
    short_threshold: float,
    returns: bool = False,
    equity: bool = False,
) -> dict[str, Any]:
    """Scores per row of a sweep: the versions, buy-and-hold, and the as-live composite with
    ``live_version``; with their per-bar returns, scored bars and equity when asked for."""

def bootstrap_compare(
    candidate: npt.NDArray[np.float64],
    reference: npt.NDArray[np.float64],
    *,
    metric: str,
    periods_per_year: float,
    resamples: int = ...,
    block_length: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """A paired stationary block bootstrap of ``metric``'s difference between two return
    series: ``metric``, ``bars``, ``candidate``, ``reference``, ``p_value``, ``block_length``,
    ``resamples``, ``seed``."""

def check_bootstrap(*, metric: str, resamples: int, block_length: float | None, seed: int) -> None:
    """Refuse a metric the bootstrap cannot compare, or options it cannot run with."""

def optimal_block_length(values: npt.NDArray[np.float64]) -> float:
    """Politis and White's automatic mean block length for the stationary bootstrap."""

def bootstrap_differences(
    candidate: npt.NDArray[np.float64],
    reference: npt.NDArray[np.float64],
    indices: npt.NDArray[np.int64],
    *,
    metric: str,
    periods_per_year: float,
) -> npt.NDArray[np.float64]:
    """The oriented differences of ``metric`` over given resamples' indices."""
