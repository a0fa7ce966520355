"""``atb backtest sweep``: run a history through a model's versions and summarise each one."""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib
import io
import itertools
import math
import os
import stat
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from atb_prediction.cli.arguments import ParserParts, SubParsers, as_usage_error, positive_int
from atb_prediction.cli.output import EXIT_OK, EXIT_USAGE, CommandError, Console

if TYPE_CHECKING:
    from atb_prediction.backtest import SweepResult
    from atb_prediction.backtest.scores import SweepScores
    from atb_prediction.backtest.series import Series

__all__ = [
    "add_parsers",
    "add_score_options",
    "check_score_options",
    "read_series",
    "read_series_file",
    "run_sweep",
    "write_result",
    "write_returns",
]

#: The largest series file read, in bytes: a file is read (and parsed) as it streams, never
#: past this, so a huge file or one that grows while read cannot exhaust memory.
MAX_SERIES_BYTES = 1 << 30
#: The longest line of a ``.csv`` series, in characters (a row of a few hundred features fits
#: many times over); csv's own field limit (128 KiB) bounds each field.
MAX_LINE_CHARS = 1 << 20
#: The columns of a Binance kline file (data.binance.vision), which has no header row.
_BINANCE_KLINES = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_asset_volume",
    "number_of_trades",
    "taker_buy_base_asset_volume",
    "taker_buy_quote_asset_volume",
    "ignore",
)


def add_parsers(commands: SubParsers, parts: ParserParts) -> None:
    """Registers ``atb backtest sweep``."""
    backtest = parts.add(
        commands,
        "backtest",
        help="run a history through a model's versions",
        description="Backtest sweeps: every window of a series, every version.",
        global_options=False,
    )
    sub = backtest.add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)
    parser = parts.add(
        sub,
        "sweep",
        help="predict at every bar of a series with one or more versions",
        description="Predicts at every bar of the series (each from the window of bars up to "
        "and including it) with the production version, every version, the version that was "
        "live at each bar (as-live: from the promotion journal), or the listed ones, and "
        "prints a summary per version: bars, windows, mean confidence, direction counts and "
        "wall time.",
    )
    parser.add_argument("symbol", metavar="SYMBOL")
    parser.add_argument("model_type", metavar="MODEL_TYPE")
    parser.add_argument(
        "--series",
        metavar="FILE",
        required=True,
        help=".csv with a header row (a timestamp, time, date or open_time column gives the "
        "times; other columns are matched to the model's feature names, or are raw "
        "open/high/low/close/volume bars the model's features are computed from), a Binance "
        "kline .csv without a header, .npy [bars, features], or .parquet (needs pyarrow; its "
        "numeric columns are read as for .csv, and a column named as for .csv, else its one "
        "timestamp column, gives the times)",
    )
    parser.add_argument("--timeframe", metavar="TF", help="only versions of this timeframe")
    parser.add_argument(
        "--versions",
        default="production",
        metavar="WHICH",
        help="production (default), all, as-live, or VERSION,VERSION,...",
    )
    parser.add_argument(
        "--out", metavar="FILE", help="write every prediction to .csv, .npz or .parquet"
    )
    parser.add_argument(
        "--returns",
        metavar="FILE",
        help="write each version's per-bar strategy returns, buy-and-hold's and the as-live "
        "composite's (what --score's metrics are computed from) to .csv or .parquet",
    )
    parser.add_argument(
        "--plot", metavar="FILE.png", help="draw the predictions (needs matplotlib)"
    )
    parser.add_argument(
        "--workers", type=positive_int, metavar="N", help="parallel sessions (Ray: actors)"
    )
    parser.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local threads (default) or Ray actors (needs atb-prediction[ray])",
    )
    parser.add_argument(
        "--address",
        metavar="ADDR",
        help="Ray cluster to join: auto or ray://HOST:PORT (default: the running Ray, else a "
        "new local one)",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, metavar="N", help="windows per inference call"
    )
    parser.add_argument(
        "--score",
        action="store_true",
        help="score each version, buy-and-hold and the as-live composite against the series' "
        "close column: hit rate, errors, the return, Sharpe ratio, drawdown, turnover and "
        "exposure of trading its signal; printed best Sharpe first (rows with fewer than "
        "--min-bars scored bars are listed unranked, after the others)",
    )
    add_score_options(parser)
    parser.set_defaults(command="backtest sweep", run=run_sweep)


def add_score_options(parser: argparse.ArgumentParser) -> None:
    """How ``--score`` and ``--gate`` score: ``--horizon``, ``--fee-bps``, live's thresholds
    (``--long-threshold``, ``--short-threshold``) and ``--min-bars``; checked by
    :func:`check_score_options` before any work."""
    from atb_prediction.metrics import LONG_THRESHOLD, MIN_BARS, SHORT_THRESHOLD

    parser.add_argument(
        "--horizon",
        type=int,
        default=1,
        metavar="H",
        help="bars ahead that the hit rate and price errors are judged against (default 1)",
    )
    parser.add_argument(
        "--fee-bps",
        type=float,
        default=0.0,
        metavar="F",
        help="cost of each unit of position changed, in basis points, 0 or more (default 0)",
    )
    parser.add_argument(
        "--long-threshold",
        type=float,
        default=LONG_THRESHOLD,
        metavar="R",
        help="a version in price units goes long when its predicted return (price - close) / "
        f"close is above R (default {LONG_THRESHOLD:g}, live's LONG_ENTRY_THRESHOLD)",
    )
    parser.add_argument(
        "--short-threshold",
        type=float,
        default=SHORT_THRESHOLD,
        metavar="R",
        help="...and short when it is below R, at most --long-threshold (default "
        f"{SHORT_THRESHOLD:g}, live's SHORT_ENTRY_THRESHOLD)",
    )
    parser.add_argument(
        "--periods-per-year",
        type=_positive_number,
        metavar="N",
        help="bars a year to annualise the Sharpe ratio with (default: the bars a year the "
        "series' times show, 8760 for continuous hourly bars, about 252 for daily equities; "
        "else from the timeframe)",
    )
    parser.add_argument(
        "--min-bars",
        type=int,
        default=MIN_BARS,
        metavar="N",
        help=f"the fewest scored bars a version needs to be ranked, and each --gate comparison "
        f"to pass (default {MIN_BARS})",
    )


#: The Python names of the scoring settings, as their options are spelled.
_SCORE_OPTIONS = {
    "horizon": "--horizon",
    "fee_bps": "--fee-bps",
    "long_threshold": "--long-threshold",
    "short_threshold": "--short-threshold",
    "min_bars": "--min-bars",
    "periods_per_year": "--periods-per-year",
}


def check_score_options(args: argparse.Namespace, bars: int | None = None) -> None:
    """Refuses bad scoring options (:func:`add_score_options`) as a usage error naming the
    option, before any work; ``bars``, when known, bounds ``--horizon``."""
    from atb_prediction.backtest.scores import check_settings

    try:
        check_settings(
            horizon=args.horizon,
            fee_bps=args.fee_bps,
            long_threshold=args.long_threshold,
            short_threshold=args.short_threshold,
            min_bars=args.min_bars,
            periods_per_year=args.periods_per_year,
            bars=bars,
        )
    except ValueError as error:
        raise as_usage_error(error, _SCORE_OPTIONS) from error


def _positive_number(text: str) -> float:
    """An ``argparse`` type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text}")
    return value


class _CappedReader(io.RawIOBase):
    """A binary file read up to :data:`MAX_SERIES_BYTES`, then a ``ValueError``; every byte read
    also goes through ``digest``, so the digest is of the very bytes parsed."""

    def __init__(self, raw: BinaryIO, digest: Any = None) -> None:
        self._raw = raw
        self._read = 0
        self._digest = digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        self._read += count or 0
        if self._digest is not None and count:
            self._digest.update(memoryview(buffer)[:count])
        if self._read > MAX_SERIES_BYTES:
            raise ValueError(f"it is larger than {MAX_SERIES_BYTES:,} bytes, the most read")
        return int(count or 0)


def _open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading when it is a regular file no larger than
    :data:`MAX_SERIES_BYTES`: a FIFO, a device (``/dev/zero``) or a folder is refused without
    blocking on it (``O_NONBLOCK``), never read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise ValueError("it is not a regular file (a FIFO, a device or a folder)")
        if status.st_size > MAX_SERIES_BYTES:
            raise ValueError(
                f"it is {status.st_size:,} bytes, larger than {MAX_SERIES_BYTES:,}, the most read"
            )
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _read_bytes(path: Path, digest: Any = None) -> bytes:
    """The whole of a regular file of at most :data:`MAX_SERIES_BYTES`, also fed to
    ``digest``."""
    with _open_regular(path) as file:
        data = file.read(MAX_SERIES_BYTES + 1)
    if len(data) > MAX_SERIES_BYTES:
        raise ValueError(f"it is larger than {MAX_SERIES_BYTES:,} bytes, the most read")
    if digest is not None:
        digest.update(data)
    return data


def _lines(text: TextIO) -> Iterator[str]:
    """The lines of ``text``, each at most :data:`MAX_LINE_CHARS` long; a NUL says the file is
    not text."""
    number = 0
    while line := text.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise ValueError(f"line {number} is longer than {MAX_LINE_CHARS:,} characters")
        if "\0" in line:
            raise ValueError(f"it is not a text file (a NUL byte on line {number})")
        yield line


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass
class _Columns:
    """A series file's columns as read: the values of every column but the time column (NaN
    for an empty cell), and the time column's raw values with how messages name it."""

    values: Any
    names: list[str]
    times: Any | None = None
    times_name: str = "timestamps"


def _read_csv(path: Path, digest: Any = None) -> _Columns:
    """A ``.csv`` series, parsed as it streams: a header row (or none, in a Binance kline file),
    the time column found by name (``open_time``, ``timestamp``, ``time``, ``date``,
    ``datetime``, any case) or as the unnamed first column of text times that pandas'
    ``to_csv`` writes for a ``DatetimeIndex``; every other column a number per row, an empty
    cell NaN. The file must be a regular UTF-8 text file of at most :data:`MAX_SERIES_BYTES`,
    with lines of at most :data:`MAX_LINE_CHARS`; anything else is a one-line ``ValueError``."""
    import numpy as np

    from atb_prediction._core import time_column

    with _open_regular(path) as raw:
        buffered = io.BufferedReader(_CappedReader(raw, digest))
        text = io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="")
        reader = csv.reader(_lines(text))
        line = 1
        try:
            first = next(reader, None)
            if first is None:
                raise ValueError("the file is empty")
            header = [h.strip() for h in first]
            pending: list[list[str]] = []
            if all(_is_number(field) for field in header):
                # No header row: a Binance kline file, or nothing this reader can name.
                if len(header) != len(_BINANCE_KLINES):
                    raise ValueError(
                        "the first line holds numbers, not column names: add a header row (a "
                        f"Binance kline file without one has {len(_BINANCE_KLINES)} columns, "
                        f"this one {len(header)})"
                    )
                header, pending = list(_BINANCE_KLINES), [first]
            time_index = time_column(header)
            unnamed_first = time_index is None and bool(header) and header[0] == ""
            values: array[float] = array("d")
            times: list[str] = []
            line = reader.line_num
            for row in itertools.chain(pending, reader):
                line = reader.line_num
                if not row:
                    continue  # a blank line
                if len(row) != len(header):
                    raise ValueError(f"line {line} has {len(row)} fields, the header {len(header)}")
                if unnamed_first:
                    # pandas' to_csv writes a DatetimeIndex as an unnamed first column: its
                    # values are text times, where a RangeIndex's are numbers.
                    unnamed_first = False
                    if row[0].strip() and not _is_number(row[0]):
                        time_index = 0
                for position, cell in enumerate(row):
                    if position == time_index:
                        times.append(cell)
                        continue
                    try:
                        values.append(float(cell) if cell.strip() else math.nan)
                    except ValueError:
                        name = header[position] or f"#{position + 1}"
                        raise ValueError(
                            f"line {line}, column {name!r}: {cell!r} is not a number"
                        ) from None
        except csv.Error as error:
            raise ValueError(f"line {reader.line_num}: {error}") from None
        except UnicodeDecodeError as error:
            raise ValueError(f"it is not UTF-8 text ({error.reason} near line {line})") from None
    names = [h for i, h in enumerate(header) if i != time_index]
    matrix = np.frombuffer(values, dtype=np.float64).reshape(-1, len(names)) if names else None
    bars = len(times) if time_index is not None else (0 if matrix is None else len(matrix))
    if matrix is None:
        matrix = np.empty((bars, 0))
    column = None if time_index is None else header[time_index] or "the unnamed first"
    return _Columns(
        values=matrix,
        names=names,
        times=None if time_index is None else np.array(times),
        times_name="timestamps" if column is None else f"column {column!r}",
    )


def _pyarrow(doing: str) -> tuple[Any, Any]:
    """``pyarrow`` and ``pyarrow.parquet``, or a one-line error naming the extra to install."""
    try:
        return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")
    except ImportError as error:
        message = f'{doing} .parquet needs pyarrow: pip install "atb-prediction[parquet]"'
        raise CommandError(message) from error


def _read_parquet(path: Path, digest: Any = None) -> _Columns:
    """Its numeric columns are the features (a null is NaN); the time column is one named as in
    a CSV, else the only column of a timestamp or date type (so a DataFrame's ``DatetimeIndex``,
    stored as ``__index_level_0__``, is found); columns of other types (a symbol, say) are left
    out. The file is read once, bounded as a CSV is."""
    import numpy as np

    from atb_prediction._core import time_column

    pa, pq = _pyarrow("reading")
    table = pq.read_table(pa.BufferReader(_read_bytes(path, digest)))
    fields = list(table.schema)
    position = time_column([f.name for f in fields])
    time_name = None if position is None else fields[position].name
    if time_name is None:
        stamped = [
            f.name for f in fields if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type)
        ]
        time_name = stamped[0] if len(stamped) == 1 else None
    numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal)
    features = [
        f.name for f in fields if f.name != time_name and any(test(f.type) for test in numeric)
    ]
    values = (
        np.column_stack(
            [table.column(n).to_numpy(zero_copy_only=False).astype(np.float64) for n in features]
        )
        if features
        else np.empty((table.num_rows, 0))
    )
    times = None
    if time_name is not None:
        times = table.column(time_name).to_numpy(zero_copy_only=False)
    return _Columns(
        values=values,
        names=features,
        times=times,
        times_name="timestamps" if time_name is None else f"column {time_name!r}",
    )


def read_series(path_text: str) -> Series:
    """The series in a ``.csv``, ``.npy`` or ``.parquet`` file; a bad file is a
    :class:`CommandError` naming it, in one line."""
    return read_series_file(path_text)[0]


def read_series_file(path_text: str) -> tuple[Series, str]:
    """:func:`read_series`, and the sha256 of the bytes it parsed: the file is read once, so the
    digest is of the bars parsed even when the file is rewritten meanwhile."""
    import numpy as np

    from atb_prediction.backtest.series import as_series
    from atb_prediction.models.exceptions import InvalidInputError

    path = Path(path_text)
    suffix = path.suffix.lower()
    digest = hashlib.sha256()
    try:
        if suffix == ".npy":
            data = _read_bytes(path, digest)
            series = as_series(np.load(io.BytesIO(data), allow_pickle=False), None)
            return series, digest.hexdigest()
        if suffix == ".csv":
            columns = _read_csv(path, digest)
        elif suffix == ".parquet":
            columns = _read_parquet(path, digest)
        else:
            raise CommandError(
                f"cannot read series {path}: expected a .csv, .npy or .parquet file",
                EXIT_USAGE,
            )
        series = as_series(
            columns.values, columns.times, columns.names, times_name=columns.times_name
        )
        return series, digest.hexdigest()
    except (OSError, ValueError, InvalidInputError) as error:
        raise CommandError(f"cannot read series {path}: {error}") from error


def write_result(result: SweepResult, path_text: str) -> None:
    """Writes every prediction to ``.csv``, ``.npz`` or ``.parquet`` (by extension)."""
    import numpy as np

    path = Path(path_text)
    suffix = path.suffix.lower()
    columns: dict[str, Any] = {"bar": np.arange(result.bars)}
    if result.timestamps is not None:
        columns["timestamp"] = result.timestamps
    if result.live_version is not None:
        names = np.array([*result.versions, ""], dtype=object)
        columns["live_version"] = names[result.live_version]
    for row, version in enumerate(result.versions):
        columns[f"price[{version}]"] = result.price[row]
        columns[f"confidence[{version}]"] = result.confidence[row]
        columns[f"direction[{version}]"] = result.direction[row]
        if result.probabilities is not None:
            for k in range(result.probabilities.shape[2]):
                columns[f"p{k}[{version}]"] = result.probabilities[row, :, k]
    if suffix == ".npz":
        arrays: dict[str, Any] = {
            "versions": np.array(result.versions),
            "price": result.price,
            "confidence": result.confidence,
            "direction": result.direction,
            "probabilities": result.probabilities,
            "timestamps": result.timestamps,
            "live_version": result.live_version,
        }
        np.savez(path, **{name: array for name, array in arrays.items() if array is not None})
    else:
        _write_table(columns, path)


def _write_table(columns: dict[str, Any], path: Path) -> None:
    """Named columns of equal length as ``.csv`` (NaN as an empty cell) or ``.parquet``."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(columns)
            for values in zip(*columns.values(), strict=True):
                writer.writerow("" if isinstance(v, float) and v != v else str(v) for v in values)
    elif suffix == ".parquet":
        pa, pq = _pyarrow("writing")
        pq.write_table(
            pa.table({k: list(v) if v.dtype == object else v for k, v in columns.items()}), path
        )
    else:
        raise CommandError(f"cannot write {path}: expected .csv, .npz or .parquet", EXIT_USAGE)


def write_returns(result: SweepResult, scores: SweepScores, path_text: str) -> None:
    """Writes every row's per-bar strategy returns (``scores.returns``) to ``.csv`` or
    ``.parquet``: ``bar`` (the bar the return runs to), ``timestamp`` when known, then one
    column per row (versions, ``buy-and-hold``, ``as-live``)."""
    import numpy as np

    assert scores.returns is not None
    columns: dict[str, Any] = {"bar": np.arange(1, result.bars)}
    if result.timestamps is not None:
        columns["timestamp"] = result.timestamps[1:]
    for row, name in enumerate(scores.versions):
        columns[name] = scores.returns[row]
    _write_table(columns, Path(path_text))


def _versions(text: str) -> str | list[str]:
    from atb_prediction.backtest.planning import SELECTIONS

    if text in SELECTIONS:
        return text
    versions = [v.strip() for v in text.split(",") if v.strip()]
    if not versions:
        raise CommandError("--versions is empty", EXIT_USAGE)
    return versions


def _require_extras(args: argparse.Namespace) -> None:
    """The optional packages ``--plot`` and a ``.parquet`` ``--out`` or ``--returns`` need,
    checked before any work: a missing one is a one-line error naming the extra, not a
    traceback (or an error) after the sweep."""
    if args.plot:
        try:
            importlib.import_module("matplotlib.figure")
        except ImportError as error:
            raise CommandError(
                f'--plot {args.plot} needs matplotlib: pip install "atb-prediction[plot]"'
            ) from error
    if any(path and Path(path).suffix.lower() == ".parquet" for path in (args.out, args.returns)):
        _pyarrow("writing")


def run_sweep(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb backtest sweep``."""
    from atb_prediction.backtest import LocalEngine, RayEngine, sweep
    from atb_prediction.backtest.scores import score_result
    from atb_prediction.cli.registry_access import require_registry
    from atb_prediction.cli.tables import Column, render_table
    from atb_prediction.config import PredictionConfig
    from atb_prediction.models.registry import PredictionModelRegistry

    versions = _versions(args.versions)
    if args.address is not None and args.engine != "ray":
        raise CommandError("--address needs --engine ray", EXIT_USAGE)
    for option in ("out", "plot", "returns"):
        target = getattr(args, option)
        allowed = {"out": (".csv", ".npz", ".parquet"), "plot": (".png",)}.get(
            option, (".csv", ".parquet")
        )
        if target is not None and Path(target).suffix.lower() not in allowed:
            raise CommandError(
                f"--{option} {target}: expected a {' or '.join(allowed)} file", EXIT_USAGE
            )
    _require_extras(args)
    check_score_options(args)
    series = read_series(args.series)
    if args.score or args.plot or args.returns:
        check_score_options(args, series.bars)
    root = args.registry
    require_registry(root)
    registry = PredictionModelRegistry(
        PredictionConfig(model_registry_path=root, prediction_cache_enabled=False)
    )
    result = sweep(
        registry,
        series,
        symbol=args.symbol,
        model_type=args.model_type,
        timeframe=args.timeframe,
        versions=versions,
        progress=None if not args.json else False,
        engine=RayEngine(args.address, args.workers, args.batch_size)
        if args.engine == "ray"
        else LocalEngine(args.workers, args.batch_size),
    )
    if args.out:
        write_result(result, args.out)
    thresholds = {"long_threshold": args.long_threshold, "short_threshold": args.short_threshold}
    if args.plot:
        result.plot(
            path=args.plot,
            horizon=args.horizon,
            fee_bps=args.fee_bps,
            series=Path(args.series).name,
            **thresholds,
        )
    scores = None
    if args.score or args.returns:
        try:
            scores = score_result(
                result,
                horizon=args.horizon,
                fee_bps=args.fee_bps,
                min_bars=args.min_bars,
                periods=args.periods_per_year,
                returns=args.returns is not None,
                **thresholds,
            )
        except ValueError as error:
            option = "--score" if args.score else "--returns"
            raise CommandError(f"{option}: {error}", EXIT_USAGE) from error
    if args.returns:
        assert scores is not None
        write_returns(result, scores, args.returns)
    ranked = scores.rows(ranked_by="sharpe") if scores is not None and args.score else None
    summary = result.summary()
    if args.json:
        document: dict[str, Any] = {
            "symbol": result.symbol,
            "model_type": result.model_type,
            "bars": result.bars,
            "out": os.path.abspath(args.out) if args.out else None,
            "plot": os.path.abspath(args.plot) if args.plot else None,
            "returns": os.path.abspath(args.returns) if args.returns else None,
            "versions": [
                {
                    "version": line.version_id,
                    "bars": line.bars,
                    "windows": line.windows,
                    "mean_confidence": line.mean_confidence,
                    "directions": {"down": line.down, "flat": line.flat, "up": line.up},
                    "seconds": line.seconds,
                }
                for line in summary
            ],
        }
        if ranked is not None and scores is not None:
            from atb_prediction.cli.scoring import scoring_settings

            document["scores"] = ranked
            document["scoring"] = scoring_settings(scores)
        console.json(document)
        return EXIT_OK
    columns = [
        Column("VERSION"),
        Column("BARS", "right"),
        Column("WINDOWS", "right"),
        Column("MEAN CONF", "right"),
        Column("DOWN", "right"),
        Column("FLAT", "right"),
        Column("UP", "right"),
        Column("SECONDS", "right"),
    ]
    rows = [
        [
            line.version_id,
            f"{line.bars:,}",
            f"{line.windows:,}",
            "-" if line.mean_confidence != line.mean_confidence else f"{line.mean_confidence:.4f}",
            f"{line.down:,}",
            f"{line.flat:,}",
            f"{line.up:,}",
            f"{line.seconds:.2f}",
        ]
        for line in summary
    ]
    console.print(render_table(columns, rows, width=console.width, style=console.style))
    if ranked is not None and scores is not None:
        from atb_prediction.cli.scoring import score_table, scoring_line, unranked_note

        console.print()
        console.print(scoring_line(scores))
        console.print(f"Sharpe annualised with {scores.periods_per_year:,.6g} bars a year.")
        console.print(score_table(ranked, width=console.width, style=console.style, best="sharpe"))
        note = unranked_note(ranked, scores.min_bars)
        if note is not None:
            console.print(note)
    if args.out:
        console.note(f"wrote {args.out}")
    if args.returns:
        console.note(f"wrote {args.returns}")
    if args.plot:
        console.note(f"wrote {args.plot}")
    return EXIT_OK
