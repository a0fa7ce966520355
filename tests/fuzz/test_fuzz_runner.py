"""The fuzzer's loop: children under a memory limit, how a crash, a hang and a finding are told
apart and saved, and that it runs from an installed copy of the package, outside the checkout.

Scripted children (small Python programs speaking the child's protocol) stand in for the real
one where a test needs a crash on demand: the real child must not crash.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import atb_prediction
import pytest
from atb_prediction._fuzz import runner
from atb_prediction._fuzz.__main__ import _gib
from atb_prediction._fuzz.cases import MODEL_FILES, build_case
from atb_prediction._fuzz.runner import _Cases, _Child, fuzz, known_findings, replay, signature

GIB = 1 << 30


def scripted_child(body: str) -> list[str]:
    """A child that runs ``body`` for each registry path it reads (as ``root``), then answers
    ok."""
    script = textwrap.dedent(
        """
        import mmap, os, pathlib, sys, time
        for line in sys.stdin:
            root = pathlib.Path(line.strip())
        {body}
            print('{{"outcome": "ok", "detail": null}}', flush=True)
        """
    ).format(body=textwrap.indent(textwrap.dedent(body), "    "))
    return [sys.executable, "-c", script]


# What Rust's allocator does when an allocation fails: print and abort.
ALLOCATE_2_GIB = """
    try:
        mmap.mmap(-1, 2 << 30)
    except OSError:
        sys.stderr.write("memory allocation of 2147483648 bytes failed\\n")
        sys.stderr.flush()
        os.abort()
"""


def test_a_child_that_allocates_past_the_limit_is_a_crash(tmp_path: Path) -> None:
    child = _Child(tmp_path / "log", GIB, scripted_child(ALLOCATE_2_GIB))
    try:
        outcome, detail = child.run(tmp_path, timeout=60)
    finally:
        child.close()
    assert outcome == "crash"
    assert detail == "killed by SIGABRT\nmemory allocation of 2147483648 bytes failed\n"


def test_without_the_limit_the_same_allocation_passes(tmp_path: Path) -> None:
    """Overcommit hides it: what the limit is for."""
    child = _Child(tmp_path / "log", None, scripted_child(ALLOCATE_2_GIB))
    try:
        assert child.run(tmp_path, timeout=60) == ("ok", None)
    finally:
        child.close()


def test_a_child_that_does_not_answer_is_a_hang_and_is_killed(tmp_path: Path) -> None:
    child = _Child(tmp_path / "log", GIB, scripted_child("time.sleep(600)"))
    try:
        assert child.run(tmp_path, timeout=0.5) == ("hang", "no answer within 0.5s")
        assert child.process is not None and child.process.returncode is not None
    finally:
        child.close()


def test_a_crashed_child_is_restarted_and_its_log_holds_one_case(tmp_path: Path) -> None:
    body = """
    print(f"case {root.name}", file=sys.stderr, flush=True)
    if root.name == "boom":
        sys.exit(3)
    """
    child = _Child(tmp_path / "log", GIB, scripted_child(body))
    try:
        assert child.run(tmp_path / "one", timeout=60) == ("ok", None)
        assert child.run(tmp_path / "boom", timeout=60) == ("crash", "exit status 3\ncase boom\n")
        assert child.run(tmp_path / "two", timeout=60) == ("ok", None)
    finally:
        child.close()


def test_a_long_crash_output_keeps_its_beginning_and_its_end(tmp_path: Path) -> None:
    body = """
    sys.stderr.write("first line\\n" + "x" * 5000 + "\\nlast line\\n")
    sys.stderr.flush()
    os.abort()
    """
    child = _Child(tmp_path / "log", GIB, scripted_child(body))
    try:
        outcome, detail = child.run(tmp_path, timeout=60)
    finally:
        child.close()
    assert outcome == "crash" and detail is not None
    assert detail.startswith("killed by SIGABRT\nfirst line\nxxx")
    assert detail.endswith("xxx\nlast line\n")
    assert "\n[...]\n" in detail and len(detail) < 3100


def test_the_real_child_answers_under_the_default_limit(tmp_path: Path) -> None:
    # No model opens: the case exercises the scan, the registry and validation only.
    root = build_case(tmp_path / "case", [{"file": name, "kind": "empty"} for name in MODEL_FILES])
    child = _Child(tmp_path / "log", runner.DEFAULT_MEMORY_LIMIT)
    try:
        assert child.run(root, timeout=120) == ("ok", None)
    finally:
        child.close()


# --- telling findings apart -------------------------------------------------------------------

ABORT = """killed by SIGABRT
memory allocation of {size} bytes failed
Fatal Python error: Aborted

Current thread 0x00007f (most recent call first):
  File "/x/atb_prediction/_fuzz/driver.py", line {line} in _predict
  File "/x/atb_prediction/_fuzz/driver.py", line 60 in _drive
"""

PANIC = """Traceback (most recent call last):
  File "/x/atb_prediction/_fuzz/driver.py", line 40, in drive
    _drive(root)
  File "/x/atb_prediction/models/validation.py", line 205, in validate_version
    outputs = session.run(feed)
pyo3_runtime.PanicException: PyObject pointer is null
"""


def test_a_crash_is_known_by_its_message_and_innermost_frame() -> None:
    first = signature("crash", ABORT.format(size=8589934588, line=67))
    assert first == (
        "crash: killed by SIGABRT memory allocation of N bytes failed @ driver.py in _predict"
    )
    # Another size, another line of the same function (an edit), another machine.
    assert signature("crash", ABORT.format(size=17179869176, line=69)) == first
    assert signature("crash", ABORT.format(size=1, line=67).replace("/x/", "/y/z/")) == first
    assert signature("crash", ABORT.format(size=1, line=67).replace("_predict", "_run")) != first
    assert signature("crash", PANIC) == (
        "crash: pyo3_runtime.PanicException: PyObject pointer is null @ "
        "validation.py in validate_version"
    )
    assert signature("hang", "no answer within 60s") == "hang: no answer within Ns @ "


def test_a_crash_is_known_by_its_last_words_among_what_else_it_logged() -> None:
    logged = ABORT.format(size=48000000000, line=67).replace(
        "killed by SIGABRT\n", "killed by SIGABRT\n[E:onnxruntime:, Gemm 12] has shape {0,1}\n"
    )
    assert signature("crash", logged) == signature("crash", ABORT.format(size=1, line=1))
    segfault = "killed by SIGSEGV\nnoise\nFatal Python error: Segmentation fault\n"
    segfault += '  File "a.py", line 9 in f'
    assert signature("crash", segfault) == (
        "crash: killed by SIGSEGV Fatal Python error: Segmentation fault @ a.py in f"
    )
    panic = "killed by SIGABRT\nthread '<unnamed>' panicked at src/core/x.rs:12:5:\nboom"
    assert signature("crash", panic) == (
        "crash: killed by SIGABRT thread '<unnamed>' panicked at src/core/x.rs:N:N: @ "
    )
    assert signature("crash", "exit status 3\nsomething else\n") == "crash: exit status N @ "


def test_an_exception_is_known_by_its_last_line_and_innermost_frame() -> None:
    detail = (
        'Traceback (most recent call last):\n  File "/a/b.py", line 3, in f\n'
        "KeyError: '<work>/case/registry/BTCUSDT/basic/v1/metadata.json' 12\n"
    )
    assert signature("exception", detail) == (
        "exception: KeyError: '<work>/case/registry/BTCUSDT/basic/v1/metadata.json' N @ b.py in f"
    )


def test_a_finding_names_the_work_folder_and_package_files_portably(tmp_path: Path) -> None:
    package_file = runner._PACKAGE_PARENT + "atb_prediction/_fuzz/driver.py"
    body = f"""
    sys.stderr.write(f"{{root}}/metrics.json\\n{package_file}\\n")
    sys.stderr.flush()
    os.abort()
    """
    child = _Child(tmp_path / "log", GIB, scripted_child(body))
    try:
        found = _Cases(tmp_path / "work", child).run([])
    finally:
        child.close()
    assert found == (
        "crash",
        "killed by SIGABRT\n<work>/case/registry/metrics.json\natb_prediction/_fuzz/driver.py\n",
    )


# --- reducing and saving ----------------------------------------------------------------------

CRASH_ON_EMPTY_METRICS = """
    metrics = root / "ETHUSDT/basic/2025-01-01_1h_v1/metrics.json"
    if metrics.read_bytes() == b"":
        sys.stderr.write("empty metrics\\n")
        sys.stderr.flush()
        os.abort()
"""


def test_a_finding_is_reduced_to_the_mutations_that_give_it(tmp_path: Path) -> None:
    trigger = {"file": "ETHUSDT/basic/2025-01-01_1h_v1/metrics.json", "kind": "empty"}
    others = [
        {"file": "BTCUSDT/basic/2025-01-01_1h_v1/metrics.json", "kind": "empty"},
        {"file": MODEL_FILES[0], "kind": "onnx_drop_init", "index": 0},
    ]
    child = _Child(tmp_path / "log", GIB, scripted_child(CRASH_ON_EMPTY_METRICS))
    try:
        cases = _Cases(tmp_path, child)
        found = signature(*cases.run([others[0], trigger, others[1]]))
        assert found == "crash: killed by SIGABRT @ "
        assert cases.reduce([others[0], trigger, others[1]], found) == [trigger]
        assert cases.reduce([trigger, *others], found) == [trigger]
    finally:
        child.close()


def test_each_distinct_finding_is_saved_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child that crashes on everything: one finding, reduced to no mutation at all (the base
    registry gives it), saved once however often it recurs."""
    monkeypatch.setattr(runner, "_CHILD", scripted_child("os.abort()"))
    out = tmp_path / "out.txt"
    with out.open("w") as stream:
        summary = fuzz(60, 1, tmp_path / "cases", stream, max_runs=4)
    assert (summary.executions, summary.crashes, summary.hangs, summary.exceptions) == (4, 4, 0, 0)
    assert (summary.known, summary.findings) == (0, 4)
    (saved,) = summary.saved
    assert sorted((tmp_path / "cases").iterdir()) == [Path(saved)]
    record = json.loads(Path(saved).read_text())
    assert record == {"outcome": "crash", "detail": "killed by SIGABRT\n", "mutations": []}
    assert out.read_text() == f"crash: saved {saved}\nkilled by SIGABRT\n\n"


def test_known_findings_are_the_signatures_of_the_cases_in_a_folder(tmp_path: Path) -> None:
    assert known_findings(tmp_path / "missing") == {}
    for name, detail in [("b", PANIC), ("a", ABORT.format(size=4, line=1))]:
        record = {"outcome": "crash", "detail": detail, "mutations": []}
        (tmp_path / f"case-{name}.json").write_text(json.dumps(record))
    (tmp_path / "README.md").write_text("not a case")
    assert known_findings(tmp_path) == {
        signature("crash", ABORT.format(size=4, line=1)): str(tmp_path / "case-a.json"),
        signature("crash", PANIC): str(tmp_path / "case-b.json"),
    }


def test_a_known_finding_is_reported_once_and_neither_saved_nor_counted_as_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "_CHILD", scripted_child("os.abort()"))
    known = {"crash: killed by SIGABRT @ ": "pending/case-x.json"}
    out = tmp_path / "out.txt"
    with out.open("w") as stream:
        summary = fuzz(60, 1, tmp_path / "cases", stream, max_runs=3, known=known)
    assert (summary.executions, summary.crashes, summary.known, summary.findings) == (3, 3, 3, 0)
    assert summary.saved == [] and not (tmp_path / "cases").exists()
    assert out.read_text() == "known: crash: killed by SIGABRT @ \n  (as pending/case-x.json)\n"


# --- the memory limit itself ------------------------------------------------------------------


def test_a_replay_runs_the_case_in_a_child_under_the_memory_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"mutations": [{"file": MODEL_FILES[0], "kind": "empty"}]}))
    monkeypatch.setattr(runner, "_CHILD", scripted_child(ALLOCATE_2_GIB))
    assert replay(case, GIB) == (
        "crash",
        "killed by SIGABRT\nmemory allocation of 2147483648 bytes failed\n",
    )
    assert replay(case, None) is None


def test_replay_from_the_command_line(tmp_path: Path) -> None:
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"mutations": [{"file": n, "kind": "empty"} for n in MODEL_FILES]}))
    completed = subprocess.run(
        [sys.executable, "-m", "atb_prediction._fuzz", "--replay", str(case)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (completed.returncode, completed.stderr) == (0, "")


def test_limit_memory_sets_both_limits_in_the_process_that_calls_it() -> None:
    program = "\n".join(
        [
            "import resource",
            "from atb_prediction._fuzz.runner import limit_memory",
            "before = resource.getrlimit(resource.RLIMIT_AS)",
            "limit_memory(None)",
            "assert resource.getrlimit(resource.RLIMIT_AS) == before",
            f"limit_memory({5 * GIB})",
            "print(resource.getrlimit(resource.RLIMIT_AS))",
        ]
    )
    completed = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert completed.stdout == f"({5 * GIB}, {5 * GIB})\n"


def test_the_memory_limit_option_is_in_gib_and_zero_means_none() -> None:
    import argparse

    assert runner.DEFAULT_MEMORY_LIMIT == 4 * GIB
    assert _gib("6") == 6 * GIB
    assert _gib("0.5") == GIB // 2
    assert _gib("0") is None
    with pytest.raises(argparse.ArgumentTypeError, match="-1: a size in GiB, or 0 for no limit"):
        _gib("-1")


# --- from an installed package ----------------------------------------------------------------


def test_the_fuzzer_runs_from_a_copy_of_the_package_outside_the_checkout(tmp_path: Path) -> None:
    """As from a wheel: the package alone, nothing of the checkout (no ``scripts/``) near it."""
    site = tmp_path / "site"
    shutil.copytree(
        Path(atb_prediction.__file__).parent,
        site / "atb_prediction",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import atb_prediction; print(atb_prediction.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout == f"{site / 'atb_prediction' / '__init__.py'}\n"
    assert not any((parent / "scripts").exists() for parent in site.parents)
    completed = subprocess.run(
        [
            *(sys.executable, "-m", "atb_prediction._fuzz", "--seconds", "120"),
            *("--max-runs", "3", "--seed", "7", "--cases", "found", "--known", "none"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # It ran its cases (what they find is the fuzzer's business, not this test's).
    assert "Traceback" not in completed.stderr, completed.stderr[-3000:]
    last = completed.stdout.splitlines()[-1]
    assert last.startswith("fuzz: seed 7, 3 executions in "), completed.stdout[-3000:]
    new = int(re.search(r"(\d+) new distinct", last).group(1))  # type: ignore[union-attr]
    assert completed.returncode == (0 if new == 0 else 1), last
