"""The README runs as written: ``atb demo`` (its first command), then every ```python block, in
order, in one namespace, in the folder where the demo ran. A block preceded by a line saying
``not run`` (a GPU, a cluster) is skipped, and only those."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from cli_helpers import SUBPROCESS_TIMEOUT, clean_env, run_atb

README = Path(__file__).resolve().parents[2] / "README.md"

#: A fenced Python block: the line before its fence (skipping blank ones) and its code.
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def readme_blocks(text: str) -> list[tuple[int, str, bool]]:
    """``(line, code, run)`` per ```python block: the line of its first code line, its code,
    and whether it runs (the last non-blank line before the fence does not say ``not run``)."""
    blocks = []
    for match in _BLOCK.finditer(text):
        before = [line for line in text[: match.start()].splitlines() if line.strip()]
        skipped = bool(before) and "not run" in before[-1]
        line = text.count("\n", 0, match.start(1)) + 1
        blocks.append((line, match.group(1), not skipped))
    return blocks


def test_the_readme_blocks_are_found_and_skipped_only_where_it_says_why() -> None:
    text = "a\n\n```python\nx = 1\n```\nnot run here: a GPU\n\n```python\ny = 2\n```\n"
    assert readme_blocks(text) == [(4, "x = 1\n", True), (9, "y = 2\n", False)]
    blocks = readme_blocks(README.read_text("utf-8"))
    assert len(blocks) >= 5 and sum(run for *_, run in blocks) >= 4
    for line, _, run in blocks:
        if not run:
            before = README.read_text("utf-8").splitlines()[: line - 1]
            reason = next(b for b in reversed(before[:-1]) if b.strip())
            assert re.search(r"not run\b.*\S{3}", reason), f"README.md:{line} says not why"


#: Runs each block with its README line numbers in tracebacks, in one namespace, in order.
_DRIVER = """
import sys, json, warnings
warnings.simplefilter("error")  # an example that warns is an example to fix
namespace = {"__name__": "__readme__"}
for line, code in json.load(sys.stdin):
    padded = "\\n" * (line - 1) + code
    exec(compile(padded, "README.md", "exec"), namespace)
    print("ran README.md:%d" % line, flush=True)
"""


def test_every_python_block_of_the_readme_runs_as_written(tmp_path: Path) -> None:
    import json

    run_atb("demo", cwd=tmp_path)  # the README's first command, as written
    blocks = [(line, code) for line, code, run in readme_blocks(README.read_text("utf-8")) if run]
    completed = subprocess.run(
        [sys.executable, "-c", _DRIVER],
        input=json.dumps(blocks),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(MPLBACKEND="Agg"),
        timeout=SUBPROCESS_TIMEOUT * 3,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.count("ran README.md:") == len(blocks)
