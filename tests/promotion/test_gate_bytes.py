"""Evidence bound to the bytes it was computed on: the model promoted is the model evaluated
(D17), the bars journaled are the bars parsed, read once (D19), a gate frame's text columns do
not break it (D18), and a promotion reads only the bundles it compares."""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from atb_prediction import promotion
from atb_prediction.backtest import Gate
from atb_prediction.promotion import _steps
from conftest import affine_model, write_bundle
from gate_helpers import (
    RIGHT,
    SYMBOL,
    TYPE,
    WRONG,
    bars_file,
    signal_frame,
    signal_registry,
)


def _model_path(root: Path, version: str) -> Path:
    return root / SYMBOL / TYPE / version / "model.onnx"


def _replace_when_locked(monkeypatch: pytest.MonkeyPatch, path: Path, replacement: bytes) -> None:
    """A training job re-exports ``path`` after the gate evaluated it, before the locked step."""
    original = _steps.reached

    def reached(step: str) -> None:
        if step == "locked":
            path.write_bytes(replacement)
        original(step)

    monkeypatch.setattr(_steps, "reached", reached)


@pytest.mark.parametrize("gated", [True, False])
def test_a_model_replaced_after_evaluation_is_refused_naming_both_digests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gated: bool
) -> None:
    """D17: validation (and the gate) ran on one model; the file now holds another. Nothing
    changes: ``latest``, the manifest and the journal stay as they were."""
    root = signal_registry(tmp_path / "registry")
    model = _model_path(root, RIGHT)
    evaluated = hashlib.sha256(model.read_bytes()).hexdigest()
    replacement = affine_model(1, 1, weight=-2.0)
    _replace_when_locked(monkeypatch, model, replacement)
    gate = Gate(signal_frame(500)) if gated else None
    with pytest.raises(promotion.PromotionRefusedError) as refused:
        promotion.promote(root, SYMBOL, TYPE, RIGHT, gate=gate)
    message = str(refused.value)
    assert f"sha256 {hashlib.sha256(replacement).hexdigest()} on disk" in message
    assert f"sha256 {evaluated} evaluated" in message
    assert "model.onnx changed after it was evaluated" in message
    directory = root / SYMBOL / TYPE
    assert (directory / "latest").readlink() == Path(WRONG)
    assert not (directory / RIGHT / "manifest.json").exists()
    assert not (directory / promotion.JOURNAL_NAME).exists()


def test_a_sealed_model_replaced_after_evaluation_leaves_its_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atb_prediction._core import seal_bundle

    root = signal_registry(tmp_path / "registry")
    seal_bundle(root / SYMBOL / TYPE / RIGHT, root)
    manifest = root / SYMBOL / TYPE / RIGHT / "manifest.json"
    before = manifest.read_bytes()
    _replace_when_locked(monkeypatch, _model_path(root, RIGHT), affine_model(1, 1, weight=3.0))
    with pytest.raises(promotion.PromotionRefusedError, match="changed after it was evaluated"):
        promotion.promote(root, SYMBOL, TYPE, RIGHT, gate=Gate(signal_frame(500)), force=True)
    assert manifest.read_bytes() == before
    assert (root / SYMBOL / TYPE / "latest").readlink() == Path(WRONG)


def test_the_manifest_sealed_and_the_digests_journaled_are_of_the_bytes_evaluated(
    tmp_path: Path,
) -> None:
    root = signal_registry(tmp_path / "registry")
    result = promotion.promote(root, SYMBOL, TYPE, RIGHT, gate=Gate(signal_frame(500)))
    assert result.changed and result.record.gate is not None
    digests = {v: hashlib.sha256(_model_path(root, v).read_bytes()).hexdigest() for v in MODELS}
    assert result.record.gate["candidate_sha256"] == digests[RIGHT]
    assert result.record.gate["production_sha256"] == digests[WRONG]
    manifest = json.loads((root / SYMBOL / TYPE / RIGHT / "manifest.json").read_text())
    assert manifest["files"]["model.onnx"]["sha256"] == digests[RIGHT]
    (line,) = (root / SYMBOL / TYPE / promotion.JOURNAL_NAME).read_text().splitlines()
    assert json.loads(line)["gate"]["candidate_sha256"] == digests[RIGHT]


MODELS = (RIGHT, WRONG)


def test_a_promotion_opens_only_the_bundles_it_compares(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another symbol's production model that does not open is never touched: the gate and
    validation open the candidate and production through the command's index, not a registry
    of every symbol."""
    root = signal_registry(tmp_path / "registry")
    other = write_bundle(
        root, "ETHUSDT", TYPE, RIGHT, model=b"not an onnx model",
        metadata={"timeframe": "1h", "sequence_length": 1, "feature_names": ["signal"]},
    )  # fmt: skip
    (other.parent / "latest").symlink_to(RIGHT)
    with caplog.at_level(logging.DEBUG, logger="atb_prediction"):
        promotion.promote(root, SYMBOL, TYPE, RIGHT, gate=Gate(signal_frame(500)))
    assert not [r for r in caplog.records if "ETHUSDT" in r.getMessage()]


def test_a_gate_frame_s_text_columns_are_left_out_of_the_digest(tmp_path: Path) -> None:
    """D18: a ``symbol`` column beside the bars no longer breaks the gate; the digest covers
    the numeric columns a sweep can read, so it is the digest of the bars without it."""
    root = signal_registry(tmp_path / "registry")
    bars = signal_frame(500)
    with_symbol = bars.assign(symbol="BTCUSDT", note=["x"] * len(bars))
    plain = Gate(bars).evaluate(root, SYMBOL, TYPE, RIGHT, WRONG)
    labelled = Gate(with_symbol).evaluate(root, SYMBOL, TYPE, RIGHT, WRONG)
    assert labelled["series_sha256"] == plain["series_sha256"]
    assert labelled["candidate"] == plain["candidate"]
    changed = Gate(bars.assign(close=bars["close"] * 2)).evaluate(root, SYMBOL, TYPE, RIGHT, WRONG)
    assert changed["series_sha256"] != plain["series_sha256"]


# --- the bars file, read once (D19) ------------------------------------------------------------


def _promote_command(root: Path, path: Path, *extra: str) -> list[str]:
    return [
        "models", "promote", f"{SYMBOL}:1h:{TYPE}:{RIGHT}", "--gate", str(path),
        "--registry", str(root), "--json", *extra,
    ]  # fmt: skip


def test_a_bars_fifo_is_refused_at_once_and_the_dry_run_does_not_wait(tmp_path: Path) -> None:
    """D19: the gate read the bars twice, so a pipe (which can be read once) hung the dry run.
    The bars are read once, from a regular file: a pipe is refused in one line, without
    waiting for a writer."""
    root = signal_registry(tmp_path / "registry")
    fifo = tmp_path / "bars.csv"
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "atb_prediction", *_promote_command(root, fifo, "--dry-run")]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:  # pragma: no cover - the defect: a read waits forever
        pytest.fail("the gated dry run waited on the bars pipe")
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert "it is not a regular file" in document["error"]["message"]
    assert str(fifo) in done.stderr and done.stderr.count("\n") == 1


def test_a_bars_file_replaced_after_it_was_opened_leaves_the_digest_of_the_bytes_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """D19: another writer replaces the bars file right after the gate first opened it. Any
    second read would see the new file; the journal's digest is that of the bars the gate
    swept (500 of them), as they were when first opened."""
    from atb_prediction.cli import main

    root = signal_registry(tmp_path / "registry")
    path = bars_file(tmp_path / "bars.csv", signal_frame(500))
    parsed = path.read_bytes()
    replacement = bars_file(tmp_path / "other.csv", signal_frame(400, seed=5))
    opened: list[str] = []

    def replace_after_first(opening: Any) -> Any:
        def opens(file: Any, *args: Any, **kwargs: Any) -> Any:
            handle = opening(file, *args, **kwargs)
            if isinstance(file, str | os.PathLike) and Path(file) == path and not opened:
                opened.append(str(file))
                os.replace(replacement, path)  # a new file under the old name
            return handle

        return opens

    monkeypatch.setattr(os, "open", replace_after_first(os.open))
    monkeypatch.setattr(builtins, "open", replace_after_first(builtins.open))
    monkeypatch.setattr(io, "open", replace_after_first(io.open))
    code = main(_promote_command(root, path))
    assert code == 0, capsys.readouterr().err
    assert opened, "the bars file was never opened"
    assert path.read_bytes() != parsed  # it was replaced
    (line,) = (root / SYMBOL / TYPE / promotion.JOURNAL_NAME).read_text().splitlines()
    gate = json.loads(line)["gate"]
    assert gate["series_sha256"] == hashlib.sha256(parsed).hexdigest()
    assert gate["bars"] == 500


def test_a_bars_file_past_the_bound_is_refused_and_the_digest_covers_every_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bars are read once, at most ``MAX_SERIES_BYTES`` of them: a larger file is refused in
    one line; a file within the bound is hashed whole (a CSV is parsed as it streams, and every
    byte streamed is hashed), for each of the formats."""
    from atb_prediction.cli import backtesting, main
    from atb_prediction.cli.backtesting import read_series_file

    root = signal_registry(tmp_path / "registry")
    frame = signal_frame(300)
    files = [bars_file(tmp_path / "bars.csv", frame)]
    files.append(tmp_path / "bars.parquet")
    frame.to_parquet(files[-1])
    files.append(tmp_path / "bars.npy")
    np.save(files[-1], frame.to_numpy())
    for path in files:
        series, digest = read_series_file(str(path))
        assert series.bars == 300
        assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(backtesting, "MAX_SERIES_BYTES", 1 << 10)
    assert main(_promote_command(root, files[0], "--dry-run")) == 1
    err = capsys.readouterr().err
    assert f"cannot read series {files[0]}: it is " in err and "larger than 1,024" in err
