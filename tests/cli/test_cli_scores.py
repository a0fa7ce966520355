"""``atb backtest sweep --score`` and its options: versions ranked best Sharpe first whatever
their id order, buy-and-hold and exposure in every answer, rows with too few bars unranked,
the horizon judged H bars ahead, live's thresholds, ``--returns``, and bad settings refused as
usage errors before any work (here and in ``atb models promote --gate``)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from atb_prediction import sweep
from atb_prediction.backtest.scores import BUY_AND_HOLD, score_result
from atb_prediction.cli import main
from atb_prediction.metrics import LONG_THRESHOLD, METRICS, MIN_BARS, SHORT_THRESHOLD
from conftest import FIXTURE_REGISTRY, affine_model, golden_frame, point_latest, write_bundle
from score_reference import reference_scores
from sweep_helpers import bars_file, open_registry, signal_bars

#: Ids whose order is not the order of their Sharpe ratios: the best one sorts last.
BEST, WORST, MIDDLE = "2026-01-09_1h_v1", "2026-01-01_1h_v1", "2026-01-05_1h_v1"


def ranked_registry(root: Path) -> Path:
    """Three one-bar models: of the ``signal`` column, right (``BEST``) and wrong (``WORST``);
    of a ``noise`` column, right half the time (``MIDDLE``)."""
    for version, weight, feature in ((WORST, -1.0, "signal"), (MIDDLE, 1.0, "noise"),
                                     (BEST, 1.0, "signal")):  # fmt: skip
        write_bundle(root, "BTCUSDT", "basic", version, model=affine_model(1, 1, weight=weight),
                     metadata={"timeframe": "1h", "sequence_length": 1, "feature_names": [feature],
                               "created_at": "2026-01-01T00:00:00Z"})  # fmt: skip
    point_latest(root, "BTCUSDT", "basic", BEST)
    return root


def ranked_bars() -> pd.DataFrame:
    """``signal_bars()`` with a ``noise`` column of +-1."""
    bars = signal_bars()
    bars["noise"] = np.random.default_rng(3).choice([-1.0, 1.0], len(bars))
    return bars


def sweep_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["backtest", "sweep", "BTCUSDT", "basic", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_versions_are_listed_best_sharpe_first_whatever_their_id_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = ranked_registry(tmp_path / "registry")
    path = bars_file(tmp_path / "bars.csv", ranked_bars())
    args = ("--series", str(path), "--registry", str(root), "--versions", "all", "--score")
    code, out, _ = sweep_cli(capsys, *args, "--json")
    assert code == 0
    document = json.loads(out)
    assert [line["version"] for line in document["versions"]] == [WORST, MIDDLE, BEST]
    rows = document["scores"]
    sharpe = [row["sharpe"] for row in rows]
    assert sharpe == sorted(sharpe, reverse=True)
    assert rows[0]["version"] == BEST and rows[-1]["version"] == WORST
    assert [row["rank"] for row in rows] == [1, 2, 3, 4]
    assert {row["version"] for row in rows} == {WORST, MIDDLE, BEST, BUY_AND_HOLD}
    assert list(rows[0]) == ["version", *METRICS, "rank"]
    assert document["scoring"] == {
        "horizon": 1,
        "fee_bps": 0.0,
        "long_threshold": LONG_THRESHOLD,
        "short_threshold": SHORT_THRESHOLD,
        "min_bars": MIN_BARS,
        "periods_per_year": 8760.0,
    }
    code, out, _ = sweep_cli(capsys, *args)
    assert code == 0
    table = out[out.index("RANK") :]
    lines = [line.split() for line in table.splitlines()[2:] if line.strip()]
    assert [line[1] for line in lines] == [row["version"] for row in rows]
    assert [line[0] for line in lines] == ["1", "2", "3", "4"]


def test_sharpe_ranks_even_where_total_return_says_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A version right 4 times in 5 but in the market one bar in 8 has the better Sharpe; one
    always in the market, right a little more often than not, the larger total return."""
    sparse, weak = "2026-01-09_1h_v1", "2026-01-01_1h_v1"
    root = tmp_path / "registry"
    for version, feature in ((sparse, "sparse"), (weak, "weak")):
        write_bundle(root, "BTCUSDT", "basic", version, model=affine_model(1, 1, weight=1.0),
                     metadata={"timeframe": "1h", "sequence_length": 1, "feature_names": [feature],
                               "created_at": "2026-01-01T00:00:00Z"})  # fmt: skip
    point_latest(root, "BTCUSDT", "basic", sparse)
    bars = signal_bars()
    rng = np.random.default_rng(5)
    bars["sparse"] = np.where(np.arange(len(bars)) % 8 == 0, bars["signal"], 0.0)
    noise = rng.choice([-1.0, 1.0], len(bars))
    bars["weak"] = np.where(rng.random(len(bars)) < 0.3, bars["signal"], noise)
    path = bars_file(tmp_path / "bars.csv", bars)
    code, out, _ = sweep_cli(capsys, "--series", str(path), "--registry", str(root),
                             "--versions", "all", "--score", "--json")  # fmt: skip
    assert code == 0
    rows = {row["version"]: row for row in json.loads(out)["scores"]}
    assert rows[sparse]["sharpe"] > rows[weak]["sharpe"] > 0.0
    assert rows[weak]["total_return"] > rows[sparse]["total_return"] > 0.0
    assert (rows[sparse]["rank"], rows[weak]["rank"]) == (1, 2)


def test_the_table_always_shows_turnover_and_exposure_and_marks_unranked_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = ranked_registry(tmp_path / "registry")
    path = bars_file(tmp_path / "bars.csv", ranked_bars())
    code, out, _ = sweep_cli(capsys, "--series", str(path), "--registry", str(root),
                             "--versions", "all", "--score", "--min-bars", "1000")  # fmt: skip
    assert code == 0
    header = next(line for line in out.splitlines() if line.startswith("RANK"))
    assert "TURNOVER" in header and "EXPOSURE" in header
    assert "RANK -: not ranked (fewer than 1,000 scored bars, or no value)" in out
    table = out[out.index("RANK") :].splitlines()[2:6]
    assert [line.split()[0] for line in table] == ["-", "-", "-", "-"]
    assert all(len(line) <= 80 for line in out.splitlines() if "/" not in line)


def test_the_horizon_judges_hit_rate_and_errors_h_bars_ahead(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = golden_frame("BTCUSDT")  # raw OHLCV; one version's prices are in price units
    frame.index = pd.date_range("2025-10-25", periods=len(frame), freq="h", tz="UTC")
    path = bars_file(tmp_path / "bars.csv", frame)
    with pytest.warns(Warning):
        result = sweep(open_registry(FIXTURE_REGISTRY), frame, symbol="BTCUSDT",
                       model_type="basic", versions="all", progress=False)  # fmt: skip
    assert any(result.price_units)
    close = frame["close"].to_numpy()
    for horizon in (1, 4):
        code, out, _ = sweep_cli(capsys, "--series", str(path), "--registry",
                                 str(FIXTURE_REGISTRY), "--versions", "all", "--score",
                                 "--horizon", str(horizon), "--json")  # fmt: skip
        assert code == 0
        rows = {row["version"]: row for row in json.loads(out)["scores"]}
        for index, version in enumerate(result.versions):
            expected = reference_scores(
                result.price[index], result.confidence[index], result.direction[index],
                result.price_units[index], result.classifiers[index], close, horizon=horizon,
                periods_per_year=730.0,
            )  # fmt: skip
            for metric in ("bars", "hit_rate", "mae", "rmse"):
                got, want = rows[version][metric], expected[metric]
                if want != want:  # NaN: no prices in price units
                    assert got is None or got != got, (version, metric)
                else:
                    assert got == pytest.approx(want, rel=1e-9), (horizon, version, metric)
        priced = result.versions[result.price_units.index(True)]
        if horizon == 1:
            at_one = rows[priced]
        else:
            assert rows[priced]["mae"] != pytest.approx(at_one["mae"])
            assert rows[priced]["hit_rate"] != pytest.approx(at_one["hit_rate"])


def test_live_thresholds_reach_the_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = golden_frame("BTCUSDT")
    frame.index = pd.date_range("2025-10-25", periods=len(frame), freq="h", tz="UTC")
    path = bars_file(tmp_path / "bars.csv", frame)
    with pytest.warns(Warning):
        result = sweep(open_registry(FIXTURE_REGISTRY), frame, symbol="BTCUSDT",
                       model_type="basic", versions="all", progress=False)  # fmt: skip
    priced = result.versions[result.price_units.index(True)]
    exposures = []
    for long, short in (("0", "-0.0005"), ("0.002", "-0.002")):
        code, out, _ = sweep_cli(capsys, "--series", str(path), "--registry",
                                 str(FIXTURE_REGISTRY), "--versions", "all", "--score", "--json",
                                 "--long-threshold", long, "--short-threshold", short)  # fmt: skip
        assert code == 0
        document = json.loads(out)
        assert document["scoring"]["long_threshold"] == float(long)
        assert document["scoring"]["short_threshold"] == float(short)
        row = next(row for row in document["scores"] if row["version"] == priced)
        expected = score_result(result, long_threshold=float(long), short_threshold=float(short))
        assert row["total_return"] == pytest.approx(expected.row(priced)["total_return"])
        assert row["exposure"] == pytest.approx(expected.row(priced)["exposure"], rel=1e-12)
        exposures.append(row["exposure"])
    assert exposures[1] < exposures[0]  # a wider dead band holds a position less often


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_returns_are_written_to_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    root = ranked_registry(tmp_path / "registry")
    bars = ranked_bars()
    path = bars_file(tmp_path / "bars.csv", bars)
    out_file = tmp_path / f"returns{suffix}"
    code, out, _ = sweep_cli(capsys, "--series", str(path), "--registry", str(root),
                             "--versions", "all", "--returns", str(out_file), "--fee-bps", "2",
                             "--json")  # fmt: skip
    assert code == 0
    assert json.loads(out)["returns"] == str(out_file.resolve())
    written = pd.read_csv(out_file) if suffix == ".csv" else pd.read_parquet(out_file)
    assert list(written.columns) == ["bar", "timestamp", WORST, MIDDLE, BEST, BUY_AND_HOLD]
    assert list(written["bar"]) == list(range(1, len(bars)))
    assert pd.Timestamp(written["timestamp"].iloc[0]) == pd.Timestamp("2026-02-01T01:00")
    expected = score_result(
        sweep(open_registry(root), bars, symbol="BTCUSDT", model_type="basic", versions="all",
              progress=False),
        fee_bps=2.0,
        returns=True,
    )  # fmt: skip
    assert expected.returns is not None
    np.testing.assert_allclose(
        written[[WORST, MIDDLE, BEST, BUY_AND_HOLD]].to_numpy().T, expected.returns, rtol=1e-15
    )


BAD_OPTIONS: list[tuple[list[str], str]] = [
    (["--horizon=-1"], "--horizon must be at least 1 bar, got -1"),
    (["--horizon", "0"], "--horizon must be at least 1 bar, got 0"),
    (["--fee-bps=-1"], "--fee-bps must be a finite number of basis points, 0 or more, got -1"),
    (["--fee-bps", "nan"], "--fee-bps must be a finite number"),
    (["--long-threshold", "nan"], "--long-threshold must be a finite predicted return"),
    (["--short-threshold", "0.01"], r"--short-threshold \(0.01\) must not be above --long-thr"),
    (["--min-bars=-5"], "--min-bars must be a whole number, 0 or more, got -5"),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS, ids=[o[0] for o, _ in BAD_OPTIONS])
def test_bad_settings_are_usage_errors_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    # Neither the series nor the registry exists: the refusal comes before either is read.
    missing = str(tmp_path / "missing")
    for json_flag in ([], ["--json"]):
        code, _, err = sweep_cli(capsys, "--series", f"{missing}.csv", "--registry", missing,
                                 "--score", *options, *json_flag)  # fmt: skip
        assert code == 2
        assert err.count("\n") == 1 and "Traceback" not in err
        assert re.search(message, err), err


def test_a_horizon_past_the_series_is_refused_before_the_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bars_file(tmp_path / "bars.csv", signal_bars())
    for horizon in (str(len(signal_bars())), str(2**64 - 1)):
        # The registry does not exist: the refusal comes before it is opened.
        missing = str(tmp_path / "missing")
        code, _, err = sweep_cli(capsys, "--series", str(path), "--registry", missing,
                                 "--score", "--horizon", horizon)  # fmt: skip
        assert code == 2 and "Traceback" not in err
        assert f"--horizon {horizon} leaves no bar to judge: the series has 500 bars" in err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--fee-bps", "-0.5"], "--fee-bps must be a finite number of basis points, 0 or more"),
        (["--horizon=-1"], "--horizon must be at least 1 bar, got -1"),
        (["--horizon", str(2**64 - 1)], "--horizon 18446744073709551615 leaves no bar to judge"),
    ],
)
def test_the_gate_refuses_bad_settings_as_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    root = ranked_registry(tmp_path / "registry")
    path = bars_file(tmp_path / "bars.csv", ranked_bars())
    for extra in ([], ["--dry-run"], ["--json"]):
        code = main(["models", "promote", f"BTCUSDT:1h:basic:{MIDDLE}", "--gate", str(path),
                     "--registry", str(root), *options, *extra])  # fmt: skip
        captured = capsys.readouterr()
        assert code == 2, captured
        assert message in captured.err and "Traceback" not in captured.err
    assert (root / "BTCUSDT" / "basic" / "latest").readlink() == Path(BEST)
    assert not (root / "BTCUSDT" / "basic" / "promotions.jsonl").exists()


def _rows(document: dict[str, Any]) -> list[str]:
    return [row["version"] for row in document["scores"]]


def test_csv_returns_keep_nan_free_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = ranked_registry(tmp_path / "registry")
    bars = ranked_bars()
    bars.loc[bars.index[100], "close"] = np.nan  # a missing close: skipped, with a warning
    path = bars_file(tmp_path / "bars.csv", bars)
    out_file = tmp_path / "returns.csv"
    code, out, err = sweep_cli(capsys, "--series", str(path), "--registry", str(root),
                               "--versions", "all", "--score", "--returns", str(out_file),
                               "--json")  # fmt: skip
    assert code == 0
    assert "1 close is not a positive number (the first at bar 100, 2026-02-05T04:00:00Z)" in err
    assert err.count("not a positive number") == 1  # warned once
    with out_file.open() as file:
        cells = [cell for line in csv.reader(file) for cell in line]
    assert "" not in cells and "nan" not in cells
    for row in json.loads(out)["scores"]:
        assert all(row[metric] is not None for metric in ("total_return", "sharpe")), row
    assert _rows(json.loads(out))[0] == BEST
