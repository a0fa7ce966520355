"""``versions="as-live"``: each bar predicted by the version that was production at its time,
from the promotion journal written by ``atb models promote``/``rollback``."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from atb_prediction import sweep
from atb_prediction.cli import main
from atb_prediction.models.version_resolver import list_version_records
from conftest import linear_model, run_python
from sweep_helpers import FEATURES, NORMALISED, SEQ, make_registry, open_registry, series_of

OLD, NEW = "2026-01-01_1h_v1", "2026-01-02_1h_v1"


def now() -> datetime:
    return datetime.now(timezone.utc)


@pytest.mark.filterwarnings("ignore:.*median spacing:UserWarning")  # bars microseconds apart
def test_as_live_follows_a_promote_and_a_rollback(tmp_path: Path, capsys: object) -> None:
    root = make_registry(
        tmp_path / "registry",
        {
            OLD: (
                linear_model(SEQ, FEATURES, seed=11),
                {**NORMALISED, "created_at": "2026-01-01T00:00:00Z"},
            ),
            NEW: (
                linear_model(SEQ, FEATURES, seed=12),
                {**NORMALISED, "created_at": "2026-01-02T00:00:00Z"},
            ),
        },
    )
    (root / "BTCUSDT/basic/latest").unlink()
    (root / "BTCUSDT/basic/latest").symlink_to(OLD)
    before_promote = now()
    assert main(["models", "promote", "BTCUSDT", "basic", NEW, "--registry", str(root)]) == 0
    after_promote = now()
    time.sleep(0.05)
    before_rollback = now()
    assert main(["models", "rollback", "BTCUSDT", "basic", "--registry", str(root)]) == 0
    after_rollback = now()

    records = list_version_records(root, "BTCUSDT", "basic")
    assert [(r.version_id, r.source) for r in records] == [
        (OLD, "metadata"),
        (NEW, "metadata"),
        (NEW, "journal"),
        (OLD, "journal"),
    ]
    assert before_promote <= records[2].effective_at <= after_promote
    assert before_rollback <= records[3].effective_at <= after_rollback

    # Bars: before any version, OLD by created_at, NEW by created_at (before the journal),
    # NEW by the journal, OLD again after the rollback.
    middle = after_promote + (before_rollback - after_promote) / 2
    moments = (
        [datetime(2025, 12, 31, tzinfo=timezone.utc) + timedelta(hours=h) for h in range(SEQ)]
        + [datetime(2026, 1, 1, 12, tzinfo=timezone.utc)] * 4
        + [datetime(2026, 1, 3, tzinfo=timezone.utc)] * 4
        + [middle] * 4
        + [after_rollback + timedelta(seconds=1)] * 4
    )
    # Times must strictly increase: bars sharing a moment are a microsecond apart.
    stamps = np.array([np.datetime64(m.replace(tzinfo=None), "ns") for m in moments])
    stamps += np.arange(len(stamps)) * np.timedelta64(1, "us")
    series = series_of(len(moments))
    registry = open_registry(root)
    result = sweep(
        registry, series, symbol="BTCUSDT", model_type="basic", versions="as-live",
        timestamps=stamps, workers=2, batch_size=3,
    )  # fmt: skip
    assert result.versions == (OLD, NEW)
    expected_rows = [-1] * SEQ + [0] * 4 + [1] * 4 + [1] * 4 + [0] * 4
    assert result.live_version is not None
    assert result.live_version.tolist() == expected_rows
    for t, row in enumerate(expected_rows):
        other = 1 - row
        if row < 0:
            assert np.isnan(result.price[:, t]).all()
            continue
        runner = registry.get_bundle_by_key(f"BTCUSDT:1h:basic:{result.versions[row]}")
        assert runner is not None
        expected = runner.runner.predict(series[t - SEQ + 1 : t + 1])
        np.testing.assert_allclose(result.price[row, t], expected.price, rtol=1e-5)
        assert np.isnan(result.price[other, t])
    table = result.to_pandas()
    assert list(table["live_version"].iloc[SEQ : SEQ + 5]) == [OLD] * 4 + [NEW]
    summary = {line.version_id: line for line in result.summary()}
    assert summary[OLD].bars == 8 and summary[NEW].windows == 8


def test_as_live_without_journal_uses_created_at(tmp_path: Path) -> None:
    root = make_registry(
        tmp_path / "registry",
        {
            OLD: (linear_model(SEQ, FEATURES, seed=11), {"created_at": "2026-01-01T00:00:00"}),
            NEW: (
                linear_model(SEQ, FEATURES, seed=12),
                {"created_at": "2026-01-02T00:00:00+02:00"},
            ),
        },
    )
    registry = open_registry(root)
    stamps = np.datetime64("2026-01-01T12:00", "ns") + np.arange(24) * np.timedelta64(1, "h")
    result = sweep(
        registry, series_of(24), symbol="BTCUSDT", model_type="basic", versions="as-live",
        timestamps=stamps,
    )  # fmt: skip
    assert result.live_version is not None
    # NEW's created_at is 2026-01-01T22:00 UTC: bar 10 onwards.
    assert result.live_version.tolist() == [0] * 10 + [1] * 14


def test_as_live_with_two_journal_lines_at_one_time_takes_the_later(tmp_path: Path) -> None:
    """Two promotions within one millisecond: from that time on, the bars are predicted by the
    version the later line switched to (which sorts first by name), the bar at that very time
    included."""
    first, second, third = "2026-01-01_1h_v1", "2026-01-02_1h_v1", "2026-01-03_1h_v1"
    root = make_registry(
        tmp_path / "registry",
        {
            version: (
                linear_model(SEQ, FEATURES, seed=40 + day),
                {**NORMALISED, "created_at": f"2026-01-0{day}T00:00:00Z"},
            )
            for day, version in enumerate((first, second, third), start=1)
        },
    )
    folder = root / "BTCUSDT" / "basic"
    (folder / "latest").unlink()
    (folder / "latest").symlink_to(second)
    tie = "2026-02-01T00:00:00.000+00:00"
    lines = [
        {"time": tie, "action": "promote", "symbol": "BTCUSDT", "model_type": "basic",
         "from": first, "to": third, "user": "tests", "host": "here", "reason": None,
         "forced": False},
        {"time": tie, "action": "promote", "symbol": "BTCUSDT", "model_type": "basic",
         "from": third, "to": second, "user": "tests", "host": "here", "reason": None,
         "forced": False},
    ]  # fmt: skip
    (folder / "promotions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    # Hourly bars from 2026-01-31T12:00: bar 12 is at the tie.
    stamps = np.datetime64("2026-01-31T12:00", "ns") + np.arange(24) * np.timedelta64(1, "h")
    series = series_of(24)
    registry = open_registry(root)
    result = sweep(
        registry, series, symbol="BTCUSDT", model_type="basic", versions="as-live",
        timestamps=stamps, batch_size=4,
    )  # fmt: skip
    # Before the tie, upstream's approximation (the newest created_at): the third version.
    assert result.versions == (third, second)
    assert result.live_version is not None
    assert result.live_version.tolist() == [0] * 12 + [1] * 12
    for t in range(SEQ - 1, 24):
        row = int(result.live_version[t])
        bundle = registry.get_bundle_by_key(f"BTCUSDT:1h:basic:{result.versions[row]}")
        assert bundle is not None
        expected = bundle.runner.predict(series[t - SEQ + 1 : t + 1])
        np.testing.assert_allclose(result.price[row, t], expected.price, rtol=1e-5)
        assert np.isnan(result.price[1 - row, t])


AS_LIVE_CHILD = """
import json, sys, warnings
import numpy as np
from atb_prediction import PredictionConfig, PredictionModelRegistry, sweep

registry = PredictionModelRegistry(PredictionConfig(model_registry_path=sys.argv[1]))
stamps = np.datetime64("2025-12-31T12:00", "ns") + np.arange(48) * np.timedelta64(1, "h")
series = np.random.default_rng(3).standard_normal((48, 3)).astype(np.float32)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    result = sweep(registry, series, symbol="BTCUSDT", model_type="basic", versions="as-live",
                   timestamps=stamps, progress=False)
print(json.dumps([list(result.versions), [str(w.message) for w in caught]]))
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_as_live_with_a_fifo_metadata_in_an_old_version_finishes_with_a_warning(
    tmp_path: Path,
) -> None:
    """D24: the scan refuses a version whose ``metadata.json`` is a FIFO; as-live planning reads
    the version records through the core's guarded reader too, so it never waits on the FIFO:
    the old version is timed by its folder name and left out with a warning."""
    oldest = "2025-12-31_1h_v1"
    root = make_registry(
        tmp_path / "registry",
        {
            oldest: (linear_model(SEQ, FEATURES, seed=10), {"created_at": "2025-12-31T00:00:00Z"}),
            OLD: (linear_model(SEQ, FEATURES, seed=11), {"created_at": "2026-01-01T00:00:00Z"}),
        },
    )
    metadata = root / "BTCUSDT" / "basic" / oldest / "metadata.json"
    metadata.unlink()
    os.mkfifo(metadata)
    # A child process: before the fix the sweep blocked forever opening the FIFO.
    result = run_python(AS_LIVE_CHILD.replace("sys.argv[1]", repr(str(root))))
    assert result.returncode == 0, result.stderr
    versions, warned = json.loads(result.stdout)
    assert versions == [OLD]
    assert any(
        f"BTCUSDT/basic/{oldest}" in message and "not a regular file" in message
        for message in warned
    ), warned
