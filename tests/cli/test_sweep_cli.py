"""``atb backtest sweep`` on CSV, npy and parquet series."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from atb_prediction import sweep
from atb_prediction.cli import main
from conftest import linear_model
from sweep_helpers import (
    FEATURES,
    NORMALISED,
    SEQ,
    add_skipped_folders,
    make_registry,
    mixed_classifiers,
    open_registry,
    series_of,
)

VERSION = "2026-01-01_1h_v1"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_registry(
        tmp_path / "registry", {VERSION: (linear_model(SEQ, FEATURES, seed=21), NORMALISED)}
    )


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["backtest", "sweep", "BTCUSDT", "basic", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_csv_with_named_columns_and_timestamps(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = series_of(40)
    path = tmp_path / "bars.csv"
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["feature_2", "timestamp", "feature_0", "close", "feature_1"])
        for t, row in enumerate(series):
            stamp = (
                f"2026-02-01T{t % 24:02d}:00:00+00:00"
                if t < 24
                else f"2026-02-02T{t - 24:02d}:00:00Z"
            )
            writer.writerow(
                [repr(float(row[2])), stamp, repr(float(row[0])), "1", repr(float(row[1]))]
            )
    out = tmp_path / "out.csv"
    code, stdout, _ = run(
        capsys, "--series", str(path), "--registry", str(root), "--json", "--out", str(out)
    )
    assert code == 0
    document = json.loads(stdout)
    assert document["bars"] == 40
    (line,) = document["versions"]
    assert line["version"] == VERSION and line["windows"] == 40 - SEQ + 1
    assert sum(line["directions"].values()) == line["windows"]
    expected = sweep(open_registry(root), series, symbol="BTCUSDT", model_type="basic")
    with out.open() as file:
        rows = list(csv.DictReader(file))
    assert rows[0]["timestamp"].startswith("2026-02-01T00:00")
    written = np.array([float(r[f"price[{VERSION}]"] or "nan") for r in rows])
    np.testing.assert_allclose(written, expected.price[0], rtol=1e-12)

    code, stdout, _ = run(capsys, "--series", str(path), "--registry", str(root))
    assert code == 0
    assert VERSION in stdout and "MEAN CONF" in stdout


def test_npy_with_npz_output_and_a_plot(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    series = series_of(30).astype(np.float64)
    np.save(tmp_path / "bars.npy", series)
    code, _, _ = run(
        capsys, "--series", str(tmp_path / "bars.npy"), "--registry", str(root),
        "--out", str(tmp_path / "out.npz"), "--plot", str(tmp_path / "out.png"),
        "--versions", VERSION, "--workers", "1",
    )  # fmt: skip
    assert code == 0
    saved = np.load(tmp_path / "out.npz")
    expected = sweep(open_registry(root), series, symbol="BTCUSDT", model_type="basic")
    np.testing.assert_array_equal(saved["price"], expected.price)
    assert list(saved["versions"]) == [VERSION]
    assert (tmp_path / "out.png").read_bytes().startswith(b"\x89PNG")


def test_parquet_in_and_out_with_tz_aware_timestamps(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    series = series_of(50)
    stamps = np.datetime64("2026-03-01T00:00", "ns") + np.arange(50) * np.timedelta64(1, "h")
    columns = {
        "feature_1": series[:, 1].astype(np.float64),
        "open_time": pa.array(stamps, type=pa.timestamp("ns", tz="UTC")),
        "feature_0": series[:, 0],
        "feature_2": series[:, 2],
    }
    pq.write_table(pa.table(columns), tmp_path / "bars.parquet")
    out = tmp_path / "out.parquet"
    code, _, err = run(
        capsys, "--series", str(tmp_path / "bars.parquet"), "--registry", str(root),
        "--out", str(out), "--versions", "as-live",
    )  # fmt: skip
    assert code == 0, err
    expected = sweep(
        open_registry(root), series, symbol="BTCUSDT", model_type="basic", timestamps=stamps,
        versions="as-live",
    )  # fmt: skip
    table = pq.read_table(out)
    np.testing.assert_array_equal(table.column("timestamp").to_numpy(), stamps)
    written = table.column(f"price[{VERSION}]").to_numpy()
    np.testing.assert_array_equal(written, expected.price[0])
    assert table.column("live_version").to_pylist() == [
        VERSION if v >= 0 else "" for v in expected.live_version
    ]

    # A column of text is no feature: the model's missing column is named.
    text = {**columns, "feature_2": ["a"] * 50, "symbol": ["BTCUSDT"] * 50}
    pq.write_table(pa.table(text), tmp_path / "text.parquet")
    code, _, err = run(capsys, "--series", str(tmp_path / "text.parquet"), "--registry", str(root))
    assert code != 0 and '"feature_2"' in err and "symbol" not in err


def test_all_versions_warn_by_name_about_folders_the_scan_skipped(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    skipped = add_skipped_folders(root, tmp_path / "elsewhere")
    np.save(tmp_path / "bars.npy", series_of(30).astype(np.float64))
    for json_flag in ([], ["--json"]):
        code, out, err = run(capsys, "--series", str(tmp_path / "bars.npy"), "--registry",
                             str(root), "--versions", "all", *json_flag)  # fmt: skip
        assert code == 0
        # (The registry's own scan also logs every folder it skipped, by path.)
        assert [line for line in err.splitlines() if "is left out" in line] == [
            f"atb backtest sweep: WARNING: sweep of BTCUSDT/basic: {name} is left out: {reason}"
            for name, reason in skipped.items()
        ]
        if json_flag:
            assert [line["version"] for line in json.loads(out)["versions"]] == [VERSION]


def test_bad_inputs_get_one_line(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("feature_0,feature_1,feature_2\n1,2,x\n")
    code, _, err = run(capsys, "--series", str(broken), "--registry", str(root))
    assert code == 1 and "broken.csv" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "--series", str(tmp_path / "missing.npy"), "--registry", str(root))
    assert code == 1 and "missing.npy" in err
    code, _, err = run(capsys, "--series", str(broken), "--registry", str(root), "--out", "x.txt")
    assert code == 2 and "--out" in err
    np.save(tmp_path / "bars.npy", series_of(20))
    code, _, err = run(
        capsys, "--series", str(tmp_path / "bars.npy"), "--registry", str(root),
        "--versions", "nope",
    )  # fmt: skip
    assert code == 1 and "nope" in err


def test_parquet_without_pyarrow_names_the_extra(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    np.save(tmp_path / "bars.npy", series_of(30))
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    args = ["--registry", str(root)]
    code, _, err = run(capsys, "--series", str(tmp_path / "bars.parquet"), *args)
    assert code != 0 and "atb-prediction[parquet]" in err
    code, _, err = run(
        capsys, "--series", str(tmp_path / "bars.npy"), "--out", str(tmp_path / "o.parquet"), *args
    )
    assert code != 0 and "atb-prediction[parquet]" in err
    # Before the sweep: these bars have no close, which --returns would refuse after it.
    code, _, err = run(
        capsys, "--series", str(tmp_path / "bars.npy"), "--returns", str(tmp_path / "r.parquet"),
        *args,
    )  # fmt: skip
    assert code == 1 and "writing .parquet needs pyarrow" in err and "close" not in err


def _stamped_csv(path: Path, series: np.ndarray, stamps: np.ndarray) -> Path:
    """``series`` as a CSV: a timestamp column, a close (its first feature, a price) and the
    feature columns by name."""
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["timestamp", "close", *(f"feature_{k}" for k in range(series.shape[1]))])
        for stamp, row in zip(stamps, series, strict=True):
            writer.writerow([f"{stamp}Z", repr(float(row[0])), *(repr(float(v)) for v in row)])
    return path


def test_an_as_live_npz_holds_every_array_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--out x.npz``: the arrays a user loads by name, equal to the sweep's, the timestamps
    and live versions included, and a classifier's probabilities."""
    root = mixed_classifiers(tmp_path / "registry")
    series = series_of(60)
    series[:, 0] -= 100.0
    stamps = np.datetime64("2025-12-31T20:00", "ns") + np.arange(60) * np.timedelta64(1, "h")
    path = _stamped_csv(tmp_path / "bars.csv", series, stamps)
    out = tmp_path / "out.npz"
    code, _, err = run(capsys, "--series", str(path), "--registry", str(root),
                       "--versions", "as-live", "--out", str(out))  # fmt: skip
    assert code == 0, err
    expected = sweep(open_registry(root), series, symbol="BTCUSDT", model_type="basic",
                     timestamps=stamps, versions="as-live")  # fmt: skip
    assert expected.live_version is not None and expected.probabilities is not None
    saved = np.load(out)
    assert set(saved.files) == {"versions", "price", "confidence", "direction",
                                "probabilities", "timestamps", "live_version"}  # fmt: skip
    assert list(saved["versions"]) == list(expected.versions)
    for name in ("price", "confidence", "direction", "probabilities", "live_version"):
        np.testing.assert_array_equal(saved[name], getattr(expected, name), err_msg=name)
    np.testing.assert_array_equal(saved["timestamps"], stamps)
    assert set(saved["live_version"]) == {-1, 0, 1, 2}  # none live yet, then each


def test_a_csv_out_numbers_its_bars(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "bars.npy", series_of(20).astype(np.float64))
    out = tmp_path / "out.csv"
    code, _, _ = run(capsys, "--series", str(tmp_path / "bars.npy"), "--registry", str(root),
                     "--out", str(out))  # fmt: skip
    assert code == 0
    with out.open() as file:
        rows = list(csv.DictReader(file))
    assert [row["bar"] for row in rows] == [str(t) for t in range(20)]


@pytest.mark.parametrize("periods", ["0.5", "1"])
def test_a_year_of_one_bar_or_less_is_a_valid_periods_per_year(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], periods: str
) -> None:
    stamps = np.datetime64("2026-02-01T00:00", "ns") + np.arange(40) * np.timedelta64(1, "h")
    path = _stamped_csv(tmp_path / "bars.csv", series_of(40), stamps)
    code, out, err = run(capsys, "--series", str(path), "--registry",
                         str(root), "--score", "--periods-per-year", periods, "--min-bars", "1",
                         "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["scoring"]["periods_per_year"] == float(periods)
