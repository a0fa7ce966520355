"""The fuzzing loop: generate cases, run them in a restartable child, save crashes and hangs."""

from __future__ import annotations

import hashlib
import json
import os
import random
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from atb_prediction._fuzz.cases import Mutation, build_base, build_case, random_mutation

__all__ = ["Summary", "child_main", "fuzz", "replay"]

HANG_SECONDS = 60.0
"""A case running longer than this is a hang (each takes well under a second)."""


@dataclass
class Summary:
    """What a fuzzing run did."""

    executions: int = 0
    crashes: int = 0
    hangs: int = 0
    exceptions: int = 0
    saved: list[str] = field(default_factory=list)

    @property
    def findings(self) -> int:
        """Crashes, hangs and unexpected exceptions together."""
        return self.crashes + self.hangs + self.exceptions


def child_main() -> int:
    """The child: read one registry path per line on stdin, answer one JSON line per case."""
    from atb_prediction._fuzz.driver import drive

    # The protocol keeps the real stdout; anything the library prints goes to stderr instead.
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    for line in sys.stdin:
        finding = drive(Path(line.strip()))
        protocol.write(json.dumps({"finding": finding}) + "\n")
    return 0


class _Child:
    """One child process; restarted after a crash or a hang."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self.process is None or self.process.poll() is not None:
            with open(self.log, "w") as stderr:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "atb_prediction._fuzz", "--child"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                    bufsize=1,
                )
        return self.process

    def run(self, root: Path, timeout: float) -> tuple[str, str | None]:
        """``("ok" | "exception" | "crash" | "hang", detail)`` for one registry."""
        process = self._start()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(f"{root}\n")
            process.stdin.flush()
        except BrokenPipeError:
            return self._died(process)
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        if not ready:
            process.kill()
            process.wait()
            return "hang", f"no answer within {timeout:g}s"
        line = process.stdout.readline()
        if not line:
            return self._died(process)
        finding = json.loads(line)["finding"]
        return ("exception", finding) if finding else ("ok", None)

    def _died(self, process: subprocess.Popen[str]) -> tuple[str, str]:
        code = process.wait()
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        return "crash", f"exit status {code}\n{tail}"

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _save(cases: Path, mutations: list[Mutation], outcome: str, detail: str | None) -> str:
    text = json.dumps(mutations, sort_keys=True)
    name = f"case-{hashlib.sha1(text.encode()).hexdigest()[:12]}.json"
    cases.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"outcome": outcome, "detail": detail, "mutations": mutations}
    (cases / name).write_text(json.dumps(record, indent=1) + "\n")
    return str(cases / name)


def fuzz(seconds: float, seed: int, cases: Path, out: IO[str]) -> Summary:
    """Fuzz for ``seconds``; save each finding under ``cases``."""
    rng = random.Random(seed)
    summary = Summary()
    with tempfile.TemporaryDirectory(prefix="atb-fuzz-") as work:
        base = Path(work) / "base"
        build_base(base)
        child = _Child(Path(work) / "child.log")
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                folder = Path(work) / "case"
                shutil.rmtree(folder, ignore_errors=True)
                # Drawn from the base (the case is an exact copy of it), then applied.
                mutations = [random_mutation(rng, base) for _ in range(rng.randint(1, 3))]
                root = build_case(folder, mutations, base)
                outcome, detail = child.run(root, HANG_SECONDS)
                summary.executions += 1
                if outcome == "ok":
                    continue
                summary.crashes += outcome == "crash"
                summary.hangs += outcome == "hang"
                summary.exceptions += outcome == "exception"
                path = _save(cases, mutations, outcome, detail)
                summary.saved.append(path)
                out.write(f"{outcome}: saved {path}\n{detail}\n")
        finally:
            child.close()
    return summary


def replay(case: Path) -> str | None:
    """Rebuild a saved case and drive it in this process; the finding, if it still occurs."""
    from atb_prediction._fuzz.driver import drive

    mutations = json.loads(case.read_text())["mutations"]
    with tempfile.TemporaryDirectory(prefix="atb-fuzz-replay-") as work:
        return drive(build_case(Path(work), mutations))
