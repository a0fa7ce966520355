"""The child side of ``scripts/mutmut_subprocesses.py``: staged by ``scripts/mutants.py`` on the
``PYTHONPATH`` of a mutmut run, and started by a ``sitecustomize.py`` there in every Python
process of the run. Only the standard library is imported here unless the process is a child
of the coverage or stats run (see the plugin's docstring)."""

from __future__ import annotations

import atexit
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

#: The folder children leave their reports in (set by the pytest process for its children).
REPORTS = "ATB_MUTMUT_CHILD_REPORTS"
#: What the children report: ``lines`` (the coverage run) or ``functions`` (the stats run).
REPORTING = "ATB_MUTMUT_CHILD_REPORTING"
#: The folder mutmut runs in (where its configuration is read from).
STAGE = "ATB_MUTMUT_STAGE"


def write_report(folder: str, kind: str, report: object) -> None:
    """Writes ``report`` as JSON to a new file of ``folder``, whole or not at all."""
    name = f"{kind}-{os.getpid()}-{uuid.uuid4().hex}"
    partial = Path(folder) / f".{name}"
    partial.write_text(json.dumps(report), encoding="utf-8")
    partial.rename(Path(folder) / f"{name}.json")


def start() -> None:
    """In a child of the stats or coverage run, report what it reached when it exits."""
    folder = os.environ.get(REPORTS)
    if folder is None or not Path(folder).is_dir():
        return
    reporting = os.environ.get(REPORTING)
    if reporting == "functions" and os.environ.get("MUTANT_UNDER_TEST") == "stats":
        _load_mutmut_configuration()
        atexit.register(_report_functions, folder)
    elif reporting == "lines":
        import coverage

        measured = coverage.Coverage(data_file=None, config_file=False)
        measured.start()
        atexit.register(_report_lines, folder, measured)


def _load_mutmut_configuration() -> None:
    """mutmut reads its configuration from the folder it runs in the first time a trampoline
    records a call; a child may run elsewhere (``cwd=`` a temporary folder), so read it now,
    from the run's folder."""
    stage = os.environ.get(STAGE)
    if stage is None:
        return
    from mutmut.configuration import config

    here = os.getcwd()
    try:
        os.chdir(stage)
        config()
    finally:
        os.chdir(here)


def _report_functions(folder: str) -> None:
    state = sys.modules.get("mutmut.state")
    if state is None:  # the child never imported mutated code
        return
    reached = sorted(state.state()._stats)
    if reached:
        write_report(folder, "functions", reached)


def _report_lines(folder: str, measured: Any) -> None:
    measured.stop()
    data = measured.get_data()
    write_report(
        folder, "lines", {name: sorted(data.lines(name) or ()) for name in data.measured_files()}
    )
