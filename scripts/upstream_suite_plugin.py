"""pytest plugin that ``scripts/upstream_suite.py`` loads into the upstream bot's own test run.

It does two jobs, each driven by an environment variable the runner sets:

- ``ATB_SUITE_SIDE=ours``: before any conftest or test module imports the upstream bot's
  prediction code, put this package's modules into ``sys.modules`` under the upstream names
  they replace (:data:`ALIASES`), so upstream's engine, strategies and tests run on ours. With
  ``upstream`` (or unset) nothing is touched. With ``upstream-ort``, upstream runs on the real
  ``onnxruntime`` instead of the stub its conftest installs.
- ``ATB_SUITE_REPORT=FILE``: append one JSON line per event (test started, test finished with
  its outcome and failure message, collection error, session finished), flushed as it goes, so
  the runner still knows what ran when the process dies mid-test. ``ATB_SUITE_DESELECT=FILE``
  names tests (one node id a line) to leave out, which the runner uses to resume after a crash.

Loaded with ``-p upstream_suite_plugin`` (the ``scripts/`` folder on ``PYTHONPATH``): ``-p``
plugins are imported before the conftests, which is what lets the aliases win.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

#: Upstream module -> the module of this package that replaces it. Only what the package
#: replaces: upstream's engine, features, caching (``src.prediction.utils.caching``, whose
#: manager our runners accept as it is), ensemble and the engine's own exceptions
#: (``src.prediction.exceptions``) stay upstream's.
ALIASES = {
    "src.prediction.config": "atb_prediction.config",
    "src.prediction.models.exceptions": "atb_prediction.models.exceptions",
    "src.prediction.models.onnx_runner": "atb_prediction.models.onnx_runner",
    "src.prediction.models.registry": "atb_prediction.models.registry",
    "src.prediction.models.version_resolver": "atb_prediction.models.version_resolver",
}


#: Names upstream's tests patch in a replaced module that ours does not have, because ours does
#: not work that way: upstream's runner calls ``get_preferred_providers()`` and
#: ``ort.InferenceSession`` from Python, ours opens sessions in Rust. Ours never reads them, so
#: on the ours side they are set to upstream's objects (after the conftests, so ``ort`` is
#: whatever ``onnxruntime`` upstream's conftest left in ``sys.modules``), which turns the patch
#: into a no-op instead of an ``AttributeError``; the test then checks ours' behaviour.
IGNORED_PATCH_TARGETS: dict[str, dict[str, tuple[str, str | None]]] = {
    "src.prediction.models.onnx_runner": {
        # attribute: (module, name in it; None: the module itself)
        "get_preferred_providers": (
            "src.prediction.models.execution_providers",
            "get_preferred_providers",
        ),
        "ort": ("onnxruntime", None),
    },
}


def install_aliases(upstream_root: Path) -> None:
    """Make ``import src.prediction.X`` give ours for every module of :data:`ALIASES`.

    The aliases go into ``sys.modules`` before the parent packages are imported, so upstream's
    ``src/prediction/__init__.py`` (``from .config import PredictionConfig``) already gets ours;
    then each alias is also set as an attribute of its parent package, which is where
    ``from src.prediction.models import registry`` and ``mock.patch`` look.
    """
    for path in (upstream_root / "src", upstream_root):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    replacements = {name: importlib.import_module(ours) for name, ours in ALIASES.items()}
    sys.modules.update(replacements)
    for name, module in replacements.items():
        parent, _, leaf = name.rpartition(".")
        setattr(importlib.import_module(parent), leaf, module)


class _Recorder:
    """Writes the JSON lines of ``ATB_SUITE_REPORT`` and leaves out ``ATB_SUITE_DESELECT``."""

    def __init__(self, report: Path, deselect: frozenset[str]) -> None:
        self._file = report.open("a", encoding="utf-8")
        self._deselect = deselect
        self._phases: dict[str, list[pytest.TestReport]] = {}

    def _write(self, **record: Any) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if not self._deselect:
            return
        dropped = [item for item in items if item.nodeid in self._deselect]
        if dropped:
            items[:] = [item for item in items if item.nodeid not in self._deselect]
            config.hook.pytest_deselected(items=dropped)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self._write(event="collect_error", nodeid=report.nodeid, message=_message(report))

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._write(event="start", nodeid=nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        phases = self._phases.setdefault(report.nodeid, [])
        phases.append(report)
        if report.when == "teardown":
            del self._phases[report.nodeid]
            self._write(event="result", nodeid=report.nodeid, **_outcome(phases))

    def pytest_sessionfinish(self, exitstatus: int) -> None:
        self._write(event="finished", exitstatus=int(exitstatus))
        self._file.close()


def _outcome(phases: list[pytest.TestReport]) -> dict[str, str]:
    """One test's outcome over its setup, call and teardown: the first phase that failed or
    skipped decides; ``xfail``/``xpass`` count as skipped/passed."""
    for report in phases:
        if report.failed:
            return {"outcome": "failed", "when": report.when, "message": _message(report)}
        if report.skipped:
            kind = "xfailed" if hasattr(report, "wasxfail") else "skipped"
            return {"outcome": kind, "when": report.when, "message": _message(report)}
    return {"outcome": "passed", "when": "call", "message": ""}


def _message(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The line that says why: the exception and where it was raised, or the skip reason."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        return str(longrepr[2])
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return f"{crash.message.strip()}  [{crash.path}:{crash.lineno}]"
    return str(longrepr).strip().splitlines()[-1] if longrepr else ""


def _deselected() -> frozenset[str]:
    path = os.environ.get("ATB_SUITE_DESELECT")
    if not path:
        return frozenset()
    return frozenset(Path(path).read_text(encoding="utf-8").split())


def install_ignored_patch_targets() -> None:
    """Give ours' modules the :data:`IGNORED_PATCH_TARGETS` they lack."""
    for module_name, targets in IGNORED_PATCH_TARGETS.items():
        module = sys.modules[module_name]
        for attribute, (source, source_name) in targets.items():
            if not hasattr(module, attribute):
                value = importlib.import_module(source)
                setattr(
                    module, attribute, value if source_name is None else getattr(value, source_name)
                )


_SIDE = os.environ.get("ATB_SUITE_SIDE")
if _SIDE == "ours":
    install_aliases(Path(os.environ.get("ATB_SUITE_UPSTREAM", ".")).resolve())
elif _SIDE == "upstream-ort":
    # Upstream's conftest stubs ``onnxruntime`` unless it is already imported: importing the
    # real one first runs upstream on the real ONNX Runtime, as ours always does.
    importlib.import_module("onnxruntime")


def pytest_configure(config: pytest.Config) -> None:
    report = os.environ.get("ATB_SUITE_REPORT")
    if report:
        config.pluginmanager.register(_Recorder(Path(report), _deselected()), "atb_suite_recorder")


def pytest_sessionstart(session: pytest.Session) -> None:
    if _SIDE == "ours":
        install_ignored_patch_targets()
