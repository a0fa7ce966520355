"""Lets mutmut see the code that tests run in a child process (``atb`` started by the CLI tests).

mutmut learns two things from the selected tests before it mutates anything, and both only from
the pytest process itself:

- which lines run (coverage, for ``mutate_only_covered_lines``): a line that only a child
  process runs is taken for dead code and never mutated, silently;
- which tests reach each function (its trampolines record the calls while
  ``MUTANT_UNDER_TEST`` is ``stats``): a function that only a child reaches has no test, and
  its mutants are reported as "no tests" instead of being run.

``scripts/mutants.py`` stages this module and ``mutmut_child.py`` on the ``PYTHONPATH`` of the
run, with a ``sitecustomize.py`` that starts ``mutmut_child`` in every Python process, and loads
this module into pytest as a plugin (``-p``). The pytest process then tells its children where
to leave what they saw (an environment variable naming a folder), and takes it in: the
functions a child reached at the end of each test, the lines it ran at the end of the coverage
run. While the mutants run, none of this is active: a child simply runs the mutant, as
``MUTANT_UNDER_TEST`` is passed on.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from mutmut_child import REPORTING, REPORTS


def pytest_configure(config: pytest.Config) -> None:
    """In the stats or coverage run, give the children a folder to report in, and say what to
    report."""
    import coverage

    if coverage.Coverage.current() is not None:
        reporting = "lines"
    elif os.environ.get("MUTANT_UNDER_TEST") == "stats":
        reporting = "functions"
    else:
        os.environ.pop(REPORTS, None)
        return
    os.environ[REPORTS] = tempfile.mkdtemp(prefix="mutmut-children-")
    os.environ[REPORTING] = reporting


def _reports(kind: str) -> list[Any]:
    """The reports the children left so far (each taken once)."""
    folder = os.environ.get(REPORTS)
    if folder is None:
        return []
    found = []
    for path in sorted(Path(folder).glob(f"{kind}-*.json")):
        found.append(json.loads(path.read_text(encoding="utf-8")))
        path.unlink()
    return found


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Before mutmut files the functions this test reached, add those its children reached."""
    if os.environ.get(REPORTING) != "functions":
        return
    from mutmut.state import state

    for reached in _reports("functions"):
        state()._stats.update(reached)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Add the lines the children ran to the coverage mutmut is measuring."""
    import coverage
    from coverage import CoverageData

    measured = coverage.Coverage.current()
    if measured is None or os.environ.get(REPORTING) != "lines":
        return
    lines: dict[str, set[int]] = {}
    for report in _reports("lines"):
        for name, ran in report.items():
            lines.setdefault(name, set()).update(ran)
    children = CoverageData(no_disk=True)
    children.add_lines({name: ran for name, ran in lines.items() if ran})
    measured.get_data().update(children)
