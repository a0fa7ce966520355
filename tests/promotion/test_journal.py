"""The promotion journal's lines as records, the warning naming the lines skipped, and what
``rollback`` writes: the exact values, so a slip in a default, a limit or a message shows."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import pytest
from atb_prediction import promotion
from atb_prediction.promotion.files import INTENT_NAME
from atb_prediction.promotion.journal import MAX_LINE_BYTES, parse_line
from cli_helpers import write_small_registry

V1, V2, V3 = "2025-01-01_1h_v1", "2025-01-02_1h_v1", "2025-01-03_1h_v1"
TIME = "2025-11-26T08:00:00.123+00:00"
#: The fields every record needs.
REQUIRED = {"time": TIME, "symbol": "BTCUSDT", "model_type": "basic", "to": V2}


def line(**fields: object) -> str:
    return json.dumps({**REQUIRED, **fields})


def test_a_line_with_only_the_required_fields_is_a_forced_free_promotion() -> None:
    """Lines written before ``action``, ``forced``, ``id`` and ``gate`` existed read as plain
    promotions."""
    assert parse_line(line()) == promotion.PromotionRecord(
        time=TIME, action="promote", symbol="BTCUSDT", model_type="basic", from_version=None,
        to_version=V2, user="", host="", reason=None, forced=False, id=None, gate=None,
    )  # fmt: skip


def test_every_field_of_a_line_is_read() -> None:
    gate = {"metric": "sharpe", "passed": True}
    full = line(
        action="rollback", **{"from": V3}, user="ana", host="box", reason="bad fills",
        forced=True, id="abc", gate=gate,
    )  # fmt: skip
    assert parse_line(full) == promotion.PromotionRecord(
        time=TIME, action="rollback", symbol="BTCUSDT", model_type="basic", from_version=V3,
        to_version=V2, user="ana", host="box", reason="bad fills", forced=True, id="abc",
        gate=gate,
    )  # fmt: skip


def test_empty_strings_are_read_as_written() -> None:
    """An empty ``time`` or ``to`` is kept as it is (the version resolver then names the entry
    as unreadable), not replaced by a stand-in."""
    record = parse_line(line(time="", symbol="", model_type="", to=""))
    assert (record.time, record.symbol, record.model_type, record.to_version) == ("", "", "", "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "expected a JSON object, got list"),
        ('"x"', "expected a JSON object, got str"),
        (line(time=3), "field 'time' must be a string, got 3"),
        (line(action="delete"), "field 'action' must be 'promote' or 'rollback', got 'delete'"),
        (line(forced="yes"), "field 'forced' must be a boolean, got 'yes'"),
        (line(gate=[1]), "field 'gate' must be an object, got [1]"),
        ("x" * (MAX_LINE_BYTES + 1), f"longer than {MAX_LINE_BYTES} bytes"),
        ("[" * 5 + "]" * 5, "nested deeper than 4 levels"),
        ('{"a": ' * 5 + "1" + "}" * 5, "nested deeper than 4 levels"),
    ],
)
def test_a_line_that_is_no_record_is_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_line(text)
    assert str(raised.value) == message


def test_the_limits_are_inclusive() -> None:
    """A line of exactly ``MAX_LINE_BYTES`` characters, and a gate nested exactly as deep as
    allowed (with more brackets in all than that depth), are records."""
    padding = MAX_LINE_BYTES - len(line(reason=""))
    longest = line(reason="r" * padding)
    assert len(longest) == MAX_LINE_BYTES
    assert parse_line(longest).reason == "r" * padding

    gate = {"a": {"b": {"c": 1}}, "d": {}, "e": []}  # record > gate > a > b: depth 4
    assert parse_line(line(gate=gate)).gate == gate


def append_lines(directory: Path, *texts: str) -> None:
    with open(directory / promotion.JOURNAL_NAME, "a", encoding="utf-8") as journal:
        journal.writelines(text + "\n" for text in texts)


@pytest.mark.parametrize(
    ("bad", "more"),
    [
        (["[]"], ""),
        (["[]", "{}"], " (and 1 more line(s))"),
        (["[]", "{}", "[" * 5 + "]" * 5], " (and 2 more line(s))"),
    ],
)
def test_one_warning_names_the_journal_the_first_line_skipped_and_how_many_more(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, bad: list[str], more: str
) -> None:
    directory = write_small_registry(tmp_path, latest=V1)
    append_lines(directory, line(), *bad, line(to=V3))
    with caplog.at_level(logging.WARNING, logger="atb_prediction"):
        records = promotion.history(tmp_path, "BTCUSDT", "basic")
    assert [r.to_version for r in records] == [V2, V3]
    path = directory / promotion.JOURNAL_NAME
    assert [r.getMessage() for r in caplog.records] == [
        f"{path} line 2 skipped: expected a JSON object, got list{more}"
    ]


def test_rollback_to_a_named_version_records_who_and_seals_it(tmp_path: Path) -> None:
    directory = write_small_registry(tmp_path, latest=V1)
    for version in (V2, V3):
        promotion.promote(tmp_path, "BTCUSDT", "basic", version, check=None, seal=False)
    assert not (directory / V1 / "manifest.json").exists()

    result = promotion.rollback(
        tmp_path, "BTCUSDT", "basic", to=V1, check=None, user="ana", host="box"
    )
    record = result.record
    assert (record.action, record.from_version, record.to_version) == ("rollback", V3, V1)
    assert (record.user, record.host) == ("ana", "box")
    assert os.readlink(directory / "latest") == V1
    # Like `promote`, a rollback seals the version it makes production (by default).
    sealed = json.loads((directory / V1 / "manifest.json").read_text("utf-8"))
    assert set(sealed["files"]) == {"metadata.json", "model.onnx"}


def test_the_journal_file_is_one_readable_line_per_switch(tmp_path: Path) -> None:
    """What an operator reading ``promotions.jsonl`` sees: the fields in their documented
    order, non-ASCII text as written, one line per switch and no blank ones, a file that is
    not executable."""
    directory = write_small_registry(tmp_path, latest=V1)
    promotion.promote(tmp_path, "BTCUSDT", "basic", V2, check=None, reason="café ☕")
    promotion.promote(tmp_path, "BTCUSDT", "basic", V3, check=None)
    path = directory / promotion.JOURNAL_NAME
    text = path.read_text("utf-8")
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == 3
    assert '"reason": "café ☕"' in lines[0]
    assert list(json.loads(lines[0])) == [
        "time", "action", "symbol", "model_type", "from", "to", "user", "host", "reason",
        "forced", "id",
    ]  # fmt: skip
    umask = os.umask(0)
    os.umask(umask)
    for name in (promotion.JOURNAL_NAME, promotion.LOCK_NAME):
        assert (directory / name).stat().st_mode & 0o777 == 0o644 & ~umask


def test_a_journal_cut_after_its_first_byte_loses_only_the_cut_line(tmp_path: Path) -> None:
    directory = write_small_registry(tmp_path, latest=V1)
    (directory / promotion.JOURNAL_NAME).write_text("{")
    promotion.promote(tmp_path, "BTCUSDT", "basic", V2, check=None)
    assert (directory / promotion.JOURNAL_NAME).read_text("utf-8").split("\n")[0] == "{"
    assert [r.to_version for r in promotion.history(tmp_path, "BTCUSDT", "basic")] == [V2]


def test_a_journal_of_several_megabytes_is_read_whole(tmp_path: Path) -> None:
    """The journal is read in chunks of a megabyte: every chunk is kept, in order."""
    directory = write_small_registry(tmp_path, latest=V1)
    count = 12_000
    texts = [line(to=V2 if n % 2 else V3, reason=f"{n:06d}" + "r" * 200) for n in range(count)]
    append_lines(directory, *texts)
    assert (directory / promotion.JOURNAL_NAME).stat().st_size > 2 * (1 << 20)
    records = promotion.history(tmp_path, "BTCUSDT", "basic")
    assert [r.reason[:6] for r in records if r.reason] == [f"{n:06d}" for n in range(count)]


def test_a_dangling_intent_link_is_removed_by_the_next_promotion(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = write_small_registry(tmp_path, latest=V1)
    intent = directory / INTENT_NAME
    os.symlink(tmp_path / "nowhere", intent)
    with caplog.at_level(logging.WARNING, logger="atb_prediction"):
        promotion.promote(tmp_path, "BTCUSDT", "basic", V2, check=None)
    assert not intent.is_symlink()
    assert os.readlink(directory / "latest") == V2


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFO")
def test_a_fifo_journal_is_refused_without_blocking(tmp_path: Path) -> None:
    directory = write_small_registry(tmp_path, latest=V1)
    fifo = directory / promotion.JOURNAL_NAME
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            promotion.history(tmp_path, "BTCUSDT", "basic")
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(timeout=10)
    blocked = reader.is_alive()
    if blocked:  # release the reader: open the other end, then close it
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join()
    assert not blocked
    assert len(outcome) == 1 and isinstance(outcome[0], promotion.PromotionRefusedError)
    assert "not a regular file" in str(outcome[0])
