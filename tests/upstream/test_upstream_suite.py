"""``scripts/upstream_suite.py`` sorts upstream's tests by what they do on ours; these tests pin
that sorting, and run its plugin and runner on a tiny stand-in for the upstream checkout."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def installed_package_folder() -> Path:
    """The folder ``atb_prediction`` is imported from, as the suite's "ours" side gets it on its
    path: the clone's ``python/`` for an editable build, ``site-packages`` for an installed wheel
    (whose clone's ``python/`` has no compiled extension)."""
    spec = importlib.util.find_spec("atb_prediction")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).resolve().parents[1]


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


suite = load("upstream_suite")
Result = suite.Result


def side(name: str, **outcomes: str) -> object:
    run = suite.SideRun(name, Path(f"{name}.log"))
    for nodeid, outcome in outcomes.items():
        run.results[f"t.py::{nodeid}"] = Result(outcome, f"{nodeid} message")
    return run


def test_cause_drops_the_location_tmp_paths_and_addresses() -> None:
    message = (
        "AttributeError: Registry('/tmp/pytest-of-root/pytest-7/test_a0/models', n=0) at "
        "0x7f3a2b has no attribute '_x'  [/src/registry.py:12]"
    )
    assert suite.cause(Result("failed", message)) == (
        "AttributeError: Registry('<tmp_path>', n=0) at 0x... has no attribute '_x'"
    )
    assert suite.cause(Result("missing", "")) == "missing"


def test_a_known_entry_needs_both_a_named_test_and_a_matching_cause() -> None:
    known = suite.Known("internal", "why", r"^boom\b", ("a.py::TestA::", "b.py", "c.py::test_c"))
    failed = Result("failed", "boom  [x.py:1]")
    assert known.matches("a.py::TestA::test_1", failed)
    assert known.matches("b.py::test_anything", failed)
    assert known.matches("c.py::test_c", failed)
    assert not known.matches("c.py::test_c2", failed)  # a node id names one test only
    assert not known.matches("a.py::TestB::test_1", failed)
    assert not known.matches("a.py::TestA::test_1", Result("failed", "other boom"))


def test_an_expected_entry_explains_nothing_once_its_readme_row_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    known = suite.Known("expected", "the upstream cell", "boom", ("a.py",))
    monkeypatch.setattr(suite, "_readme", lambda: "| the upstream cell | ours | why |")
    assert known.matches("a.py::t", Result("failed", "boom"))
    monkeypatch.setattr(suite, "_readme", lambda: "| another row | ours | why |")
    assert not known.matches("a.py::t", Result("failed", "boom"))


def test_every_expected_entry_quotes_a_row_of_the_readme_table() -> None:
    rows = [line for line in suite._readme().splitlines() if line.startswith("| ")]
    for known in suite.KNOWN:
        assert known.kind in {"expected", "internal"}
        if known.kind == "expected":
            assert any(line.startswith(f"| {known.why}") for line in rows), known.why


def test_each_test_that_passes_on_upstream_lands_in_one_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    known = suite.Known("internal", "mocks", "known message", ("t.py::known",))
    monkeypatch.setattr(suite, "KNOWN", (known,))
    upstream = side("upstream", same="passed", known="passed", real="passed", gone="passed")
    upstream.results["t.py::broken_upstream"] = Result("failed", "no network")
    ours = side("ours", same="passed", real="failed", broken_upstream="passed")
    ours.results["t.py::known"] = Result("failed", "the known message")
    ours.collect_errors["t.py"] = "ImportError: x"
    compared = suite.compare(["t.py"], upstream, ours)
    assert compared.passing == ["t.py::same", "t.py::known", "t.py::real", "t.py::gone"]
    assert compared.excluded == ["t.py::broken_upstream"]
    assert compared.same == ["t.py::same"]
    failures = {f.nodeid: f for f in compared.failures}
    assert [f.nodeid for f in compared.of("internal")] == ["t.py::known"]
    assert failures["t.py::known"].known is known
    assert [f.nodeid for f in compared.of("real")] == ["t.py::real", "t.py::gone"]
    assert failures["t.py::gone"].ours == Result("missing", "not collected: ImportError: x")


def test_a_failure_is_slow_then_stub_then_real() -> None:
    failure = suite.Failure("t.py::x", Result("failed", "Failed: Timeout >120.0s  [a.py:1]"))
    assert failure.timed_out and failure.category == "real"
    failure.upstream_ort = Result("failed", "also on upstream")
    assert failure.category == "stub"
    failure.retry = Result("passed")
    assert failure.category == "slow"
    failure.known = suite.Known("internal", "why", "Timeout", ("t.py",))
    assert failure.category == "internal"
    assert not suite.Failure("t.py::y", Result("failed", "AssertionError")).timed_out


def test_a_report_is_read_up_to_a_line_cut_short(tmp_path: Path) -> None:
    lines = [
        {"event": "start", "nodeid": "t.py::a"},
        {
            "event": "result",
            "nodeid": "t.py::a",
            "outcome": "passed",
            "when": "call",
            "message": "",
        },
        {"event": "collect_error", "nodeid": "u.py", "message": "SyntaxError"},
        {"event": "start", "nodeid": "t.py::b"},
    ]
    report = tmp_path / "side.jsonl"
    report.write_text("\n".join(map(json.dumps, lines)) + '\n{"event": "res')
    run = suite.SideRun("side", tmp_path / "side.log")
    started, finished = suite._read_report(report, run)
    assert (started, finished) == (["t.py::a", "t.py::b"], False)
    assert run.results == {"t.py::a": Result("passed", "", "call")}
    assert run.collect_errors == {"u.py": "SyntaxError"}
    report.write_text(json.dumps({"event": "finished", "exitstatus": 1}))
    assert suite._read_report(report, run) == ([], True)


FAKE_TESTS = """
import os

from src.prediction.config import PredictionConfig
from src.prediction.models import registry

OURS = os.environ["ATB_SUITE_SIDE"] == "ours"


def test_aliased():
    package = "atb_prediction" if OURS else "src.prediction"
    assert PredictionConfig.__module__ == package + ".config"
    assert registry.__name__ == package + ".models.registry"


def test_ignored_patch_target_is_there_on_ours():
    from src.prediction.models import onnx_runner
    assert hasattr(onnx_runner, "get_preferred_providers") == OURS


def test_abort_on_ours():
    if OURS:
        os.abort()


def test_skipped():
    import pytest
    pytest.skip("not here")


def test_fails_on_ours():
    assert not OURS, "differs"
"""


@pytest.fixture
def fake_upstream(tmp_path: Path) -> Path:
    """A checkout shaped like upstream's where it matters: ``src.prediction`` whose package
    imports its config, a model package with the replaced modules, and a test file."""
    root = tmp_path / "upstream"
    models = root / "src" / "prediction" / "models"
    models.mkdir(parents=True)
    (root / "src" / "__init__.py").write_text("")
    (root / "src" / "prediction" / "__init__.py").write_text(
        "from .config import PredictionConfig\n"
    )
    (root / "src" / "prediction" / "config.py").write_text("class PredictionConfig:\n    pass\n")
    (models / "__init__.py").write_text("")
    for name in ("registry", "onnx_runner", "exceptions", "version_resolver"):
        (models / f"{name}.py").write_text("")
    (models / "execution_providers.py").write_text(
        "def get_preferred_providers():\n    return []\n"
    )
    (root / "tests").mkdir()
    (root / "tests" / "test_fake.py").write_text(FAKE_TESTS)
    (root / "pytest.ini").write_text("[pytest]\npythonpath = . src\n")
    return root


def test_both_sides_run_and_a_crash_is_resumed(
    fake_upstream: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # upstream's settings want pytest-randomly, which this venv does not have
    command = suite.pytest_command
    monkeypatch.setattr(
        suite,
        "pytest_command",
        lambda python, files: [a for a in command(python, files) if "randomly" not in a],
    )
    ours_path = installed_package_folder()
    work = tmp_path / "work"
    work.mkdir()
    runs = {
        name: suite.run_side(
            name, ["tests/test_fake.py"], fake_upstream, sys.executable, ours_path, work
        )
        for name in ("upstream", "ours")
    }
    outcomes = {
        name: {nodeid.split("::")[1]: r.outcome for nodeid, r in run.results.items()}
        for name, run in runs.items()
    }
    assert outcomes["upstream"] == {
        "test_aliased": "passed",
        "test_ignored_patch_target_is_there_on_ours": "passed",
        "test_abort_on_ours": "passed",
        "test_skipped": "skipped",
        "test_fails_on_ours": "passed",
    }
    assert outcomes["ours"] == {
        **outcomes["upstream"],
        "test_abort_on_ours": "crashed",
        "test_fails_on_ours": "failed",
    }
    crashed = runs["ours"].results["tests/test_fake.py::test_abort_on_ours"]
    assert crashed.message == "the pytest process died (exit status -6)"
    failed = runs["ours"].results["tests/test_fake.py::test_fails_on_ours"]
    assert failed.message.startswith("AssertionError: differs")
    line = FAKE_TESTS.splitlines().index('    assert not OURS, "differs"') + 1
    assert failed.message.endswith(f"test_fake.py:{line}]")

    # The crash is in the report too, so a rerun with reuse reads what the first run found.
    reread = suite.run_side(
        "ours", ["tests/test_fake.py"], fake_upstream, sys.executable, ours_path, work, reuse=True
    )
    assert reread.results == runs["ours"].results
