"""Tests of :mod:`atb_prediction.promotion`: atomic switch, lock, journal, history, rollback.

These drive the library directly with ``check=None`` (or a stand-in check), so they need no
registry scan; validation through the scanner is covered by the command-line tests.

One rule has no test, on purpose: the ``fsync`` of the model-type folder after ``latest`` is
renamed. It only matters when the machine loses power between the rename and the kernel writing
the folder back, and no test in a running process can observe whether that write-back was
forced; removing it changes nothing a test can see. It is kept because ``rename`` alone is atomic
but not durable (see the module docstring of :mod:`atb_prediction.promotion`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from atb_prediction import OnnxSession, PredictionError, promotion
from atb_prediction.promotion import (
    LockTimeoutError,
    PromotionRefusedError,
    ValidationFailedError,
    VersionNotFoundError,
)
from cli_helpers import write_small_registry
from hypothesis import given, settings
from hypothesis import strategies as st

V1, V2, V3 = "2025-01-01_1h_v1", "2025-01-02_1h_v1", "2025-01-03_1h_v1"


def promote(root: Path, version: str, **kwargs: object) -> promotion.PromotionResult:
    """Promote BTCUSDT/basic without the scanner-based validation."""
    kwargs.setdefault("check", None)
    return promotion.promote(root, "BTCUSDT", "basic", version, **kwargs)  # type: ignore[arg-type]


def journal_lines(directory: Path) -> list[dict[str, object]]:
    path = directory / promotion.JOURNAL_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


def leftovers(directory: Path) -> list[str]:
    """Temporary files a promotion must never leave behind."""
    return [p.name for p in directory.iterdir() if p.name.startswith(".latest.tmp")]


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    write_small_registry(root, latest=V1)
    return root


def test_promote_swaps_the_symlink_and_journals(registry: Path) -> None:
    directory = registry / "BTCUSDT/basic"
    result = promote(registry, V2, reason="better rmse", user="alice", host="box")

    assert result.changed
    assert os.readlink(directory / "latest") == V2  # relative, so the registry can move
    assert (directory / "latest" / "model.onnx").is_file()
    [line] = journal_lines(directory)
    assert line == {
        "time": line["time"],
        "action": "promote",
        "symbol": "BTCUSDT",
        "model_type": "basic",
        "from": V1,
        "to": V2,
        "user": "alice",
        "host": "box",
        "reason": "better rmse",
        "forced": False,
        "id": line["id"],
    }
    when = datetime.fromisoformat(str(line["time"]))
    assert when.utcoffset() == timezone.utc.utcoffset(None)
    assert abs((datetime.now(timezone.utc) - when).total_seconds()) < 60
    assert leftovers(directory) == []
    assert promotion.current_version(registry, "BTCUSDT", "basic") == V2


def test_default_user_and_host_are_recorded(registry: Path) -> None:
    record = promote(registry, V2).record
    assert record.user and record.host


def test_promoting_production_again_changes_nothing(registry: Path) -> None:
    result = promote(registry, V1)
    assert not result.changed
    assert journal_lines(registry / "BTCUSDT/basic") == []


def test_first_promotion_without_latest_records_no_previous(tmp_path: Path) -> None:
    directory = write_small_registry(tmp_path, latest=None)
    result = promote(tmp_path, V3)
    assert result.record.from_version is None
    assert os.readlink(directory / "latest") == V3


def test_pointer_file_from_git_is_replaced_by_a_symlink(pointer_registry: Path) -> None:
    root = pointer_registry  # each latest a pointer file: what git writes with core.symlinks=false
    latest = root / "BTCUSDT/basic/latest"
    assert not latest.is_symlink()
    assert promotion.current_version(root, "BTCUSDT", "basic") == "2025-10-30_12h_v1"

    result = promotion.promote(root, "BTCUSDT", "basic", "2025-10-26_21h_v1", check=None)

    assert result.record.from_version == "2025-10-30_12h_v1"
    assert latest.is_symlink() and os.readlink(latest) == "2025-10-26_21h_v1"


def test_pointer_file_naming_production_becomes_a_symlink_without_a_journal_line(
    tmp_path: Path,
) -> None:
    directory = write_small_registry(tmp_path, latest=None)
    (directory / "latest").write_text(V2 + "\n")
    result = promote(tmp_path, V2)
    assert not result.changed
    assert os.readlink(directory / "latest") == V2
    assert journal_lines(directory) == []


def test_absolute_symlink_inside_the_folder_reads_as_its_version(registry: Path) -> None:
    directory = registry / "BTCUSDT/basic"
    (directory / "latest").unlink()
    os.symlink(directory.resolve() / V3, directory / "latest")
    assert promotion.current_version(registry, "BTCUSDT", "basic") == V3


@pytest.mark.parametrize("version", ["missing", "2025-01-09_1h_v1"])
def test_refuses_a_version_that_does_not_exist(registry: Path, version: str) -> None:
    with pytest.raises(VersionNotFoundError, match="version not found"):
        promote(registry, version)
    assert os.readlink(registry / "BTCUSDT/basic/latest") == V1


def test_refuses_a_missing_model_type_or_registry(registry: Path, tmp_path: Path) -> None:
    with pytest.raises(VersionNotFoundError, match="model type not found"):
        promotion.promote(registry, "BTCUSDT", "nope", V1, check=None)
    with pytest.raises(VersionNotFoundError, match="registry not found"):
        promotion.promote(tmp_path / "absent", "BTCUSDT", "basic", V1, check=None)


@pytest.mark.parametrize("name", ["..", ".", "latest", ".hidden", "a/b", ""])
def test_refuses_unsafe_names(registry: Path, name: str) -> None:
    # Refused by the name rule itself, not because no such folder exists
    # (VersionNotFoundError is a PromotionRefusedError too).
    with pytest.raises(PromotionRefusedError, match="not a valid registry folder name"):
        promote(registry, name)
    with pytest.raises(PromotionRefusedError, match="not a valid registry folder name"):
        promotion.promote(registry, name, "basic", V1, check=None)


def test_refuses_a_latest_that_is_a_real_directory(registry: Path) -> None:
    directory = registry / "BTCUSDT/basic"
    (directory / "latest").unlink()
    (directory / "latest").mkdir()
    (directory / "latest" / "keep.txt").write_text("operator's files")
    calls = []

    def check(*args: object) -> list[str]:
        calls.append(args)
        return []

    with pytest.raises(PromotionRefusedError) as refused:
        promote(registry, V2, check=check)
    assert str(refused.value) == (
        f"refusing to replace {directory / 'latest'}: it is a real directory, not a symlink to "
        "a version (move it away first)"
    )
    assert calls == []  # refused before any slow validation
    assert (directory / "latest" / "keep.txt").read_text() == "operator's files"
    assert journal_lines(directory) == []


def test_refuses_a_version_failing_validation_unless_forced(registry: Path) -> None:
    directory = registry / "BTCUSDT/basic"

    def check(root: Path, symbol: str, model_type: str, version: str) -> list[str]:
        assert (root, symbol, model_type, version) == (registry, "BTCUSDT", "basic", V2)
        return ["model input 'x' has shape (None, 4, 3) but metadata.json declares 5 features"]

    with pytest.raises(ValidationFailedError, match="fails validation") as caught:
        promote(registry, V2, check=check)
    assert caught.value.problems == [
        "model input 'x' has shape (None, 4, 3) but metadata.json declares 5 features"
    ]
    assert "--force" in str(caught.value)
    assert os.readlink(directory / "latest") == V1
    assert journal_lines(directory) == []

    result = promote(registry, V2, check=check, force=True)
    assert result.record.forced
    assert journal_lines(directory)[-1]["forced"] is True


def test_a_failed_rename_leaves_latest_and_no_temporary(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = registry / "BTCUSDT/basic"

    def failing_replace(source: object, destination: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        promote(registry, V2)
    assert os.readlink(directory / "latest") == V1
    assert leftovers(directory) == []
    assert journal_lines(directory) == []


def test_stale_temporaries_of_a_dead_promotion_are_removed(registry: Path) -> None:
    directory = registry / "BTCUSDT/basic"
    os.symlink(V3, directory / ".latest.tmp-99999-deadbeef")
    promote(registry, V2)
    assert leftovers(directory) == []


def test_lock_timeout_names_the_holder(registry: Path) -> None:
    fcntl = pytest.importorskip("fcntl")
    directory = registry / "BTCUSDT/basic"
    with open(directory / promotion.LOCK_NAME, "w") as holder:
        holder.write("pid 4242 on otherhost\n")
        holder.flush()
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        with pytest.raises(LockTimeoutError, match="pid 4242 on otherhost"):
            promote(registry, V2, lock_timeout=0.2)
    assert os.readlink(directory / "latest") == V1
    promote(registry, V2, lock_timeout=0.2)  # released with the file


def test_a_promotion_failing_inside_the_lock_releases_it(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The switch raises with the lock held: the lock is free afterwards, so the next promotion
    in this process takes it at once instead of timing out."""
    fcntl = pytest.importorskip("fcntl")
    from atb_prediction.promotion import operations

    directory = registry / "BTCUSDT/basic"
    switch = operations.swap_latest

    def failing_switch(directory: Path, version: str) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(operations, "swap_latest", failing_switch)
    with pytest.raises(OSError, match="Input/output error"):
        promote(registry, V2)
    assert os.readlink(directory / "latest") == V1
    # Another open file takes the lock without waiting: nobody holds it any more.
    with open(directory / promotion.LOCK_NAME, "rb") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)

    monkeypatch.setattr(operations, "swap_latest", switch)
    result = promote(registry, V2, lock_timeout=0.5)
    assert result.changed and os.readlink(directory / "latest") == V2
    assert [(line["from"], line["to"]) for line in journal_lines(directory)] == [(V1, V2)]


def test_lock_and_temporary_names_are_dot_files(registry: Path) -> None:
    promote(registry, V2)
    names = {p.name for p in (registry / "BTCUSDT/basic").iterdir()}
    assert names == {V1, V2, V3, "latest", promotion.JOURNAL_NAME, promotion.LOCK_NAME}
    assert promotion.LOCK_NAME.startswith(".")


def test_readers_never_see_latest_missing_while_promoting_200_times(registry: Path) -> None:
    directory = registry / "BTCUSDT/basic"
    expected = {
        hashlib.sha256((directory / v / "model.onnx").read_bytes()).hexdigest() for v in (V1, V2)
    }
    stop = threading.Event()
    failures: list[str] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                target = os.readlink(directory / "latest")
                data = (directory / "latest" / "model.onnx").read_bytes()
                # What a live process does on reload: open the model through `latest`.
                OnnxSession(directory / "latest" / "model.onnx", warmup=False)
            except (OSError, PredictionError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            if target not in (V1, V2) or hashlib.sha256(data).hexdigest() not in expected:
                failures.append(f"unexpected content via {target!r}")
            reads += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for number in range(200):
            promote(registry, V2 if number % 2 == 0 else V1, user="bot", host="h")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert failures == []
    assert reads > 0
    assert len(journal_lines(directory)) == 200
    assert leftovers(directory) == []


def test_concurrent_promoters_do_not_interleave(registry: Path) -> None:
    directory = registry / "BTCUSDT/basic"
    errors: list[BaseException] = []

    def promoter(versions: tuple[str, str]) -> None:
        try:
            for number in range(40):
                promote(registry, versions[number % 2], lock_timeout=30)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=promoter, args=(pair,)) for pair in ((V2, V3), (V3, V1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert errors == []
    lines = journal_lines(directory)
    # Each switch starts from where the previous one ended: no read-swap-journal interleaving.
    previous = V1
    for line in lines:
        assert line["from"] == previous
        assert line["to"] != previous
        previous = str(line["to"])
    assert previous == os.readlink(directory / "latest")


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from atb_prediction import OnnxSession, PredictionError, promotion

    root, step, version = sys.argv[1:4]

    def die(reached: str) -> None:
        if reached == step:
            os.kill(os.getpid(), signal.SIGKILL)

    promotion._steps.reached = die
    promotion.promote(root, "BTCUSDT", "basic", version, check=None)
    print("not killed")
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.parametrize(
    ("step", "survivor"),
    [
        ("locked", V1),
        ("intent", V1),
        ("temporary", V1),
        ("replaced", V2),
        ("synced", V2),
        ("journaled", V2),
        ("completed", V2),
    ],
)
def test_a_promotion_killed_between_steps_leaves_a_valid_latest_and_a_complete_history(
    registry: Path, step: str, survivor: str
) -> None:
    directory = registry / "BTCUSDT/basic"
    completed = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(registry), step, V2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == -signal.SIGKILL, completed.stderr

    assert os.readlink(directory / "latest") == survivor
    assert (directory / "latest" / "model.onnx").is_file()
    assert (directory / "latest" / "metadata.json").is_file()
    # Write-ahead journal: every switch that happened is in the history, killed or not.
    switched = survivor == V2
    records = promotion.history(registry, "BTCUSDT", "basic")
    assert [(r.from_version, r.to_version) for r in records] == ([(V1, V2)] if switched else [])
    assert [r.to_version for r in records] == [r.to_version for r in records if r.id]

    # The lock died with the process, and the next promotion cleans up after it, journaling
    # the killed switch for good.
    result = promote(registry, V3, lock_timeout=5)
    assert result.record.from_version == survivor
    assert os.readlink(directory / "latest") == V3
    assert leftovers(directory) == []
    assert not (directory / promotion.INTENT_NAME).exists()
    chain = [(line["from"], line["to"]) for line in journal_lines(directory)]
    assert chain == ([(V1, V2), (V2, V3)] if switched else [(V1, V3)])


def test_history_round_trips_and_rollback_walks_back(registry: Path) -> None:
    for version in (V2, V3):
        promote(registry, version, reason=f"to {version}")
    records = promotion.history(registry, "BTCUSDT", "basic")
    assert [(r.from_version, r.to_version, r.action) for r in records] == [
        (V1, V2, "promote"),
        (V2, V3, "promote"),
    ]
    assert records[0] == promotion.PromotionRecord.from_json(records[0].to_json())

    assert promotion.rollback_target(registry, "BTCUSDT", "basic") == V2
    first = promotion.rollback(registry, "BTCUSDT", "basic", check=None, reason="bad fills")
    assert (first.record.action, first.record.from_version, first.record.to_version) == (
        "rollback",
        V3,
        V2,
    )
    assert first.record.reason == "bad fills"
    # A second rollback goes further back instead of toggling to V3 again.
    second = promotion.rollback(registry, "BTCUSDT", "basic", check=None)
    assert second.record.to_version == V1
    with pytest.raises(PromotionRefusedError, match="nothing to roll back to"):
        promotion.rollback(registry, "BTCUSDT", "basic", check=None)
    assert os.readlink(registry / "BTCUSDT/basic/latest") == V1
    assert [r.action for r in promotion.history(registry, "BTCUSDT", "basic")] == [
        "promote",
        "promote",
        "rollback",
        "rollback",
    ]


def test_rollback_after_a_promotion_following_a_rollback(registry: Path) -> None:
    promote(registry, V2)
    promote(registry, V3)
    promotion.rollback(registry, "BTCUSDT", "basic", check=None)  # V3 -> V2
    promote(registry, V3)  # V2 -> V3 again
    assert promotion.rollback_target(registry, "BTCUSDT", "basic") == V2


def test_rollback_when_latest_was_changed_by_hand(registry: Path) -> None:
    directory = registry / "BTCUSDT/basic"
    promote(registry, V2)
    (directory / "latest").unlink()
    os.symlink(V3, directory / "latest")  # someone bypassed atb
    assert promotion.rollback_target(registry, "BTCUSDT", "basic") == V2


def test_rollback_with_an_empty_journal_is_refused(registry: Path) -> None:
    with pytest.raises(PromotionRefusedError, match="nothing to roll back to"):
        promotion.rollback(registry, "BTCUSDT", "basic", check=None)


def test_rollback_validates_its_target(registry: Path) -> None:
    promote(registry, V2)
    with pytest.raises(ValidationFailedError):
        promotion.rollback(registry, "BTCUSDT", "basic", check=lambda *a: ["broken"])
    assert os.readlink(registry / "BTCUSDT/basic/latest") == V2


def test_history_skips_a_line_cut_by_a_crash_and_appends_after_it(
    registry: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = registry / "BTCUSDT/basic"
    promote(registry, V2)
    with open(directory / promotion.JOURNAL_NAME, "a", encoding="utf-8") as journal:
        journal.write('{"time": "2025-')  # a writer died mid-line
    promote(registry, V3)

    records = promotion.history(registry, "BTCUSDT", "basic")
    assert [r.to_version for r in records] == [V2, V3]
    assert "line 2 skipped" in caplog.text


def test_history_of_a_model_never_promoted_is_empty(registry: Path) -> None:
    assert promotion.history(registry, "BTCUSDT", "basic") == []


@pytest.mark.parametrize(
    "data",
    [[], {"time": "t", "to": 3}, {"time": "t", "to": "v", "action": "delete"}, {"to": "v"}],
)
def test_malformed_journal_records_are_rejected(data: object) -> None:
    with pytest.raises(ValueError):
        promotion.PromotionRecord.from_json(data)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from([V1, V2, V3]), st.just("rollback")), min_size=1, max_size=12)
)
def test_promotions_and_rollbacks_follow_an_undo_stack(operations: list[str]) -> None:
    """Against a reference model: promote pushes the replaced version, rollback pops it."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_small_registry(root, latest=V1)
        current, stack = V1, list[str]()
        for operation in operations:
            if operation != "rollback":
                result = promote(root, operation)
                assert result.changed == (operation != current)
                if operation != current:
                    stack.append(current)
                    current = operation
            elif stack:
                result = promotion.rollback(root, "BTCUSDT", "basic", check=None)
                assert result.record.to_version == stack[-1]
                current = stack.pop()
            else:
                with pytest.raises(PromotionRefusedError, match="nothing to roll back to"):
                    promotion.rollback(root, "BTCUSDT", "basic", check=None)
            assert promotion.current_version(root, "BTCUSDT", "basic") == current


# --- confined writes and a robust journal ---------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
@pytest.mark.parametrize("name", [promotion.LOCK_NAME, promotion.JOURNAL_NAME])
def test_a_planted_symlink_is_refused_and_its_target_untouched(
    registry: Path, tmp_path: Path, name: str
) -> None:
    directory = registry / "BTCUSDT/basic"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.symlink(victim, directory / name)
    with pytest.raises(PromotionRefusedError, match="symlink"):
        promote(registry, V2)
    assert victim.read_text() == "precious\n"
    assert os.readlink(directory / "latest") == V1
    if name == promotion.JOURNAL_NAME:
        with pytest.raises(PromotionRefusedError, match="symlink"):
            promotion.history(registry, "BTCUSDT", "basic")


@pytest.mark.skipif(sys.platform == "win32", reason="FIFO")
def test_a_planted_fifo_lock_is_refused_without_blocking(registry: Path) -> None:
    os.mkfifo(registry / "BTCUSDT/basic" / promotion.LOCK_NAME)
    with pytest.raises(PromotionRefusedError, match="not a regular file"):
        promote(registry, V2)


def test_history_skips_deep_long_and_odd_lines_with_one_warning(
    registry: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = registry / "BTCUSDT/basic"
    promote(registry, V2)
    with open(directory / promotion.JOURNAL_NAME, "a", encoding="utf-8") as journal:
        journal.write("[" * 100_000 + "]" * 100_000 + "\n")
        journal.write('{"to": "' + "x" * 100_000 + '"}\n')
        journal.write('{"a": NaN}\n')
    with open(directory / promotion.JOURNAL_NAME, "ab") as raw:
        raw.write(b"\xff\xfe \x00 garbage\n")
    promote(registry, V3)
    with caplog.at_level("WARNING"):
        records = promotion.history(registry, "BTCUSDT", "basic")
    assert [r.to_version for r in records] == [V2, V3]
    warnings = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warnings) == 1
    assert "and 3 more" in warnings[0].getMessage()
    assert promotion.rollback_target(registry, "BTCUSDT", "basic") == V2


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_no_journal_line_makes_the_parser_raise_anything_but_value_error(line: str) -> None:
    from atb_prediction.promotion.journal import parse_line

    try:
        record = parse_line(line)
    except ValueError:
        return
    assert isinstance(record, promotion.PromotionRecord)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFO")
def test_a_fifo_latest_is_refused_without_blocking(registry: Path) -> None:
    directory = registry / "BTCUSDT/basic"
    (directory / "latest").unlink()
    os.mkfifo(directory / "latest")
    with pytest.raises(PromotionRefusedError, match="neither a symlink nor a pointer file"):
        promote(registry, V2)


def test_refusals_name_which_part_of_the_key_is_wrong(registry: Path) -> None:
    cases = [
        (".hidden", "basic", "symbol '.hidden' is not a valid registry folder name"),
        ("BTCUSDT", ".hidden", "model type '.hidden' is not a valid registry folder name"),
        ("ETHUSDT", "basic", f"symbol not found: {registry / 'ETHUSDT'} is not a directory"),
        (
            "BTCUSDT",
            "nope",
            f"model type not found: {registry / 'BTCUSDT/nope'} is not a directory",
        ),
    ]
    for symbol, model_type, message in cases:
        with pytest.raises(PromotionRefusedError) as raised:
            promotion.history(registry, symbol, model_type)
        assert str(raised.value) == message
        with pytest.raises(PromotionRefusedError) as raised:
            promotion.promote(registry, symbol, model_type, V2, check=None)
        assert str(raised.value) == message
    with pytest.raises(PromotionRefusedError) as raised:
        promote(registry, ".hidden")
    assert str(raised.value) == "version '.hidden' is not a valid registry folder name"


def test_a_write_failing_before_the_temporary_exists_raises_its_own_error(tmp_path: Path) -> None:
    """The clean-up of a failed switch must not hide why it failed (the temporary it would
    remove was never made)."""
    from atb_prediction.promotion.files import replace_atomically

    destination = tmp_path / "latest"
    destination.write_text("old")

    def write(path: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError) as raised:
        replace_atomically(tmp_path / ".latest.tmp-1", destination, write)
    assert raised.value.errno == 28 and raised.value.__context__ is None
    assert destination.read_text() == "old"


def test_the_validation_refusal_lists_every_problem(registry: Path) -> None:
    def check(root: Path, symbol: str, model_type: str, version: str) -> list[str]:
        return ["first problem", "second problem"]

    with pytest.raises(ValidationFailedError) as caught:
        promote(registry, V2, check=check)
    assert str(caught.value) == (
        f"refusing to promote BTCUSDT/basic/{V2}: it fails validation: first problem; second "
        "problem (use --force to promote anyway)"
    )


def test_the_lock_file_names_the_last_holder_and_its_host(registry: Path) -> None:
    promote(registry, V2, host="box")
    lock = registry / "BTCUSDT/basic" / promotion.LOCK_NAME
    assert lock.read_text() == f"pid {os.getpid()} on box\n"


def test_promoting_production_again_returns_the_record_it_would_have_written(
    registry: Path,
) -> None:
    result = promote(registry, V1, reason="again", user="ana", host="box")
    assert not result.changed
    record = result.record
    assert (record.action, record.from_version, record.to_version) == ("promote", V1, V1)
    assert (record.reason, record.user, record.host) == ("again", "ana", "box")


def test_promote_seals_the_new_production_version_by_default(registry: Path) -> None:
    directory = registry / "BTCUSDT/basic"
    assert not (directory / V2 / "manifest.json").exists()
    promote(registry, V2)
    sealed = json.loads((directory / V2 / "manifest.json").read_text("utf-8"))
    assert set(sealed["files"]) == {"metadata.json", "model.onnx"}


def test_rollback_refuses_when_production_changed_after_it_chose_its_target(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race guard: another promotion lands between choosing the target and taking the lock."""
    promotion.promote(registry, "BTCUSDT", "basic", V2, check=None)
    choose = promotion.rollback_target

    def target_then_someone_promotes(*args: object) -> str:
        target = choose(*args)  # type: ignore[arg-type]
        promotion.promote(registry, "BTCUSDT", "basic", V3, check=None)
        return target

    from atb_prediction.promotion import operations

    monkeypatch.setattr(operations, "rollback_target", target_then_someone_promotes)
    with pytest.raises(PromotionRefusedError, match="changed while the rollback was prepared"):
        promotion.rollback(registry, "BTCUSDT", "basic", check=None)
    assert promotion.current_version(registry, "BTCUSDT", "basic") == V3


def test_a_version_resolving_outside_the_root_is_refused(registry: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "2025-02-01_1h_v1"
    shutil.copytree(registry / "BTCUSDT/basic" / V2, outside)
    (registry / "BTCUSDT/basic/escape").symlink_to(outside)
    # The scan's own reason: the scan refuses the folder for the same one.
    with pytest.raises(PromotionRefusedError, match="symlink leaves the registry") as raised:
        promotion.promote(registry, "BTCUSDT", "basic", "escape", check=None)
    assert not isinstance(raised.value, VersionNotFoundError)
    assert promotion.current_version(registry, "BTCUSDT", "basic") == V1


def test_a_hidden_version_is_refused_by_name_even_when_it_exists(registry: Path) -> None:
    shutil.copytree(registry / "BTCUSDT/basic" / V2, registry / "BTCUSDT/basic/.hidden")
    with pytest.raises(PromotionRefusedError, match="not a valid registry folder name") as raised:
        promotion.promote(registry, "BTCUSDT", "basic", ".hidden", check=None)
    assert not isinstance(raised.value, VersionNotFoundError)
