"""``version_resolver``: upstream's point-in-time API, on the fixture registry and on edge cases."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from atb_prediction.models.exceptions import ModelNotAvailableError
from atb_prediction.models.version_resolver import (
    PromotionSegment,
    VersionRecord,
    list_version_records,
    promotion_segments,
    resolve_version_as_of,
)

UTC = timezone.utc


@pytest.fixture(scope="module")
def fixture_registry() -> Path:
    """The upstream fixture registry: ``$ATB_FIXTURE_REGISTRY``, else the copy in tests/data."""
    candidates = [
        os.environ.get("ATB_FIXTURE_REGISTRY"),
        Path(__file__).parent.parent / "data/atb-registry",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    pytest.skip("no fixture registry (set ATB_FIXTURE_REGISTRY or add tests/data/atb-registry)")


def test_fixture_records_follow_upstream_rules(fixture_registry: Path) -> None:
    records = list_version_records(fixture_registry, "BTCUSDT", "basic")
    by_id = {r.version_id: r for r in records}
    assert set(by_id) == {
        "2025-09-16_legacy",
        "2025-09-17_1h_v1",
        "2025-10-26_21h_v1",
        "2025-10-27_14h_v1",
        "2025-10-30_12h_v1",
    }
    # A naive created_at means UTC.
    assert by_id["2025-10-30_12h_v1"] == VersionRecord(
        "2025-10-30_12h_v1", datetime(2025, 10, 30, 12, 13, 22, 977562, tzinfo=UTC), "metadata"
    )
    for record in records:
        metadata = json.loads(
            (fixture_registry / "BTCUSDT/basic" / record.version_id / "metadata.json").read_text()
        )
        if "created_at" in metadata:
            assert record.source == "metadata"
        else:  # the date in the folder name, at midnight UTC
            assert record.source == "version_id"
            assert record.effective_at == datetime.fromisoformat(record.version_id[:10]).replace(
                tzinfo=UTC
            )
    assert records == sorted(records, key=lambda r: (r.effective_at, r.version_id))
    assert "latest" not in by_id
    assert list_version_records(fixture_registry, "BTCUSDT", "nothing") == []


def test_fixture_resolution_is_inclusive_and_naive_means_utc(fixture_registry: Path) -> None:
    records = list_version_records(fixture_registry, "BTCUSDT", "basic")
    last = records[-1]
    at = last.effective_at
    # Upstream returns the record itself; its backtest CLI reads ``.version_id`` from it.
    resolved = resolve_version_as_of(fixture_registry, "BTCUSDT", "basic", at)
    assert type(resolved) is VersionRecord
    assert resolved == VersionRecord(
        "2025-10-30_12h_v1", datetime(2025, 10, 30, 12, 13, 22, 977562, tzinfo=UTC), "metadata"
    )
    assert resolve_version_as_of(fixture_registry, "BTCUSDT", "basic", at.replace(tzinfo=None)) == (
        last
    )
    in_new_york = at.astimezone(timezone(timedelta(hours=-5)))
    assert resolve_version_as_of(fixture_registry, "BTCUSDT", "basic", in_new_york) == last
    before = resolve_version_as_of(
        fixture_registry, "BTCUSDT", "basic", at - timedelta(microseconds=1)
    )
    assert before == records[-2]
    with pytest.raises(ModelNotAvailableError, match=records[0].version_id):
        resolve_version_as_of(
            fixture_registry, "BTCUSDT", "basic", records[0].effective_at - timedelta(days=1)
        )
    with pytest.raises(ModelNotAvailableError):
        resolve_version_as_of(fixture_registry, "BTCUSDT", "nothing", at)


def test_resolution_reads_the_record_of_the_folder_date(tmp_path: Path) -> None:
    (tmp_path / "S" / "t" / "2026-03-01_1h_v1").mkdir(parents=True)
    resolved = resolve_version_as_of(tmp_path, "S", "t", datetime(2026, 3, 1))
    assert resolved == VersionRecord(
        "2026-03-01_1h_v1", datetime(2026, 3, 1, tzinfo=UTC), "version_id"
    )
    assert resolved.version_id == "2026-03-01_1h_v1"


def test_segments_split_at_distinct_times_and_later_records_win() -> None:
    t = [datetime(2026, 1, d, tzinfo=UTC) for d in range(1, 8)]
    records = [
        VersionRecord("a", t[1], "metadata"),
        VersionRecord("b", t[3], "metadata"),
        VersionRecord("c", t[3], "metadata"),
        VersionRecord("d", t[6], "metadata"),
    ]
    assert promotion_segments(records, t[0], t[5]) == [
        PromotionSegment(None, t[0], t[1]),
        PromotionSegment("a", t[1], t[3]),
        PromotionSegment("c", t[3], t[5]),
    ]
    # Boundaries are strictly inside: a record at the start gives no zero-length segment.
    assert promotion_segments(records, t[1], t[2]) == [PromotionSegment("a", t[1], t[2])]


def test_unparsable_created_at_falls_back_to_the_folder_date(tmp_path: Path) -> None:
    folder = tmp_path / "BTCUSDT" / "basic"
    for name, metadata in (
        ("2026-03-01_x", '{"created_at": "yesterday"}'),
        ("2026-03-02", "[1, 2]"),
        ("2026-03-03_y", "{not json"),
        ("no-date", "{}"),
    ):
        (folder / name).mkdir(parents=True)
        (folder / name / "metadata.json").write_text(metadata)
    (folder / "latest").symlink_to("2026-03-02")
    records = list_version_records(tmp_path, "BTCUSDT", "basic")
    assert [(r.version_id, r.source) for r in records] == [
        ("2026-03-01_x", "version_id"),
        ("2026-03-02", "version_id"),
        ("2026-03-03_y", "version_id"),
    ]


def test_upstreams_import_path_is_the_promotion_module_itself() -> None:
    import atb_prediction.models.version_resolver as upstream_path
    import atb_prediction.promotion.version_resolver as home

    assert upstream_path is home
    assert (
        home.__spec__ is not None
        and home.__spec__.name == "atb_prediction.promotion.version_resolver"
    )
    from atb_prediction import models

    assert models.version_resolver is home


def write_journal(folder: Path, switches: list[tuple[str, str | None, str]]) -> None:
    """``promotions.jsonl`` with one promotion line per ``(time, from, to)``, in that order."""
    from atb_prediction.promotion import JOURNAL_NAME, PromotionRecord

    symbol, model_type = folder.parent.name, folder.name
    lines = [
        PromotionRecord(
            time=time, action="promote", symbol=symbol, model_type=model_type,
            from_version=source, to_version=target, user="tests", host="here", reason=None,
            forced=False,
        ).to_json()
        for time, source, target in switches
    ]  # fmt: skip
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (folder / JOURNAL_NAME).write_text(text, encoding="utf-8")


def test_journal_entries_at_the_same_time_the_later_line_wins(tmp_path: Path) -> None:
    """Two promotions within one millisecond: the later line is what ``latest`` was left at, even
    when its version sorts first by name."""
    folder = tmp_path / "BTCUSDT" / "basic"
    for day in ("01", "02", "03"):
        (folder / f"2026-01-{day}_v").mkdir(parents=True)
        created = {"created_at": f"2026-01-{day}T00:00:00Z"}
        (folder / f"2026-01-{day}_v" / "metadata.json").write_text(json.dumps(created))
    (folder / "latest").symlink_to("2026-01-02_v")
    tie = "2026-02-01T00:00:00.000+00:00"
    write_journal(
        folder, [(tie, "2026-01-01_v", "2026-01-03_v"), (tie, "2026-01-03_v", "2026-01-02_v")]
    )

    at = datetime(2026, 2, 1, tzinfo=UTC)
    records = list_version_records(tmp_path, "BTCUSDT", "basic")
    assert records[-2:] == [
        VersionRecord("2026-01-03_v", at, "journal"),
        VersionRecord("2026-01-02_v", at, "journal"),
    ]
    assert resolve_version_as_of(tmp_path, "BTCUSDT", "basic", at).version_id == "2026-01-02_v"
    later = resolve_version_as_of(tmp_path, "BTCUSDT", "basic", at + timedelta(days=9))
    assert later.version_id == "2026-01-02_v"
    # Just before the tie, upstream's approximation: the newest created_at.
    before = at - timedelta(microseconds=1)
    assert resolve_version_as_of(tmp_path, "BTCUSDT", "basic", before).version_id == (
        "2026-01-03_v"
    )
    assert promotion_segments(records, before, at + timedelta(days=1)) == [
        PromotionSegment("2026-01-03_v", before, at),
        PromotionSegment("2026-01-02_v", at, at + timedelta(days=1)),
    ]


def versions_created(folder: Path, days: list[str]) -> None:
    """Version folders ``2026-01-DD_v`` whose ``created_at`` is midnight UTC of that day."""
    for day in days:
        (folder / f"2026-01-{day}_v").mkdir(parents=True)
        created = {"created_at": f"2026-01-{day}T00:00:00Z"}
        (folder / f"2026-01-{day}_v" / "metadata.json").write_text(json.dumps(created))


def test_the_journal_takes_over_from_its_first_switch_not_a_later_one(tmp_path: Path) -> None:
    """Upstream's approximate records count only before the journal's first switch: a version
    made between the first and the second switch is not a switch, nor is the ``created_at`` of
    one made at the very moment of the first switch."""
    folder = tmp_path / "BTCUSDT" / "basic"
    versions_created(folder, ["01", "03", "05", "07"])
    (folder / "latest").symlink_to("2026-01-07_v")
    write_journal(
        folder,
        [
            ("2026-01-03T00:00:00+00:00", "2026-01-01_v", "2026-01-03_v"),
            ("2026-01-09T00:00:00+00:00", "2026-01-03_v", "2026-01-07_v"),
        ],
    )

    records = list_version_records(tmp_path, "BTCUSDT", "basic")
    assert records == [
        VersionRecord("2026-01-01_v", datetime(2026, 1, 1, tzinfo=UTC), "metadata"),
        VersionRecord("2026-01-03_v", datetime(2026, 1, 3, tzinfo=UTC), "journal"),
        VersionRecord("2026-01-07_v", datetime(2026, 1, 9, tzinfo=UTC), "journal"),
    ]
    # 2026-01-05_v was built but never promoted: not live between the two switches.
    as_of = datetime(2026, 1, 6, tzinfo=UTC)
    assert resolve_version_as_of(tmp_path, "BTCUSDT", "basic", as_of).version_id == "2026-01-03_v"


def test_journal_entries_without_a_readable_time_or_target_are_ignored_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "BTCUSDT" / "basic"
    versions_created(folder, ["01", "02"])
    (folder / "latest").symlink_to("2026-01-02_v")
    write_journal(
        folder,
        [
            ("yesterday", "2026-01-01_v", "2026-01-02_v"),
            ("2026-01-05T00:00:00+00:00", "2026-01-02_v", ""),
            ("2026-01-06T00:00:00+00:00", "2026-01-01_v", "2026-01-02_v"),
        ],
    )

    with caplog.at_level(logging.WARNING, logger="atb_prediction"):
        records = list_version_records(tmp_path, "BTCUSDT", "basic")
    assert records == [
        VersionRecord("2026-01-01_v", datetime(2026, 1, 1, tzinfo=UTC), "metadata"),
        VersionRecord("2026-01-02_v", datetime(2026, 1, 2, tzinfo=UTC), "metadata"),
        VersionRecord("2026-01-02_v", datetime(2026, 1, 6, tzinfo=UTC), "journal"),
    ]
    assert [r.getMessage() for r in caplog.records] == [
        "BTCUSDT/basic promotion journal: entry to '2026-01-02_v' has no readable time; ignored",
        "BTCUSDT/basic promotion journal: entry to '' has no readable time; ignored",
    ]


def test_a_version_folder_without_any_date_is_left_out_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "BTCUSDT" / "basic"
    versions_created(folder, ["01"])
    (folder / "no-date").mkdir()
    with caplog.at_level(logging.WARNING, logger="atb_prediction"):
        records = list_version_records(tmp_path, "BTCUSDT", "basic")
    assert [r.version_id for r in records] == ["2026-01-01_v"]
    assert [r.getMessage() for r in caplog.records] == [
        f"{folder / 'no-date'}: no created_at in metadata.json and no YYYY-MM-DD date in the "
        "folder name; left out of the version records"
    ]


def test_resolution_without_any_record_names_the_model(tmp_path: Path) -> None:
    (tmp_path / "BTCUSDT" / "basic").mkdir(parents=True)
    with pytest.raises(ModelNotAvailableError) as raised:
        resolve_version_as_of(tmp_path, "BTCUSDT", "basic", datetime(2026, 1, 1))
    assert str(raised.value) == "No versions recorded for BTCUSDT/basic"


def test_a_record_at_the_end_gives_no_zero_length_segment() -> None:
    t = [datetime(2026, 1, d, tzinfo=UTC) for d in range(1, 4)]
    records = [VersionRecord("a", t[0], "metadata"), VersionRecord("b", t[2], "metadata")]
    assert promotion_segments(records, t[0], t[2]) == [PromotionSegment("a", t[0], t[2])]
