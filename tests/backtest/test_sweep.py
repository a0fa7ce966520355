"""Backtest sweeps: every value equals ``predict`` on its window, for every version selection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from atb_prediction import PredictionConfig, PredictionModelRegistry, SweepResult, sweep
from atb_prediction.models.exceptions import (
    InvalidInputError,
    ModelLoadError,
    ModelNotAvailableError,
)
from conftest import linear_model, point_latest, standard_metadata, write_bundle
from sweep_helpers import (
    FEATURES,
    LEAVING,
    MALFORMED,
    NORMALISED,
    SEQ,
    add_skipped_folders,
    make_registry,
    mixed_classifiers,
    open_registry,
    series_of,
)

TERNARY = {"task_type": "ternary_classification", "class_labels": [-1, 0, 1]}


def assert_matches_predict(
    registry: PredictionModelRegistry, result: SweepResult, series: np.ndarray, row: int = 0
) -> None:
    """Every bar of ``row`` equals the runner's ``predict`` on the bar's window."""
    bundle = registry.get_bundle_by_key(f"BTCUSDT:1h:basic:{result.versions[row]}")
    assert bundle is not None
    assert np.isnan(result.confidence[row, : SEQ - 1]).all()
    assert (result.direction[row, : SEQ - 1] == 0).all()
    for t in range(SEQ - 1, len(series)):
        expected = bundle.runner.predict(series[t - SEQ + 1 : t + 1])
        if np.isnan(expected.price):
            assert np.isnan(result.price[row, t])
        else:
            np.testing.assert_allclose(result.price[row, t], expected.price, rtol=1e-5)
        np.testing.assert_allclose(result.confidence[row, t], expected.confidence, rtol=1e-5)
        assert result.direction[row, t] == expected.direction
        if expected.probabilities is not None:
            assert result.probabilities is not None
            np.testing.assert_allclose(
                result.probabilities[row, t], expected.probabilities, rtol=1e-5
            )


@pytest.fixture
def regression_root(tmp_path: Path) -> Path:
    return make_registry(
        tmp_path / "registry",
        {
            "2026-01-01_1h_v1": (linear_model(SEQ, FEATURES, seed=4), NORMALISED),
            "2026-01-02_1h_v1": (linear_model(SEQ, FEATURES, seed=5), NORMALISED),
        },
    )


def test_regression_values_equal_predict(regression_root: Path) -> None:
    registry = open_registry(regression_root)
    series = series_of(300)
    calls: list[tuple[int, int]] = []
    result = sweep(
        registry,
        series,
        symbol="BTCUSDT",
        model_type="basic",
        workers=2,
        batch_size=16,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert result.versions == ("2026-01-02_1h_v1",)
    assert result.price.shape == (1, 300) and result.direction.dtype == np.int8
    assert result.probabilities is None and result.live_version is None
    assert_matches_predict(registry, result, series)
    assert calls[-1] == (300 - SEQ + 1, 300 - SEQ + 1)
    assert all(done <= total for done, total in calls)


def test_progress_true_draws_a_bar_on_stderr_and_erases_it(
    regression_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = open_registry(regression_root)
    sweep(registry, series_of(300), symbol="BTCUSDT", model_type="basic", progress=True)
    drawn = capsys.readouterr().err
    windows = 300 - SEQ + 1
    assert f"sweep [####################] {windows}/{windows} windows  " in drawn
    assert drawn.endswith("\r") and drawn.rstrip("\r").split("\r")[-1].strip() == ""
    sweep(registry, series_of(300), symbol="BTCUSDT", model_type="basic")  # stderr: no terminal
    assert capsys.readouterr().err == ""


def test_classifier_values_and_probabilities_equal_predict(tmp_path: Path) -> None:
    root = make_registry(
        tmp_path / "registry",
        {
            "2026-01-01_1h_v1": (
                linear_model(SEQ, FEATURES, seed=6, outputs=3, activation="softmax"),
                TERNARY,
            )
        },
    )
    registry = open_registry(root)
    series = series_of(120) * 40  # spread the probabilities
    result = sweep(registry, series, symbol="BTCUSDT", model_type="basic", workers=2, batch_size=7)
    assert result.probabilities is not None and result.probabilities.shape == (1, 120, 3)
    assert np.isnan(result.price).all()
    assert_matches_predict(registry, result, series)


@pytest.mark.parametrize(("workers", "batch_size"), [(1, 256), (2, 7)])
def test_classifiers_with_different_class_counts_pad_the_smaller_with_nan(
    tmp_path: Path, workers: int, batch_size: int
) -> None:
    registry = open_registry(mixed_classifiers(tmp_path / "registry"))
    series = series_of(60)
    series[:, 0] -= 100.0  # centred: every class of the ternary version is predicted
    result = sweep(registry, series, symbol="BTCUSDT", model_type="basic", versions="all",
                   workers=workers, batch_size=batch_size)  # fmt: skip
    assert result.versions == ("2026-01-01_1h_v1", "2026-01-02_1h_v1", "2026-01-03_1h_v1")
    assert result.classifiers == (True, True, True)
    assert result.probabilities is not None and result.probabilities.shape == (3, 60, 3)
    for row, version in enumerate(result.versions):
        runner = registry.get_bundle_by_key(f"BTCUSDT:1h:basic:{version}").runner
        classes = 3 if row == 1 else 2
        assert np.isnan(result.probabilities[row, : SEQ - 1]).all()
        assert np.isnan(result.probabilities[row, :, classes:]).all()  # the padding
        for t in range(SEQ - 1, 60):
            expected = runner.predict(series[t - SEQ + 1 : t + 1])
            np.testing.assert_allclose(
                result.probabilities[row, t, :classes], expected.probabilities, rtol=1e-5
            )
            assert result.direction[row, t] == expected.direction
            np.testing.assert_allclose(result.confidence[row, t], expected.confidence, rtol=1e-5)
    frame = result.to_pandas()
    assert frame[("p2", "2026-01-01_1h_v1")].isna().all()
    assert frame[("p2", "2026-01-02_1h_v1")].iloc[SEQ - 1 :].notna().all()
    np.testing.assert_array_equal(
        frame[("p1", "2026-01-03_1h_v1")].to_numpy(), result.probabilities[2, :, 1]
    )
    assert set(result.direction[1, SEQ - 1 :].tolist()) == {-1, 0, 1}
    # As live: each version over the bars it was live (from its created_at), padded alike.
    stamps = np.datetime64("2026-01-01T12:00", "ns") + np.arange(60) * np.timedelta64(1, "h")
    as_live = sweep(registry, series, symbol="BTCUSDT", model_type="basic", versions="as-live",
                    timestamps=stamps, workers=workers, batch_size=batch_size)  # fmt: skip
    assert as_live.versions == result.versions and as_live.probabilities is not None
    assert as_live.live_version is not None
    for row in range(3):
        live = as_live.live_version == row
        assert live.any()
        window = live & (np.arange(60) >= SEQ - 1)
        np.testing.assert_array_equal(
            as_live.probabilities[row, window], result.probabilities[row, window]
        )
        assert np.isnan(as_live.probabilities[row, ~live]).all()
    # Scored by their directions, every version has a hit rate.
    scores = result.score(series[:, 0].astype(np.float64) + 1000.0)
    assert all(0.0 <= rate <= 1.0 for rate in scores.hit_rate[:3])


def test_fortran_ordered_float64_series(regression_root: Path) -> None:
    registry = open_registry(regression_root)
    series = np.asfortranarray(series_of(100).astype(np.float64) + 1e-3)
    assert not series.flags.c_contiguous
    result = sweep(registry, series, symbol="BTCUSDT", model_type="basic", progress=False)
    assert_matches_predict(registry, result, series)


def test_identical_for_any_worker_count_and_matching_batch(regression_root: Path) -> None:
    registry = open_registry(regression_root)
    series = series_of(200)
    one = sweep(registry, series, symbol="BTCUSDT", model_type="basic", workers=1, batch_size=32)
    two = sweep(registry, series, symbol="BTCUSDT", model_type="basic", workers=2, batch_size=32)
    assert np.array_equal(one.price, two.price, equal_nan=True)
    assert np.array_equal(one.direction, two.direction)


def test_dataframe_columns_are_matched_by_name(regression_root: Path) -> None:
    pd = pytest.importorskip("pandas")
    registry = open_registry(regression_root)
    series = series_of(60)
    times = pd.date_range("2026-02-01", periods=60, freq="h", tz="Europe/Paris")
    frame = pd.DataFrame(series, columns=[f"feature_{i}" for i in range(FEATURES)], index=times)
    frame["unused"] = "text"
    shuffled = frame[["unused", "feature_2", "feature_0", "feature_1"]]
    from_array = sweep(registry, series, symbol="BTCUSDT", model_type="basic")
    from_frame = sweep(registry, shuffled, symbol="BTCUSDT", model_type="basic")
    np.testing.assert_array_equal(from_frame.price, from_array.price)
    assert from_frame.timestamps is not None
    assert from_frame.timestamps[0] == np.datetime64("2026-01-31T23:00", "ns")
    table = from_frame.to_pandas()
    np.testing.assert_array_equal(table["price"]["2026-01-02_1h_v1"], from_array.price[0])
    with pytest.raises(InvalidInputError, match="feature_1"):
        sweep(registry, frame.drop(columns="feature_1"), symbol="BTCUSDT", model_type="basic")


def test_to_pandas_columns_are_field_major(tmp_path: Path) -> None:
    """Every version's price, then every version's confidence, direction and class
    probabilities, then the live version: the column order documented, not only the labels."""
    pd = pytest.importorskip("pandas")
    old, new = "2026-01-01_1h_v1", "2026-01-02_1h_v1"
    root = make_registry(
        tmp_path / "registry",
        {
            version: (
                linear_model(SEQ, FEATURES, seed=seed, outputs=3, activation="softmax"),
                {**TERNARY, "created_at": f"{version[:10]}T00:00:00Z"},
            )
            for seed, version in ((7, old), (8, new))
        },
    )
    stamps = np.datetime64("2026-01-01T12:00", "ns") + np.arange(30) * np.timedelta64(1, "h")
    result = sweep(
        open_registry(root), series_of(30) * 40, symbol="BTCUSDT", model_type="basic",
        versions="as-live", timestamps=stamps,
    )  # fmt: skip
    assert result.versions == (old, new) and result.probabilities is not None
    frame = result.to_pandas()
    fields = ["price", "confidence", "direction", "p0", "p1", "p2"]
    expected = [(field, version) for field in fields for version in (old, new)]
    assert list(frame.columns) == [*expected, ("live_version", "")]
    assert list(frame.columns.names) == ["field", "version"]
    assert isinstance(frame.index, pd.DatetimeIndex) and str(frame.index.tz) == "UTC"
    # Each column holds its own field of its own version, by position as by label.
    for position, (field, version) in enumerate(expected):
        row = result.versions.index(version)
        values = (
            result.probabilities[row, :, int(field[1])]
            if field.startswith("p") and field != "price"
            else getattr(result, field)[row]
        )
        np.testing.assert_array_equal(frame.iloc[:, position].to_numpy(), values)
    live = [result.versions[row] if row >= 0 else None for row in result.live_version.tolist()]
    assert frame.iloc[:, -1].tolist() == live


def test_as_live_bars_before_any_version_was_live_name_none(tmp_path: Path) -> None:
    """Issue 28, behaviour 8 through the Python API: bars before the first version went live
    have no live version (-1, and a missing value in ``to_pandas``), not the last version's name."""
    versions = {
        version: (linear_model(SEQ, FEATURES, seed=seed), {"created_at": f"{version[:10]}T00:00Z"})
        for seed, version in ((4, "2026-01-01_1h_v1"), (5, "2026-01-02_1h_v1"))
    }
    registry = open_registry(make_registry(tmp_path / "registry", versions))
    stamps = np.datetime64("2025-12-31T12:00", "ns") + np.arange(60) * np.timedelta64(1, "h")
    result = sweep(registry, series_of(60), symbol="BTCUSDT", model_type="basic",
                   versions="as-live", timestamps=stamps)  # fmt: skip
    assert result.live_version is not None
    assert result.live_version.tolist() == [-1] * 12 + [0] * 24 + [1] * 24
    assert np.isnan(result.price[:, :12]).all()
    live = result.to_pandas()[("live_version", "")]
    assert live.isna().tolist() == [True] * 12 + [False] * 48
    assert live.iloc[12:].tolist() == [result.versions[0]] * 24 + [result.versions[1]] * 24


def test_all_versions_leave_out_broken_ones_with_one_warning(regression_root: Path) -> None:
    write_bundle(regression_root, "BTCUSDT", "basic", "2026-01-03_1h_v1", model=b"\x08\x01junk")
    registry = open_registry(regression_root)
    series = series_of(40)
    with pytest.warns(UserWarning, match="2026-01-03_1h_v1") as caught:
        result = sweep(registry, series, symbol="BTCUSDT", model_type="basic", versions="all")
    assert len(caught) == 1
    assert result.versions == ("2026-01-01_1h_v1", "2026-01-02_1h_v1")
    for row in range(2):
        assert_matches_predict(registry, result, series, row)
    with pytest.raises(ModelLoadError, match="2026-01-03_1h_v1"):
        sweep(registry, series, symbol="BTCUSDT", model_type="basic", versions=["2026-01-03_1h_v1"])
    with pytest.raises(ModelNotAvailableError, match="nope"):
        sweep(registry, series, symbol="BTCUSDT", model_type="basic", versions=["nope"])


def test_all_versions_name_each_folder_the_scan_skipped(
    regression_root: Path, tmp_path: Path
) -> None:
    """A version folder the scan skipped (a symlink leaving the registry, a malformed bundle) is
    no version, yet a user asking for every version must hear of it, by its folder's name and
    with the scan's reason; folders of other model types and symbols are not this sweep's."""
    skipped = add_skipped_folders(regression_root, tmp_path / "elsewhere")
    registry = open_registry(regression_root)
    series = series_of(40)
    with pytest.warns(UserWarning) as caught:
        result = sweep(registry, series, symbol="BTCUSDT", model_type="basic", versions="all")
    assert [str(w.message) for w in caught] == [
        f"sweep of BTCUSDT/basic: {name} is left out: {reason}" for name, reason in skipped.items()
    ]
    assert result.versions == ("2026-01-01_1h_v1", "2026-01-02_1h_v1")
    for row in range(2):
        assert_matches_predict(registry, result, series, row)
    # Named one by one, a skipped folder is refused with the scan's reason.
    with pytest.raises(ModelLoadError, match="symlink leaves the registry"):
        sweep(registry, series, symbol="BTCUSDT", model_type="basic", versions=[LEAVING])
    with pytest.raises(ModelLoadError, match=r"metadata\.json: malformed JSON"):
        sweep(registry, series, symbol="BTCUSDT", model_type="basic", versions=[MALFORMED])


def test_windows_with_nan_are_left_undefined_with_a_warning(regression_root: Path) -> None:
    registry = open_registry(regression_root)
    series = series_of(50)
    series[20, 1] = np.nan
    with pytest.warns(RuntimeWarning, match="8 windows"):
        result = sweep(registry, series, symbol="BTCUSDT", model_type="basic")
    assert np.isnan(result.price[0, 20 : 20 + SEQ]).all()
    assert np.isfinite(result.price[0, 19]) and np.isfinite(result.price[0, 20 + SEQ])


def test_bad_series_are_refused_before_any_work(regression_root: Path) -> None:
    registry = open_registry(regression_root)
    with pytest.raises(InvalidInputError, match="2-D"):
        sweep(registry, np.zeros(10), symbol="BTCUSDT", model_type="basic")
    with pytest.raises(
        InvalidInputError,
        match=r"^the series has 4 columns; BTCUSDT:1h:basic:2026-01-02_1h_v1 takes 3 "
        r"\(columns are read by position\)$",
    ):
        sweep(registry, np.zeros((10, 4)), symbol="BTCUSDT", model_type="basic")
    with pytest.raises(InvalidInputError, match="must hold numbers, got dtype <U1"):
        sweep(registry, np.full((10, 3), "x"), symbol="BTCUSDT", model_type="basic")
    with pytest.raises(InvalidInputError, match="timestamps"):
        sweep(registry, series_of(10), symbol="BTCUSDT", model_type="basic", versions="as-live")


def test_short_series_and_float16(regression_root: Path) -> None:
    registry = open_registry(regression_root)
    short = sweep(registry, series_of(SEQ - 1), symbol="BTCUSDT", model_type="basic")
    assert np.isnan(short.price).all()
    half = series_of(30).astype(np.float16)
    result = sweep(registry, half, symbol="BTCUSDT", model_type="basic")
    assert_matches_predict(registry, result, half.astype(np.float64))


def test_plot_renders_a_png(regression_root: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    registry = open_registry(regression_root)
    series = series_of(80)
    result = sweep(
        registry,
        series,
        symbol="BTCUSDT",
        model_type="basic",
        versions="all",
        timestamps=1.7e9 + np.arange(80) * 3600.0,  # POSIX seconds, hourly
    )
    target = tmp_path / "sweep.png"
    figure = result.plot(close=series[:, 0], path=target)
    assert figure.axes
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000


def test_plot_without_matplotlib_names_the_extra(
    regression_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = open_registry(regression_root)
    result = sweep(registry, series_of(20), symbol="BTCUSDT", model_type="basic")
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"atb-prediction\[plot\]"):
        result.plot()


def test_importing_the_package_imports_neither_pandas_nor_matplotlib() -> None:
    code = (
        "import sys, atb_prediction, atb_prediction.backtest; "
        "print('pandas' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


CTRL_C_CHILD = """
import os, signal, sys, threading
import numpy as np
from atb_prediction import PredictionConfig, PredictionModelRegistry, sweep

# Python leaves SIGINT ignored when it starts ignored (a job started in the background with `&`
# inherits that): Ctrl-C must raise here whatever the parent's disposition.
signal.signal(signal.SIGINT, signal.default_int_handler)
registry = PredictionModelRegistry(PredictionConfig(model_registry_path=sys.argv[1]))
series = np.random.default_rng(0).standard_normal((4000, 256)).astype(np.float32)
threads = lambda: len(os.listdir("/proc/self/task"))
baseline = threads()
started = threading.Event()

def progress(done, total):
    if not started.is_set():
        started.set()
        print("running", flush=True)

try:
    sweep(registry, series, symbol="BTCUSDT", model_type="slow", workers=2, batch_size=1,
          progress=progress)
except KeyboardInterrupt:
    import time
    # A joined thread can still be listed for a moment while the kernel finishes its exit.
    for _ in range(100):
        if threads() <= baseline:
            break
        time.sleep(0.02)
    print("interrupted", threads() - baseline, flush=True)
else:
    print("finished", flush=True)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="counts threads in /proc/self/task")
def test_ctrl_c_stops_a_running_sweep(tmp_path: Path) -> None:
    from conftest import slow_window_model

    root = tmp_path / "registry"
    metadata = standard_metadata("BTCUSDT", "slow", "2026-01-01_1h_v1", seq=256, features=256)
    write_bundle(
        root,
        "BTCUSDT",
        "slow",
        "2026-01-01_1h_v1",
        model=slow_window_model(256, 24),
        metadata=metadata,
    )
    point_latest(root, "BTCUSDT", "slow", "2026-01-01_1h_v1")
    child = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_CHILD, str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "running"
        child.send_signal(__import__("signal").SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert out.split() == ["interrupted", "0"], err
    assert child.returncode == 0


def test_a_sweep_over_every_version_leaves_the_pinned_set_alone(tmp_path: Path) -> None:
    versions = {
        f"2026-01-0{day}_1h_v1": (linear_model(SEQ, FEATURES, seed=40 + day), {})
        for day in (1, 2, 3, 4)
    }
    root = make_registry(tmp_path / "registry", versions)
    registry = PredictionModelRegistry(
        PredictionConfig(
            model_registry_path=str(root), prediction_cache_enabled=False, max_pinned_sessions=1
        )
    )
    key = "BTCUSDT:1h:basic:2026-01-01_1h_v1"
    pinned = registry.get_bundle_by_key(key)
    result = sweep(registry, series_of(200), symbol="BTCUSDT", model_type="basic", versions="all")
    assert result.versions == tuple(versions)
    assert registry.get_bundle_by_key(key) is pinned
    # Unpinned, a bundle is the caller's alone: asked again, it is opened again.
    other = "BTCUSDT:1h:basic:2026-01-02_1h_v1"
    assert registry.get_bundle_by_key(other, pin=False) is not registry.get_bundle_by_key(
        other, pin=False
    )
    assert registry.get_bundle_by_key(key) is pinned
