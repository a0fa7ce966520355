"""D21: a journal line the reader would skip is refused when it is written, so no promotion
exists that history, rollback and as-live sweeps cannot see. One rule, ``check_line``, for the
writer and the reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from atb_prediction import promotion
from atb_prediction.promotion.journal import MAX_LINE_BYTES, check_line, parse_line
from gate_helpers import RIGHT, SYMBOL, TYPE, WRONG, signal_registry


def _unchanged(root: Path) -> None:
    directory = root / SYMBOL / TYPE
    assert (directory / "latest").readlink() == Path(WRONG)
    assert not (directory / promotion.JOURNAL_NAME).exists()
    assert not (directory / promotion.INTENT_NAME).exists()
    assert not (directory / RIGHT / "manifest.json").exists()


@pytest.mark.parametrize("reason", ["r" * (MAX_LINE_BYTES + 1), "é" * (MAX_LINE_BYTES // 2 + 1)])
def test_a_reason_longer_than_the_reader_takes_is_refused_before_anything(
    tmp_path: Path, reason: str
) -> None:
    """Over 64 KiB of UTF-8, in ASCII or in two-byte characters (fewer characters than the
    limit, more bytes): refused, naming the limit, with nothing switched or written."""
    root = signal_registry(tmp_path / "registry")
    with pytest.raises(promotion.PromotionRefusedError) as refused:
        promotion.promote(root, SYMBOL, TYPE, RIGHT, reason=reason)
    message = str(refused.value)
    assert f"its journal line would be longer than {MAX_LINE_BYTES} bytes" in message
    assert f"shorten the reason ({len(reason)} characters)" in message
    _unchanged(root)


def test_a_long_reason_that_fits_is_written_and_read_back(tmp_path: Path) -> None:
    root = signal_registry(tmp_path / "registry")
    reason = "é" * (MAX_LINE_BYTES // 2 - 400)  # just under the limit in bytes
    promotion.promote(root, SYMBOL, TYPE, RIGHT, reason=reason)
    (record,) = promotion.history(root, SYMBOL, TYPE)
    assert record.reason == reason and record.to_version == RIGHT
    line = (root / SYMBOL / TYPE / promotion.JOURNAL_NAME).read_bytes().splitlines()[0]
    assert len(line) <= MAX_LINE_BYTES
    assert promotion.rollback_target(root, SYMBOL, TYPE) == WRONG


def test_a_rollback_with_a_reason_too_long_is_refused(tmp_path: Path) -> None:
    root = signal_registry(tmp_path / "registry")
    promotion.promote(root, SYMBOL, TYPE, RIGHT)
    with pytest.raises(promotion.PromotionRefusedError, match="refusing to rollback"):
        promotion.rollback(root, SYMBOL, TYPE, reason="x" * (MAX_LINE_BYTES + 1))
    assert (root / SYMBOL / TYPE / "latest").readlink() == Path(RIGHT)
    assert len(promotion.history(root, SYMBOL, TYPE)) == 1


def test_the_command_line_refuses_it_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from atb_prediction.cli import main

    root = signal_registry(tmp_path / "registry")
    code = main(["models", "promote", f"{SYMBOL}:1h:{TYPE}:{RIGHT}", "--registry", str(root),
                 "--reason", "x" * (MAX_LINE_BYTES + 1)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "longer than 65536 bytes" in err
    _unchanged(root)


def test_writer_and_reader_share_the_limits() -> None:
    """What ``check_line`` refuses, ``parse_line`` skips; the largest line it takes reads."""
    record = {"time": "t", "action": "promote", "symbol": "S", "model_type": "m", "from": None,
              "to": "v", "user": "u", "host": "h", "forced": False}  # fmt: skip
    base = json.dumps({**record, "reason": ""}, ensure_ascii=False)
    fits = json.dumps({**record, "reason": "é" * ((MAX_LINE_BYTES - len(base)) // 2)},
                      ensure_ascii=False)  # fmt: skip
    check_line(fits)
    assert parse_line(fits).reason is not None
    over = fits.replace('"reason": "', '"reason": "éé', 1)
    for reject in (check_line, parse_line):
        with pytest.raises(ValueError, match=f"longer than {MAX_LINE_BYTES} bytes"):
            reject(over)
    deep = json.dumps({**record, "gate": {"a": {"b": {"c": {}}}}})
    for reject in (check_line, parse_line):
        with pytest.raises(ValueError, match="nested deeper than 4 levels"):
            reject(deep)
    with pytest.raises(ValueError, match="lone surrogate"):
        check_line('{"reason": "\ud800"}')
