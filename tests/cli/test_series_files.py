"""Series files as users have them, through ``atb backtest sweep``: pandas-written CSVs, Binance
klines (headerless, ``open_time`` in ms and µs), ccxt-style ``timestamp`` columns, ``open_time``
in seconds, capitalised OHLCV, daily bars, a reversed file, parquet; hostile files refused in one
line; failures under ``--json`` as one JSON document."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from atb_prediction.cli import main
from atb_prediction.cli.backtesting import read_series
from atb_prediction.demo import demo_bars, write_demo_registry
from cli_helpers import assert_one_error_line, atb_command, clean_env, run_atb

VERSIONS = ("2025-11-01_1h_v1", "2025-11-08_1h_v1", "2025-11-15_1h_v1")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_registry(tmp_path_factory.mktemp("demo") / "registry").root


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """The demo's 720 hourly bars, a UTC ``DatetimeIndex`` without a name."""
    columns, stamps = demo_bars()
    return pd.DataFrame(columns, index=pd.DatetimeIndex(stamps).tz_localize("UTC"))


def sweep_json(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, Any]:
    code = main(["backtest", "sweep", "BTCUSDT", "basic", "--registry", str(root), "--json",
                 *args])  # fmt: skip
    captured = capsys.readouterr()
    return code, json.loads(captured.out)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def _milliseconds(frame: pd.DataFrame) -> Any:
    return frame.index.asi8 // 10**6


def _klines(frame: pd.DataFrame, scale: int) -> pd.DataFrame:
    """Binance's kline columns (data.binance.vision), times in ms (``scale`` 1) or µs (1000)."""
    opened = _milliseconds(frame) * scale
    return pd.DataFrame({
        "open_time": opened, **{c: frame[c].to_numpy() for c in frame},
        "close_time": opened + 3_599_999 * scale, "quote_volume": 0.0, "trades": 7,
        "taker_base": 0.0, "taker_quote": 0.0, "ignore": 0,
    })  # fmt: skip


WRITERS: dict[str, Callable[[pd.DataFrame, Path], None]] = {
    # pandas' to_csv of a DatetimeIndex: an unnamed first column of text times.
    "pandas to_csv": lambda f, p: f.to_csv(p),
    "pandas to_csv, naive times": lambda f, p: f.tz_localize(None).to_csv(p),
    "yfinance-style Date and capitalised": lambda f, p: (
        f.rename(columns=str.capitalize).rename_axis("Date").to_csv(p)
    ),
    "ccxt timestamp ms": lambda f, p: (
        f.reset_index(drop=True).assign(timestamp=_milliseconds(f)).to_csv(p, index=False)
    ),
    "timestamp us": lambda f, p: (
        f.reset_index(drop=True).assign(timestamp=_milliseconds(f) * 1000).to_csv(p, index=False)
    ),
    "open_time seconds": lambda f, p: (
        f.reset_index(drop=True).assign(open_time=_milliseconds(f) // 1000).to_csv(p, index=False)
    ),
    "Binance klines ms": lambda f, p: _klines(f, 1).to_csv(p, index=False, header=False),
    "Binance klines us": lambda f, p: _klines(f, 1000).to_csv(p, index=False, header=False),
    "TIMESTAMP float seconds": lambda f, p: (
        f.reset_index(drop=True).assign(TIMESTAMP=_milliseconds(f) / 1000.0).to_csv(p, index=False)
    ),
}


@pytest.mark.parametrize("shape", list(WRITERS))
def test_every_file_shape_gives_the_same_times_and_answers(
    root: Path,
    frame: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    shape: str,
) -> None:
    """D15: an ``open_time`` in seconds was read as ms (1970), a ``timestamp`` in ms or µs landed
    between 1686 and 2248; a pandas-written CSV failed with "a feature value is not a number"."""
    path = tmp_path / "bars.csv"
    WRITERS[shape](frame, path)
    series = read_series(str(path))
    assert series.timestamps is not None
    np.testing.assert_array_equal(series.timestamps, frame.index.tz_localize(None).to_numpy())
    out = tmp_path / "out.csv"
    code, document = sweep_json(capsys, root, "--series", str(path), "--versions", "as-live",
                                "--score", "--out", str(out))  # fmt: skip
    assert code == 0
    assert document["scoring"]["periods_per_year"] == 8760.0
    as_live = {row["version"]: row for row in document["scores"]}["as-live"]
    assert as_live["bars"] == 600  # live from 2025-11-01T06:00Z, the first full window on
    rows = _rows(out)
    assert rows[0]["timestamp"].startswith("2025-10-28T00:00")
    assert rows[-1]["timestamp"].startswith("2025-11-26T23:00")


def test_a_reversed_file_is_refused_naming_the_bar(
    root: Path, frame: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "reversed.csv"
    frame.iloc[::-1].to_csv(path, index_label="timestamp")
    completed = run_atb("backtest", "sweep", "BTCUSDT", "basic", "--series", path,
                        "--registry", root, expect=1)  # fmt: skip
    assert_one_error_line(completed.stderr)
    assert completed.stderr.strip() == (
        f"atb backtest sweep: error: cannot read series {path}: column 'timestamp': times must "
        "strictly increase: bar 1 (2025-11-26T22:00:00Z) is earlier than bar 0 "
        "(2025-11-26T23:00:00Z); sort the bars oldest first and drop repeated ones"
    )


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("", "column 'timestamp' at bar 3 is empty (no time)"),
        ("17", "column 'timestamp' at bar 3: 17 is not a time in a known unit"),
        ("yesterday", "column 'timestamp' at bar 3: 'yesterday' is not a time"),
    ],
)
def test_a_time_cell_that_is_no_time_names_the_bar(
    frame: pd.DataFrame, tmp_path: Path, cell: str, message: str
) -> None:
    table = frame.reset_index(drop=True).assign(timestamp=_milliseconds(frame).astype(str))
    table.loc[3, "timestamp"] = cell
    path = tmp_path / "bars.csv"
    table.to_csv(path, index=False)
    with pytest.raises(Exception, match="cannot read series") as refused:
        read_series(str(path))
    assert message in str(refused.value)


def test_an_empty_cell_is_missing_not_zero(
    root: Path, frame: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 28, behaviour 7: the windows over an empty cell are undefined (NaN), where a 0
    would have given numbers."""
    path, zero = tmp_path / "gap.csv", tmp_path / "zero.csv"
    frame.to_csv(zero)
    text = zero.read_text().splitlines()
    cells = text[1 + 300].split(",")
    assert cells[4] == repr(float(frame["close"].iloc[300]))  # the close of bar 300
    cells[4] = ""
    path.write_text("\n".join([*text[: 1 + 300], ",".join(cells), *text[2 + 300 :]]) + "\n")
    cells[4] = "0"
    zero.write_text("\n".join([*text[: 1 + 300], ",".join(cells), *text[2 + 300 :]]) + "\n")
    series = read_series(str(path))
    assert series.array is not None and series.names is not None
    assert np.isnan(series.array[300, series.names.index("close")])
    assert np.isnan(series.array).sum() == 1
    for name, expected_nan in ((path, True), (zero, False)):
        out = tmp_path / f"{name.stem}.npz"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the NaN window's warning
            code = main(["backtest", "sweep", "BTCUSDT", "basic", "--series", str(name),
                         "--registry", str(root), "--versions", "all",
                         "--out", str(out)])  # fmt: skip
        capsys.readouterr()
        assert code == 0
        price = np.load(out)["price"]
        # Bar 300's window and the next 119 (a 120-bar window) hold the gap.
        assert np.isnan(price[:, 300:420]).all() == expected_nan
        assert np.isfinite(price[:, 420:]).all()


def test_parquet_with_an_index_and_nulls(frame: pd.DataFrame, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    gapped = frame.rename(columns=str.capitalize).astype({"Volume": "Float64"})
    gapped.loc[gapped.index[5], "Volume"] = pd.NA
    path = tmp_path / "bars.parquet"
    gapped.to_parquet(path)  # the DatetimeIndex as __index_level_0__
    series = read_series(str(path))
    assert series.timestamps is not None
    np.testing.assert_array_equal(series.timestamps, frame.index.tz_localize(None).to_numpy())
    assert series.names == ("Open", "High", "Low", "Close", "Volume")
    assert series.array is not None and np.isnan(series.array[5, 4])
    frame.reset_index(drop=True).assign(open_time=_milliseconds(frame)).to_parquet(path)
    named = read_series(str(path))
    assert named.timestamps is not None
    np.testing.assert_array_equal(named.timestamps, frame.index.tz_localize(None).to_numpy())
    assert "open_time" not in (named.names or ())


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"timestamp,close\n2024-01-01,1\n\0\0\0\0\n")
    wide = tmp_path / "wide.csv"
    wide.write_text("timestamp,close\n2024-01-01," + "9" * 200_000 + "\n")
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('timestamp,close\n2024-01-01,"' + "x" * 200_000 + '"\n')
    long_line = tmp_path / "long.csv"
    long_line.write_text("timestamp," + ",".join(f"c{i}" for i in range(200_000)) + "\n")
    zero = tmp_path / "zero.csv"
    zero.symlink_to("/dev/zero")
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    text = tmp_path / "text.csv"
    text.write_text("timestamp,close\n2024-01-01,high\n")
    return {
        "binary": (binary, "it is not UTF-8 text (invalid start byte near line 1)"),
        "NUL": (nul, "it is not a text file (a NUL byte on line 3)"),
        "wide field": (wide, "line 2: field larger than field limit (131072)"),
        "quoted field": (quoted, "line 2: field larger than field limit (131072)"),
        "long line": (long_line, "line 1 is longer than 1,048,576 characters"),
        "/dev/zero": (zero, "it is not a regular file (a FIFO, a device or a folder)"),
        "FIFO": (fifo, "it is not a regular file (a FIFO, a device or a folder)"),
        "folder": (folder, "it is not a regular file (a FIFO, a device or a folder)"),
        "empty": (empty, "the file is empty"),
        "text": (text, "line 2, column 'close': 'high' is not a number"),
    }


def test_hostile_files_are_refused_in_one_line(root: Path, tmp_path: Path) -> None:
    """D20: a field over csv's limit was a ``_csv.Error`` traceback, and ``/dev/zero`` was read
    until memory ran out; a FIFO must not block."""
    for label, (path, reason) in _bad_files(tmp_path).items():
        completed = run_atb("backtest", "sweep", "BTCUSDT", "basic", "--series", path,
                            "--registry", root, expect=1)  # fmt: skip
        assert_one_error_line(completed.stderr)
        assert completed.stderr.strip() == (
            f"atb backtest sweep: error: cannot read series {path}: {reason}"
        ), label


def test_a_file_over_the_size_bound_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atb_prediction.cli import backtesting

    path = tmp_path / "bars.csv"
    path.write_text("timestamp,close\n" + "2024-01-01T00:00:00Z,1.0\n" * 100)
    monkeypatch.setattr(backtesting, "MAX_SERIES_BYTES", 1000)
    with pytest.raises(Exception, match=r"it is 2,516 bytes, larger than 1,000, the most read"):
        read_series(str(path))
    for suffix in (".npy", ".parquet"):
        other = path.with_suffix(suffix)
        other.write_bytes(b"x" * 1001)
        with pytest.raises(Exception, match=r"larger than 1,000, the most read"):
            read_series(str(other))


def test_as_live_out_leaves_bars_before_any_live_version_empty(
    root: Path, frame: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 28, behaviour 8: bars before any version was live have an empty ``live_version``,
    not the last version's name."""
    path, out = tmp_path / "bars.csv", tmp_path / "out.csv"
    frame.to_csv(path)
    code, _ = sweep_json(capsys, root, "--series", str(path), "--versions", "as-live",
                         "--out", str(out))  # fmt: skip
    assert code == 0
    rows = _rows(out)
    live = [row["live_version"] for row in rows]
    # 2025-10-28T00:00 to 2025-11-01T05:00: before the first version went live at 06:00.
    assert live[:102] == [""] * 102
    assert live[102] == VERSIONS[0]
    assert set(live[102:]) == set(VERSIONS)
    assert all(row[f"price[{VERSIONS[2]}]"] == "" for row in rows[:102])


def test_daily_bars_warn_and_annualise_with_their_own_spacing(root: Path, tmp_path: Path) -> None:
    days = pd.date_range("2024-01-01", periods=400, freq="D", tz="UTC")
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
    daily = pd.DataFrame({"open": close, "high": close * 1.01, "low": close * 0.99,
                          "close": close, "volume": 1.0}, index=days)  # fmt: skip
    path = tmp_path / "daily.csv"
    daily.to_csv(path)
    arguments = ("backtest", "sweep", "BTCUSDT", "basic", "--series", path, "--registry", root,
                 "--versions", "all", "--score")  # fmt: skip
    completed = run_atb(*arguments, "--json")
    document = json.loads(completed.stdout)
    assert document["scoring"]["periods_per_year"] == 365.0
    assert completed.stderr.count("bars 1d apart (the series' median spacing), not 1h") == 1
    told = json.loads(run_atb(*arguments, "--json", "--periods-per-year", "252").stdout)
    assert told["scoring"]["periods_per_year"] == 252.0
    by_version = {row["version"]: row["sharpe"] for row in document["scores"]}
    for row in told["scores"]:
        assert row["sharpe"] == pytest.approx(by_version[row["version"]] * np.sqrt(252 / 365))
    table = run_atb(*arguments).stdout
    assert "Sharpe annualised with 365 bars a year." in table


@pytest.mark.parametrize(
    "option", ["--workers=0", "--batch-size=0", "--workers=-1", "--periods-per-year=0",
               "--periods-per-year=nan"]
)  # fmt: skip
def test_nonsense_counts_are_usage_errors_before_any_work(
    root: Path, tmp_path: Path, option: str
) -> None:
    """D22: ``--workers 0`` ended in a ``ValueError`` traceback."""
    missing = tmp_path / "missing.csv"  # never read: the usage error comes first
    completed = run_atb("backtest", "sweep", "BTCUSDT", "basic", "--series", missing,
                        "--registry", root, option, expect=2)  # fmt: skip
    assert_one_error_line(completed.stderr)
    assert f"argument {option.split('=')[0]}: expected" in completed.stderr


def test_plot_without_matplotlib_is_refused_before_the_sweep(
    root: Path, frame: pd.DataFrame, tmp_path: Path
) -> None:
    """D22: ``--plot x.png`` without matplotlib ended in an ``ImportError`` traceback after the
    sweep. A ``sitecustomize`` on ``PYTHONPATH`` hides matplotlib from the child."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys\nsys.modules['matplotlib'] = None\nsys.modules['matplotlib.figure'] = None\n"
    )
    path = tmp_path / "bars.csv"
    frame.iloc[:0].to_csv(path)  # no bars: a sweep would fail, so the check must come first
    env = clean_env(PYTHONPATH=os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")]))
    completed = subprocess.run(
        [*atb_command(), "backtest", "sweep", "BTCUSDT", "basic", "--series", str(path),
         "--registry", str(root), "--plot", str(tmp_path / "x.png")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 1, completed.stderr
    assert_one_error_line(completed.stderr)
    assert completed.stderr.strip() == (
        f"atb backtest sweep: error: --plot {tmp_path / 'x.png'} needs matplotlib: pip install "
        '"atb-prediction[plot]"'
    )
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("arguments", "kind", "status"),
    [
        (["backtest", "sweep", "BTCUSDT", "basic", "--series", "{eurusd}", "--versions",
          "as-live"], "ModelNotAvailableError", 1),
        (["backtest", "sweep", "BTCUSDT", "basic", "--series", "{reversed}"],
         "InvalidInputError", 1),
        (["backtest", "sweep", "BTCUSDT", "basic", "--series", "x.txt"], "UsageError", 2),
        (["backtest", "sweep", "BTCUSDT", "basic", "--series", "{eurusd}", "--workers", "0"],
         "UsageError", 2),
        (["backtest", "sweep", "BTCUSDT", "nope", "--series", "{eurusd}"],
         "ModelNotAvailableError", 1),
        (["models", "inspect", "BTCUSDT:1h:nope"], "CommandError", 1),
        (["models", "frobnicate"], "UsageError", 2),
        (["models", "promote", "BTCUSDT:1h:basic:2025-11-01_1h_v1", "--gate", "{reversed}"],
         "InvalidInputError", 1),
    ],
)  # fmt: skip
def test_every_failure_under_json_is_one_json_document(
    root: Path, frame: pd.DataFrame, tmp_path: Path, arguments: list[str], kind: str, status: int
) -> None:
    """Issue 26: an as-live sweep over bars older than the first promotion printed nothing on
    stdout under ``--json``."""
    eurusd, reversed_ = tmp_path / "eurusd.csv", tmp_path / "reversed.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from backtesting.test import EURUSD
    EURUSD.to_csv(eurusd)
    frame.iloc[::-1].to_csv(reversed_)
    words = [a.format(eurusd=eurusd, reversed=reversed_) for a in arguments]
    for flags in (["--json"], ["-o", "json"]):
        completed = run_atb(*words, "--registry", root, *flags, expect=status)
        assert_one_error_line(completed.stderr)
        document = json.loads(completed.stdout)
        message = completed.stderr.strip().split(": error: ", 1)[1]
        assert document == {"schema": 1, "error": {"type": kind, "message": message}}


def test_a_refusal_that_printed_its_document_adds_no_second_one(
    root: Path, frame: pd.DataFrame, tmp_path: Path
) -> None:
    """A gate refusal prints its evidence as the command's document, then fails: still one."""
    path = tmp_path / "bars.csv"
    frame.to_csv(path)
    completed = run_atb("models", "promote", "BTCUSDT:1h:basic:2025-11-01_1h_v1", "--gate", path,
                        "--registry", root, "--json", expect=1)  # fmt: skip
    assert_one_error_line(completed.stderr)
    document = json.loads(completed.stdout)  # exactly one document
    assert document["changed"] is False and "not better" in document["refused"]
    assert "error" not in document


def test_the_gate_annualises_as_told_or_from_the_bars(
    root: Path, frame: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "bars.csv"
    frame.to_csv(path)
    arguments = ("models", "promote", "BTCUSDT:1h:basic:2025-11-01_1h_v1", "--gate", path,
                 "--registry", root, "--dry-run", "--json")  # fmt: skip
    told = json.loads(run_atb(*arguments, "--periods-per-year", "6240", expect=None).stdout)
    assert told["gate"]["periods_per_year"] == 6240.0
    spaced = json.loads(run_atb(*arguments, expect=None).stdout)
    assert spaced["gate"]["periods_per_year"] == 8760.0
    assert told["gate"]["candidate"]["sharpe"] == pytest.approx(
        spaced["gate"]["candidate"]["sharpe"] * np.sqrt(6240 / 8760)
    )


def test_a_file_of_exactly_the_size_bound_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atb_prediction.cli import backtesting

    values = np.arange(12.0).reshape(4, 3)
    npy, text = tmp_path / "bars.npy", tmp_path / "bars.csv"
    np.save(npy, values)
    text.write_text("a,b,c\n" + "".join(f"{r[0]},{r[1]},{r[2]}\n" for r in values))
    for path in (npy, text):
        monkeypatch.setattr(backtesting, "MAX_SERIES_BYTES", path.stat().st_size)
        series = read_series(str(path))
        assert series.array is not None
        np.testing.assert_array_equal(series.array, values)


def test_parquet_times_come_from_a_named_column_or_the_one_stamped_column(
    tmp_path: Path,
) -> None:
    """A parquet file's times: a column named as in a CSV, else its only timestamp column;
    with none, or two that no name decides between, the bars have no times. A bad time
    names its column. Integer columns are read as numbers."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from atb_prediction.cli.output import CommandError

    stamps = np.datetime64("2026-03-01T00:00", "ns") + np.arange(5) * np.timedelta64(1, "h")
    close = np.arange(100, 105, dtype=np.int64)
    path = tmp_path / "bars.parquet"
    layouts: list[tuple[dict[str, Any], Any]] = [
        ({"close": close}, None),
        ({"start": stamps, "end": stamps + np.timedelta64(1, "h"), "close": close}, None),
        ({"when": stamps, "close": close}, stamps),
        ({"start": stamps - np.timedelta64(1, "h"), "open_time": stamps, "close": close}, stamps),
    ]
    for columns, times in layouts:
        pq.write_table(pa.table(columns), path)
        series = read_series(str(path))
        assert series.names == ("close",), columns
        assert series.array is not None and series.array.dtype == np.float64
        np.testing.assert_array_equal(series.array[:, 0], close.astype(np.float64))
        if times is None:
            assert series.timestamps is None, columns
        else:
            np.testing.assert_array_equal(series.timestamps, times)
    for name in ("open_time", "when"):
        pq.write_table(pa.table({name: stamps[::-1], "close": close}), path)
        with pytest.raises(CommandError, match=rf"^cannot read series .*: column '{name}': times "):
            read_series(str(path))
