"""The fuzzing loop: generate cases, run them in a restartable child under a memory limit, save
crashes, hangs and unexpected exceptions (each distinct one once, with its mutations reduced).

Findings that match a known case (one saved in the ``pending`` folder, a bug being fixed) are
reported as known and do not fail the run: a short run finds the same few crashes every time
until the fix lands, and would otherwise hide a new one behind them."""

from __future__ import annotations

import faulthandler
import hashlib
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from atb_prediction._fuzz.cases import Mutation, build_base, build_case, random_mutation

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "Summary",
    "child_main",
    "fuzz",
    "known_findings",
    "limit_memory",
    "replay",
    "signature",
]

HANG_SECONDS = 60.0
"""A case running longer than this is a hang (each takes well under a second)."""

DEFAULT_MEMORY_LIMIT = 4 << 30
"""``RLIMIT_AS`` of each child, in bytes: far above what a case needs, far below what a model
declaring a batch of 2**31 - 1 would take, so an allocation sized by a model fails for real
instead of being hidden by overcommit."""

_CHILD = [sys.executable, "-m", "atb_prediction._fuzz", "--child"]
"""How a child starts (the tests start scripted ones that crash on demand)."""
_KEPT = 1500
"""Characters kept of each end of a crashed child's output (a Rust backtrace runs long)."""
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2]) + os.sep
"""The folder holding ``atb_prediction/`` (a checkout's ``python/``, or site-packages)."""
_LAST_WORDS = re.compile(
    r"memory allocation of \d+ bytes failed|panicked at|fatal runtime error|Fatal Python error"
)
"""What a dying process says, among whatever else it logged (ONNX Runtime logs errors)."""
_DIED = ("killed by", "exit status")
"""How the detail of a child that died begins."""


@dataclass
class Summary:
    """What a fuzzing run did: how many cases ran, and gave each kind of finding."""

    executions: int = 0
    crashes: int = 0
    hangs: int = 0
    exceptions: int = 0
    known: int = 0
    """Of the cases above, those whose finding is a known case's."""
    saved: list[str] = field(default_factory=list)
    """One case per new distinct finding."""

    @property
    def findings(self) -> int:
        """Cases with a finding that is not known."""
        return self.crashes + self.hangs + self.exceptions - self.known


def limit_memory(limit: int | None) -> None:
    """Cap this process's address space at ``limit`` bytes (no cap for None)."""
    if limit is not None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def child_main() -> int:
    """The child: read one registry path per line on stdin, answer one JSON line per case."""
    from atb_prediction._fuzz.driver import drive

    # A crash prints the Python stack that led to it into the log the parent reads.
    faulthandler.enable()
    # The protocol keeps the real stdout; anything the library prints goes to stderr instead.
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    for line in sys.stdin:
        finding = drive(Path(line.strip()))
        outcome, detail = finding if finding else ("ok", None)
        protocol.write(json.dumps({"outcome": outcome, "detail": detail}) + "\n")
    return 0


class _Child:
    """One child process under the memory limit; restarted after a crash or a hang."""

    def __init__(
        self, log: Path, memory_limit: int | None, command: Sequence[str] | None = None
    ) -> None:
        self.log = log
        self.memory_limit = memory_limit
        self.command = list(_CHILD if command is None else command)
        self.process: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self.process is None or self.process.poll() is not None:
            limit = self.memory_limit
            # Appended to, so that truncating it between cases leaves only the case's output.
            with open(self.log, "a") as stderr:
                self.process = subprocess.Popen(
                    self.command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                    bufsize=1,
                    # Set in the child before it runs anything: it holds from the first byte.
                    preexec_fn=lambda: limit_memory(limit),
                )
        return self.process

    def run(self, root: Path, timeout: float) -> tuple[str, str | None]:
        """``("ok" | "exception" | "crash" | "hang", detail)`` for one registry."""
        process = self._start()
        assert process.stdin is not None and process.stdout is not None
        os.truncate(self.log, 0)
        try:
            process.stdin.write(f"{root}\n")
            process.stdin.flush()
        except BrokenPipeError:
            return self._died(process)
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        if not ready:
            process.kill()
            _reap(process)
            return "hang", f"no answer within {timeout:g}s"
        line = process.stdout.readline()
        if not line:
            return self._died(process)
        answer = json.loads(line)
        return answer["outcome"], answer["detail"]

    def _died(self, process: subprocess.Popen[str]) -> tuple[str, str]:
        code = _reap(process)
        how = f"{_DIED[0]} {signal.Signals(-code).name}" if code < 0 else f"{_DIED[1]} {code}"
        output = self.log.read_text(errors="replace") if self.log.exists() else ""
        if len(output) > 2 * _KEPT:  # the first line says what happened, the end where
            output = f"{output[:_KEPT]}\n[...]\n{output[-_KEPT:]}"
        return "crash", f"{how}\n{output}"

    def close(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            assert process.stdin is not None
            with suppress(BrokenPipeError):
                process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if process is not None:
            _reap(process)


def _reap(process: subprocess.Popen[str]) -> int:
    """Wait for a child that ended or was killed, and close its pipes; its exit status."""
    code = process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            with suppress(BrokenPipeError):
                pipe.close()
    return code


def signature(outcome: str, detail: str | None) -> str:
    """What tells one finding from another: for a child that died, how, what it said as it
    died (an allocation failure, a panic, else Python's fatal error) and the innermost frame of
    the stack faulthandler printed; for a traceback, its last line and innermost frame. Numbers
    in the message are stripped: the same bug at another size is the same finding."""
    lines = [line.strip() for line in (detail or "").splitlines() if line.strip()]
    frames = [line for line in lines if line.startswith("File ")]
    if lines and lines[0].startswith(_DIED):  # faulthandler prints the innermost frame first
        last_words = [line for line in lines[1:] if _LAST_WORDS.search(line)]
        message = " ".join(lines[:1] + last_words[:1])
        frame = frames[0] if frames else ""
    else:  # a traceback prints it last
        message, frame = lines[-1] if lines else "", frames[-1] if frames else ""
    message = re.sub(r"(?<![A-Za-z_])\d+", "N", message)  # not the 3 of pyo3_runtime
    # File and function, not folder and line: the same on every machine and after an edit.
    frame = re.sub(r'File "(?:[^"]*/)?([^"/]*)", line \d+,? in (\S+)', r"\1 in \2", frame)
    return f"{outcome}: {message} @ {frame}"


def known_findings(folder: Path) -> dict[str, str]:
    """The signature of each case saved in ``folder`` (none if it does not exist), to the case."""
    known: dict[str, str] = {}
    for case in sorted(folder.glob("*.json")):
        record = json.loads(case.read_text())
        known.setdefault(signature(record["outcome"], record["detail"]), str(case))
    return known


def _save(cases: Path, mutations: list[Mutation], outcome: str, detail: str | None) -> str:
    text = json.dumps(mutations, sort_keys=True)
    name = f"case-{hashlib.sha1(text.encode()).hexdigest()[:12]}.json"
    cases.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"outcome": outcome, "detail": detail, "mutations": mutations}
    (cases / name).write_text(json.dumps(record, indent=1) + "\n")
    return str(cases / name)


class _Cases:
    """Builds each case afresh from one base registry in a work folder, and runs it; the
    detail of a finding names the work folder ``<work>`` and files of the package from the
    folder holding it, so a saved case reads the same from any machine."""

    def __init__(self, work: Path, child: _Child) -> None:
        self.work = work
        self.child = child
        self.base = work / "base"
        build_base(self.base)

    def run(self, mutations: list[Mutation]) -> tuple[str, str | None]:
        folder = self.work / "case"
        shutil.rmtree(folder, ignore_errors=True)
        outcome, detail = self.child.run(build_case(folder, mutations, self.base), HANG_SECONDS)
        if detail is not None:
            detail = detail.replace(str(self.work), "<work>").replace(_PACKAGE_PARENT, "")
        return outcome, detail

    def reduce(self, mutations: list[Mutation], found: str) -> list[Mutation]:
        """The fewest of ``mutations`` (dropping one at a time) that still give ``found``: none
        when the base registry gives it."""
        at = 0
        while at < len(mutations):
            fewer = mutations[:at] + mutations[at + 1 :]
            if signature(*self.run(fewer)) == found:
                mutations = fewer
            else:
                at += 1
        return mutations


def fuzz(
    seconds: float,
    seed: int,
    cases: Path,
    out: IO[str],
    *,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
    max_runs: int | None = None,
    known: Mapping[str, str] | None = None,
) -> Summary:
    """Fuzz for ``seconds`` (or ``max_runs`` cases, if fewer); save each distinct finding
    under ``cases``, its mutations reduced to those that still give it, unless ``known`` (from
    :func:`known_findings`) has it."""
    rng = random.Random(seed)
    summary = Summary()
    known = known or {}
    seen: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="atb-fuzz-") as work:
        child = _Child(Path(work) / "child.log", memory_limit)
        runs = _Cases(Path(work), child)
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline and summary.executions != max_runs:
                # Drawn from the base (the case is an exact copy of it), then applied.
                mutations = [random_mutation(rng, runs.base) for _ in range(rng.randint(1, 3))]
                outcome, detail = runs.run(mutations)
                summary.executions += 1
                if outcome == "ok":
                    continue
                summary.crashes += outcome == "crash"
                summary.hangs += outcome == "hang"
                summary.exceptions += outcome == "exception"
                found = signature(outcome, detail)
                if found in known:
                    summary.known += 1
                    if found not in seen:
                        seen[found] = known[found]
                        out.write(f"known: {found}\n  (as {known[found]})\n")
                    continue
                if found in seen:
                    continue
                mutations = runs.reduce(mutations, found)
                seen[found] = path = _save(cases, mutations, outcome, detail)
                summary.saved.append(path)
                out.write(f"{outcome}: saved {path}\n{detail}\n")
        finally:
            child.close()
    return summary


def replay(
    case: Path, memory_limit: int | None = DEFAULT_MEMORY_LIMIT
) -> tuple[str, str | None] | None:
    """Rebuild a saved case and run it in a child, as the fuzzer did; ``(outcome, detail)`` if
    it still gives a finding."""
    mutations = json.loads(case.read_text())["mutations"]
    with tempfile.TemporaryDirectory(prefix="atb-fuzz-replay-") as work:
        child = _Child(Path(work) / "child.log", memory_limit)
        try:
            found = _Cases(Path(work), child).run(mutations)
        finally:
            child.close()
    return None if found[0] == "ok" else found
