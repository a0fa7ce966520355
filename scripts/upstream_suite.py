"""Run the upstream bot's own test suite on upstream's prediction modules and on ours, and compare.

The upstream bot (bumpy-croc/ai-trading-bot, MIT) is not part of this repository: give the path
of a checkout (:data:`DEFAULT_FILES` was chosen on commit cf1130d). Its test dependencies and
this package's runtime dependencies must be installed in the interpreter given as ``--python``::

    git clone https://github.com/bumpy-croc/ai-trading-bot /tmp/upstream-src
    git -C /tmp/upstream-src checkout cf1130d
    python scripts/upstream_suite.py setup --upstream /tmp/upstream-src --venv /tmp/upstream-venv
    make build                                   # this checkout's Rust extension, in python/
    python scripts/upstream_suite.py run --upstream /tmp/upstream-src \\
        --python /tmp/upstream-venv/bin/python

``run`` runs the test files of :data:`DEFAULT_FILES` (or the ones named) twice, each time in one
pytest process started in the upstream checkout, with upstream's pytest.ini (less
``--maxfail``), pytest-randomly's seed 1 and ``TEST_TYPE=unit`` (SQLite, no Postgres container):

1. **upstream**: upstream's own ``src.prediction`` modules, untouched, on the ``onnxruntime``
   stub that upstream's conftest installs;
2. **ours**: the modules this package replaces (``upstream_suite_plugin.ALIASES``: config,
   registry, runner, version resolver, model exceptions) aliased to ours before anything
   imports them. Upstream's engine, features, caching and engine exceptions stay upstream's.

A test that does not pass on upstream (it needs the network, tensorflow, ...) is left out.
Every test that passes on upstream and not on ours is printed with its failure, grouped by
cause, in one of four categories:

- **expected**: a deliberate difference; :data:`KNOWN` ties the test and its failure message to
  a row of the README's "Differences from upstream" table (which must still be there);
- **internal**: :data:`KNOWN` says the test reaches into upstream's implementation rather than
  its API (private attributes, a mocked ``onnxruntime.InferenceSession``);
- **stub only**: rerun on upstream with the real ``onnxruntime`` (imported before the conftest
  can stub it), the test fails there too: it passes only on the stub's constant outputs;
- **slow**: it hit pytest-timeout on ours and passed when run again alone (some of upstream's
  backtests take close to their 120 s limit, so machine load alone can fail them);
- **real**: everything else. The exit status is 1 when there is one.

The summary comes last. The code under test is this checkout's ``python/`` folder (with its
built extension) unless ``--installed`` says to test the ``atb_prediction`` that ``--python``
has. A pytest process that dies mid-test (an abort, a segfault) is resumed without the finished
tests and the one that killed it, which counts as failed. ``--workdir DIR`` keeps the logs and
per-test JSON lines there, and ``--reuse`` reads them back instead of running again (to
re-classify after editing :data:`KNOWN`).

``discover`` runs upstream test paths (default: all of ``tests``, about half an hour) on upstream
under coverage with one context per test and prints the test files in which some test runs a
function or lambda of a replaced module, with counts, and the files that import a replaced
module without running its code (an exception class, a patch target): together,
:data:`DEFAULT_FILES`.

``setup`` creates a virtual environment with upstream's ``requirements.txt`` less what the
selected tests do not need (:data:`SKIPPED_REQUIREMENTS`, tensorflow above all), plus this
package's runtime dependencies (``onnxruntime>=1.27``, which upstream's ``>=1.17`` allows).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
PLUGIN = "upstream_suite_plugin"

#: Upstream's files that the package replaces (``upstream_suite_plugin.ALIASES``), as paths.
REPLACED_FILES = (
    "src/prediction/config.py",
    "src/prediction/models/exceptions.py",
    "src/prediction/models/onnx_runner.py",
    "src/prediction/models/registry.py",
    "src/prediction/models/version_resolver.py",
)

#: The upstream test files whose tests run code of a replaced module (``discover`` on upstream
#: cf1130d): the prediction tests, and the strategy, backtesting and engine tests that reach the
#: registry through upstream's ML strategies.
DEFAULT_FILES: tuple[str, ...] = (
    "tests/integration/backtesting/test_partial_operations_backtester.py",
    "tests/integration/backtesting/test_time_exits_integration.py",
    "tests/integration/backtesting/test_trailing_stops_integration.py",
    "tests/integration/cli/test_backtest_integration.py",
    "tests/integration/live/test_correlation_enforcement.py",
    "tests/integration/live/test_paper_session_smoke.py",
    "tests/integration/live/test_partial_operations_live_engine.py",
    "tests/integration/live/test_regime_integration_live_engine.py",
    "tests/integration/live/test_strategy_manager_integration.py",
    "tests/integration/live/test_time_exits_live_engine_integration.py",
    "tests/integration/live_trading/test_database_logging.py",
    "tests/integration/live_trading/test_engine_core.py",
    "tests/integration/live_trading/test_fallbacks.py",
    "tests/integration/parity/test_backtest_determinism.py",
    "tests/integration/predictions/test_engine_integration.py",
    "tests/integration/predictions/test_prediction_caching_integration.py",
    "tests/integration/test_component_trading_workflows.py",
    "tests/integration/test_end_to_end_workflows.py",
    "tests/integration/test_error_handling_workflows.py",
    "tests/integration/test_integration.py",
    "tests/integration/test_strategy_registry_failfast.py",
    "tests/integration/tournament/test_entrant_dry_runs.py",
    "tests/unit/backtesting/test_backtester_initialization.py",
    "tests/unit/backtesting/test_backtesting_comprehensive_edge_cases.py",
    "tests/unit/backtesting/test_backtesting_data_handling.py",
    "tests/unit/backtesting/test_backtesting_execution.py",
    "tests/unit/backtesting/test_backtesting_integration.py",
    "tests/unit/backtesting/test_backtesting_risk_management.py",
    "tests/unit/backtesting/test_effective_sizing_report.py",
    "tests/unit/backtesting/test_prediction_metrics_integration.py",
    "tests/unit/backtesting/test_runtime_context_positions.py",
    "tests/unit/backtesting/test_short_entry_sizing_overrides.py",
    "tests/unit/cli/test_backtest.py",
    "tests/unit/engines/live/test_clean_restart_readoption.py",
    "tests/unit/engines/live/test_early_cut_live.py",
    "tests/unit/engines/live/test_engine_settings.py",
    "tests/unit/engines/live/test_exit_conditions.py",
    "tests/unit/engines/live/test_inference_timeout_escalation.py",
    "tests/unit/engines/live/test_order_tracking_lost.py",
    "tests/unit/engines/live/test_partial_ops_disabled_734.py",
    "tests/unit/engines/live/test_recovered_balance_float_coercion.py",
    "tests/unit/engines/live/test_session_recovery.py",
    "tests/unit/engines/live/test_stop_loss_cancel_escalation_741.py",
    "tests/unit/engines/live/test_strategy_hot_swap_coordinator.py",
    "tests/unit/engines/live/test_strategy_runtime_coordinator.py",
    "tests/unit/engines/live/test_ws_health_monitor.py",
    "tests/unit/experiments/test_ab_roundtrip.py",
    "tests/unit/experiments/test_codex_fixes.py",
    "tests/unit/experiments/test_final_review.py",
    "tests/unit/experiments/test_overrides.py",
    "tests/unit/experiments/test_runner.py",
    "tests/unit/live/test_live_engine_comprehensive_safety.py",
    "tests/unit/live/test_strategy_hotswap_overrides.py",
    "tests/unit/live/test_strategy_manager_unit.py",
    "tests/unit/position_management/test_partial_manager.py",
    "tests/unit/position_management/test_strategy_overrides.py",
    "tests/unit/prediction/test_version_resolver.py",
    "tests/unit/predictions/test_config.py",
    "tests/unit/predictions/test_engine_batch.py",
    "tests/unit/predictions/test_engine_health.py",
    "tests/unit/predictions/test_engine_initialization.py",
    "tests/unit/predictions/test_engine_prediction.py",
    "tests/unit/predictions/test_engine_prediction_classification.py",
    "tests/unit/predictions/test_engine_structured.py",
    "tests/unit/predictions/test_engine_utilities.py",
    "tests/unit/predictions/test_inference_context.py",
    "tests/unit/predictions/test_models.py",
    "tests/unit/predictions/test_onnx_runner_classification.py",
    "tests/unit/predictions/test_prediction_caching.py",
    "tests/unit/predictions/test_smoke.py",
    "tests/unit/predictions/test_timeout_escalation.py",
    "tests/unit/strategies/components/test_exam_signal_generator.py",
    "tests/unit/strategies/components/test_ml_signal_generator.py",
    "tests/unit/strategies/components/test_ml_signal_symbol_guard.py",
    "tests/unit/strategies/test_bear_unsafe_guards.py",
    "tests/unit/strategies/test_ensemble_strategies.py",
    "tests/unit/strategies/test_exam_target_redesign.py",
    "tests/unit/strategies/test_hyper_growth_unit.py",
    "tests/unit/strategies/test_leveraged_regime_unit.py",
    "tests/unit/strategies/test_ml_adaptive_position_management.py",
    "tests/unit/strategies/test_ml_adaptive_sentiment_symbol_wiring.py",
    "tests/unit/strategies/test_ml_basic_logging_unit.py",
    "tests/unit/strategies/test_ml_basic_unit.py",
    "tests/unit/strategies/test_ml_sentiment_unit.py",
    "tests/unit/test_db_resilience.py",
    "tests/unit/test_model_registry.py",
    "tests/unit/training_pipeline/test_metadata_contract_round_trip.py",
)


@dataclass
class Result:
    """One test's outcome on one side."""

    outcome: str  # passed, failed, skipped, xfailed, crashed, missing
    message: str = ""
    when: str = "call"


@dataclass(frozen=True)
class Known:
    """Why some tests that pass on upstream fail on ours, when it is not a defect of ours.

    A failure matches when its test is one of ``tests`` (node ids, or prefixes ending in
    ``::`` or ``.py``) and its message matches the regular expression ``cause``: the same test
    failing for another reason stays a real failure.
    """

    kind: str  # "expected": a row of the README's "Differences from upstream"; "internal"
    why: str
    cause: str
    tests: tuple[str, ...]

    def matches(self, nodeid: str, result: Result) -> bool:
        if self.kind == "expected" and self.why not in _readme():
            return False
        named = any(
            nodeid == test or (test.endswith(("::", ".py")) and nodeid.startswith(test))
            for test in self.tests
        )
        return named and re.search(self.cause, result.message) is not None


_FAILS_TO_LOAD = "a model that fails to load gets a stand-in runner that fails on every call"
_MOCKED_SESSION = (
    "builds its runner with onnxruntime.InferenceSession mocked, on a model file that does not "
    "exist or holds placeholder bytes: upstream's runner opens models through that Python API, "
    "ours in Rust, so the mock never answers and the file is refused"
)

#: The known differences, checked in order. For ``expected``, ``why`` is the "upstream" cell of
#: the README row, verbatim: a rule whose row is no longer in the README explains nothing.
KNOWN: tuple[Known, ...] = (
    Known(
        "internal",
        _MOCKED_SESSION,
        r"cannot load model /tmp/test_model\.onnx: the file does not exist",
        (
            "tests/unit/predictions/test_models.py::TestOnnxRunner::",
            "tests/unit/predictions/test_onnx_runner_classification.py",
            "tests/unit/predictions/test_prediction_caching.py::TestOnnxRunnerCaching::",
        ),
    ),
    Known(
        "internal",
        _MOCKED_SESSION,
        r"failed to load: cannot load model .*/model\.onnx"
        r"|'prediction_failed_or_not_classification' != 'prediction_failed_or_not_classification'",
        (
            "tests/unit/training_pipeline/test_metadata_contract_round_trip.py"
            "::TestRealRegistryLoadedOnnxRunnerConsumesMetadata::",
            "tests/unit/training_pipeline/test_metadata_contract_round_trip.py"
            "::TestExamSignalGeneratorConsumesRealRegistryBundle::",
        ),
    ),
    Known(
        "internal",
        "reads or patches a private attribute of upstream's registry",
        r"(has no attribute|does not have the attribute) "
        r"'_(load_bundle|scan_registry|versioned_bundles|versioned_bundle_paths|bundles)'",
        ("tests/unit/test_model_registry.py",),
    ),
    Known(
        "expected",
        _FAILS_TO_LOAD,
        r"not an ONNX model|the model file is empty",
        (
            "tests/unit/test_model_registry.py::test_select_bundle_and_many",
            "tests/unit/test_model_registry.py::test_registry_concurrent_select_bundle_thread_safety",
            "tests/unit/test_model_registry.py"
            "::test_select_bundle_always_resolves_latest_regardless_of_other_versions",
            "tests/unit/predictions/test_models.py::TestPredictionModelRegistry"
            "::test_select_and_default_runner",
        ),
    ),
    Known(
        "expected",
        _FAILS_TO_LOAD,
        # get_bundle_by_key and list_bundles leave the placeholder model out
        r"^(AssertionError: )?assert (None is not None|0 == [12])\b",
        (
            "tests/unit/test_model_registry.py::test_get_bundle_by_key_finds_non_latest_version",
            "tests/unit/test_model_registry.py::test_get_bundle_by_key_also_finds_latest_version",
            "tests/unit/test_model_registry.py"
            "::test_reload_models_closes_versioned_runners_without_double_close",
            "tests/unit/test_model_registry.py::test_registry_concurrent_reload_thread_safety",
            "tests/unit/predictions/test_models.py::TestPredictionModelRegistry::",
        ),
    ),
    Known(
        "expected",
        _FAILS_TO_LOAD,
        r"ModelNotAvailableError: (No basic/1h model exists for trading symbol BTCUSDT\. "
        r"Available models: none|Pinned model version not found: .* Loaded bundles: none)",
        ("tests/unit/cli/test_backtest.py::TestPinnedBacktestEndToEnd::",),
    ),
    Known(
        "expected",
        "the cache manager's `model_name` is `basename(model_path)`",
        r"^assert 0 == 2\b",
        (
            "tests/unit/test_model_registry.py::test_invalidate_cache_maps_structured_name_to_runner",
        ),
    ),
)

#: Lines of upstream's requirements.txt left out of ``setup``: training (tensorflow, tf2onnx),
#: upstream's own onnxruntime pin (ours needs >= 1.27) and its linters.
SKIPPED_REQUIREMENTS = (
    "tensorflow",
    "tf2onnx",
    "onnxruntime",
    "ruff",
    "black",
    "mypy",
    "types-PyYAML",
    "bandit",
)
#: Installed besides: what upstream's pyproject or its tests import without listing it in
#: requirements.txt, and this package's runtime dependencies.
EXTRA_REQUIREMENTS = ("textblob", "onnx", "pyyaml", "onnxruntime>=1.27", "argcomplete>=3.1")


@functools.cache
def _readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9_.-]+)")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_TMP_PATH = re.compile(r"/[^\s'\"]*/pytest-of-[^/]+/pytest-\d+/[^\s'\",)]*")
_LOCATION = re.compile(r"\s+\[[^\]]*:\d+\]$")


# --------------------------------------------------------------------------------------------
# One side: a pytest process (resumed after a crash) and what it recorded


@dataclass
class SideRun:
    """What one side recorded: per-test results and per-node collection errors."""

    name: str
    log: Path
    results: dict[str, Result] = field(default_factory=dict)
    collect_errors: dict[str, str] = field(default_factory=dict)


def pytest_command(python: str, files: Sequence[str], extra: Sequence[str] = ()) -> list[str]:
    """Upstream's pytest.ini settings less ``--maxfail=5`` and the noise (``-o addopts=``
    replaces them): strict markers, pytest-randomly's seed 1, its 120 s timeout."""
    return [
        python,
        "-m",
        "pytest",
        "-p",
        PLUGIN,
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "--strict-markers",
        "--randomly-seed=1",
        "--color=no",
        "-q",
        "--tb=short",
        *extra,
        *files,
    ]


def side_env(side: str, upstream: Path, ours_path: Path | None, workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(SCRIPTS)]
    if side == "ours" and ours_path is not None:
        paths.append(str(ours_path))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env.update(
        PYTHONPATH=os.pathsep.join(paths),
        ATB_SUITE_SIDE=side,
        ATB_SUITE_UPSTREAM=str(upstream),
        # Upstream's conftest starts a Postgres container when integration tests are selected;
        # TEST_TYPE=unit keeps it on in-memory SQLite (tests that need Postgres fail on both
        # sides and are left out).
        TEST_TYPE="unit",
    )
    env.pop("PYTEST_ADDOPTS", None)
    return env


def run_side(
    side: str,
    files: Sequence[str],
    upstream: Path,
    python: str,
    ours_path: Path | None,
    workdir: Path,
    reuse: bool = False,
    name: str | None = None,
) -> SideRun:
    """Run ``files`` on one side; after a crash, run again without what already finished.

    Its files in ``workdir`` are named after ``name`` (default: ``side``). With ``reuse``, the
    results a finished earlier run left there are read instead, if they cover every file and
    node id asked for.
    """
    name = name or side
    run = SideRun(name, workdir / f"{name}.log")
    report = workdir / f"{name}.jsonl"
    if reuse and report.exists():
        _, finished = _read_report(report, run)
        if finished and all(_covered(test, run) for test in files):
            return run
        run = SideRun(name, workdir / f"{name}.log")
    deselect = workdir / f"{name}.deselect"
    deselect.write_text("", encoding="utf-8")
    env = side_env(side, upstream, ours_path, workdir)
    env["ATB_SUITE_REPORT"] = str(report)
    env["ATB_SUITE_DESELECT"] = str(deselect)
    report.write_text("", encoding="utf-8")
    with run.log.open("w", encoding="utf-8") as log:
        while True:
            command = pytest_command(python, files)
            log.write(f"$ {' '.join(command)}\n")
            log.flush()
            done = subprocess.run(
                command, cwd=upstream, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
            )
            started, finished = _read_report(report, run)
            if finished:
                break
            # The process died: the test that started last and never reported killed it.
            unreported = [nodeid for nodeid in started if nodeid not in run.results]
            if not unreported:
                print(f"  {name}: pytest exited with {done.returncode} before running a test")
                break
            culprit = unreported[-1]
            message = f"the pytest process died (exit status {done.returncode})"
            with report.open("a", encoding="utf-8") as record:
                record.write("\n" + json.dumps(_crash_record(culprit, message)) + "\n")
            run.results[culprit] = Result("crashed", message)
            print(f"  {name}: {culprit} killed the pytest process; resuming without it")
            deselect.write_text("\n".join(run.results) + "\n", encoding="utf-8")
    return run


def _crash_record(nodeid: str, message: str) -> dict[str, str]:
    """The result line the runner writes for a test that killed its pytest process."""
    return {
        "event": "result",
        "nodeid": nodeid,
        "outcome": "crashed",
        "when": "call",
        "message": message,
    }


def _covered(test: str, run: SideRun) -> bool:
    """Whether ``run`` has a result for a node id, or for some test of a file."""
    if "::" in test:
        return test in run.results
    return any(nodeid.startswith(test + "::") for nodeid in run.results) or any(
        node.startswith(test) for node in run.collect_errors
    )


def _read_report(report: Path, run: SideRun) -> tuple[list[str], bool]:
    """Add a report's results and collection errors to ``run``: (tests started, finished)."""
    started: list[str] = []
    finished = False
    for line in report.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # the last line of a process killed while writing
            continue
        event = record["event"]
        if event == "start":
            started.append(record["nodeid"])
        elif event == "result":
            run.results[record["nodeid"]] = Result(
                record["outcome"], record["message"], record["when"]
            )
        elif event == "collect_error":
            run.collect_errors[record["nodeid"]] = record["message"]
        elif event == "finished":
            finished = True
    return started, finished


# --------------------------------------------------------------------------------------------
# Comparing the sides


@dataclass
class Failure:
    """A test that passes on upstream and not on ours, and what explains it, if anything."""

    nodeid: str
    ours: Result
    known: Known | None = None
    retry: Result | None = None  # a timeout run again on ours
    upstream_ort: Result | None = None  # the recheck on upstream with the real onnxruntime

    @property
    def timed_out(self) -> bool:
        return self.ours.message.startswith("Failed: Timeout")

    @property
    def category(self) -> str:
        if self.known is not None:
            return self.known.kind
        if self.retry is not None and self.retry.outcome == "passed":
            return "slow"
        if self.upstream_ort is not None and self.upstream_ort.outcome != "passed":
            return "stub"
        return "real"


@dataclass
class Comparison:
    files: Sequence[str]
    upstream: SideRun
    ours: SideRun
    passing: list[str] = field(default_factory=list)  # pass on upstream
    excluded: list[str] = field(default_factory=list)  # do not pass on upstream
    same: list[str] = field(default_factory=list)  # pass on both
    failures: list[Failure] = field(default_factory=list)

    def of(self, category: str) -> list[Failure]:
        return [f for f in self.failures if f.category == category]


def compare(files: Sequence[str], upstream: SideRun, ours: SideRun) -> Comparison:
    result = Comparison(files, upstream, ours)
    for nodeid, mine in upstream.results.items():
        if mine.outcome != "passed":
            result.excluded.append(nodeid)
            continue
        result.passing.append(nodeid)
        theirs = ours.results.get(nodeid) or Result("missing", _why_missing(nodeid, ours))
        if theirs.outcome == "passed":
            result.same.append(nodeid)
            continue
        known = next((k for k in KNOWN if k.matches(nodeid, theirs)), None)
        result.failures.append(Failure(nodeid, theirs, known))
    return result


def _why_missing(nodeid: str, side: SideRun) -> str:
    for node, message in side.collect_errors.items():
        if nodeid.startswith(node):
            return f"not collected: {message}"
    return "not run"


def cause(result: Result) -> str:
    """What groups failures: the exception line without its location and addresses."""
    first = result.message.strip().splitlines()[0] if result.message.strip() else result.outcome
    first = _TMP_PATH.sub("<tmp_path>", _LOCATION.sub("", first))
    return _ADDRESS.sub("0x...", first)[:240]


_HEADINGS = {
    "expected": "Expected: a deliberate difference, a row of the README's table",
    "internal": "Internal: the test reaches into upstream's implementation, not its API",
    "stub": "Stub only: passes on upstream only with its conftest's onnxruntime stub "
    "(fails on upstream with the real onnxruntime too)",
    "slow": "Slow: hit pytest-timeout on ours, passed when run again alone (machine load?)",
    "real": "Real failures on ours",
}


def print_report(c: Comparison, out: Path | None) -> None:
    for category, heading in _HEADINGS.items():
        members = c.of(category)
        if not members:
            continue
        groups: dict[tuple[str, str], list[Failure]] = defaultdict(list)
        for failure in members:
            why = failure.known.why if failure.known is not None else ""
            groups[(why, cause(failure.ours))].append(failure)
        print(f"\n{heading} ({len(members)}), by cause:")
        for (why, text), group in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            print(f"\n  [{len(group)}] {text}")
            if why:
                print(textwrap.indent(textwrap.fill(why, 90), "      | "))
            for failure in group:
                where = _LOCATION.search(failure.ours.message)
                line = f"      {failure.nodeid}  ({failure.ours.when})"
                print(line + (where.group(0) if where else ""))
                if failure.upstream_ort is not None and category == "stub":
                    print(f"          upstream with onnxruntime: {cause(failure.upstream_ort)}")
    ran = {test.split("::")[0] for test in c.files}
    unused = [
        k
        for k in KNOWN
        if not any(f.known is k for f in c.failures)
        and any(test.split("::")[0] in ran for test in k.tests)
    ]
    if unused:
        print(f"\nKNOWN entries that explained no failure this run ({len(unused)}): drop them?")
        for known in unused:
            gone = known.kind == "expected" and known.why not in _readme()
            print(f"  {known.kind}: {known.cause!r} in {', '.join(known.tests)}")
            if gone:
                print(f"      its README row is gone: {known.why!r}")
    upstream_errors = sorted(c.upstream.collect_errors.items())
    if upstream_errors:
        print("\nCollection errors on upstream (those files count for nothing):")
        for node, message in upstream_errors:
            print(f"  {node}: {message}")
    excluded_by = Counter(c.upstream.results[n].outcome for n in c.excluded)
    print("\n" + "=" * 78)
    print(f"upstream suite against ours: {len(c.files)} test files")
    print(
        f"  on upstream: {len(c.passing)} pass; {len(c.excluded)} left out "
        f"({', '.join(f'{n} {k}' for k, n in sorted(excluded_by.items())) or 'none'})"
    )
    counts = {category: len(c.of(category)) for category in _HEADINGS}
    print(
        f"  on ours:     {len(c.same)} pass, {counts['expected']} expected differences, "
        f"{counts['internal']} internal, {counts['stub']} stub only, {counts['slow']} slow"
    )
    print(f"  REAL FAILURES: {counts['real']}")
    if out is not None:
        out.write_text(json.dumps(_as_json(c), indent=2) + "\n", encoding="utf-8")
        print(f"  per-test results: {out}")


def _as_json(c: Comparison) -> dict[str, object]:
    return {
        "files": list(c.files),
        "passing_on_upstream": len(c.passing),
        "excluded": {n: vars(c.upstream.results[n]) for n in c.excluded},
        "pass_on_ours": len(c.same),
        "failures": [
            {
                "test": f.nodeid,
                "category": f.category,
                "cause": cause(f.ours),
                "why": f.known.why if f.known is not None else None,
                "ours": vars(f.ours),
                "retry": vars(f.retry) if f.retry is not None else None,
                "upstream_ort": vars(f.upstream_ort) if f.upstream_ort is not None else None,
            }
            for f in c.failures
        ],
    }


# --------------------------------------------------------------------------------------------
# Commands


def cmd_run(args: argparse.Namespace) -> int:
    upstream = args.upstream.resolve()
    files = args.files or list(DEFAULT_FILES)
    absent = [f for f in files if not (upstream / f.split("::")[0]).exists()]
    if absent:
        sys.exit(f"not in {upstream}: {', '.join(absent)}")
    ours_path = None if args.installed else REPO / "python"
    if ours_path is not None and not any((ours_path / "atb_prediction").glob("_core*.so")):
        sys.exit(f"{ours_path}/atb_prediction has no built _core extension: run `make build`")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="upstream-suite-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"upstream checkout: {upstream}")
    print(f"ours:              {_describe_ours(args.python, ours_path)}")
    print(f"test files:        {len(files)}; logs in {workdir}")
    sides = {}
    for side in ("upstream", "ours"):
        print(f"running on {side} ...", flush=True)
        sides[side] = run_side(
            side, files, upstream, args.python, ours_path, workdir, reuse=args.reuse
        )
    comparison = compare(files, sides["upstream"], sides["ours"])
    timeouts = [f for f in comparison.of("real") if f.timed_out]
    if timeouts and not args.no_recheck:
        print(f"running {len(timeouts)} that timed out on ours again ...")
        nodeids = [f.nodeid for f in timeouts]
        again = run_side(
            "ours", nodeids, upstream, args.python, ours_path, workdir, args.reuse, "ours-retry"
        )
        for failure in timeouts:
            failure.retry = again.results.get(failure.nodeid)
    unexplained = comparison.of("real")
    if unexplained and not args.no_recheck:
        print(f"rechecking {len(unexplained)} on upstream with the real onnxruntime ...")
        nodeids = [f.nodeid for f in unexplained]
        recheck = run_side(
            "upstream-ort", nodeids, upstream, args.python, None, workdir, reuse=args.reuse
        )
        for failure in unexplained:
            failure.upstream_ort = recheck.results.get(failure.nodeid) or Result(
                "missing", _why_missing(failure.nodeid, recheck)
            )
    print_report(comparison, args.json)
    print(f"  logs: {workdir}")
    return 1 if comparison.of("real") else 0


def _describe_ours(python: str, ours_path: Path | None) -> str:
    env = dict(os.environ)
    if ours_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ours_path), env.get("PYTHONPATH")]))
    found = subprocess.run(
        [python, "-c", "import atb_prediction as a, os; print(os.path.dirname(a.__file__))"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        sys.exit(f"{python} cannot import atb_prediction:\n{found.stderr}")
    return found.stdout.strip()


_DISCOVER_ANALYSIS = textwrap.dedent(
    """
    import ast, json, sys
    from collections import defaultdict
    from coverage import CoverageData

    data = CoverageData(sys.argv[1])
    data.read()
    reached = defaultdict(set)
    for name in sys.argv[2:]:
        path = [f for f in data.measured_files() if f.endswith("/" + name)]
        if not path:
            continue
        tree = ast.parse(open(path[0]).read())
        bodies = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                bodies.update(range(node.lineno, node.end_lineno + 1))
        for line, contexts in data.contexts_by_lineno(path[0]).items():
            if line in bodies:
                for context in contexts:
                    if context:
                        reached[context.rsplit("|", 1)[0]].add(name)
    print(json.dumps({test: sorted(files) for test, files in reached.items()}))
    """
)


def cmd_discover(args: argparse.Namespace) -> int:
    upstream = args.upstream.resolve()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="upstream-discover-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    coverage_file = workdir / ".coverage"
    env = side_env("upstream", upstream, None, workdir)
    env["COVERAGE_FILE"] = str(coverage_file)
    extra = ["--cov=src/prediction", "--cov-context=test", "--cov-report="]
    command = pytest_command(args.python, args.paths, extra)
    print(f"$ {' '.join(command)}  (log: {workdir / 'discover.log'})", flush=True)
    with (workdir / "discover.log").open("w", encoding="utf-8") as log:
        subprocess.run(command, cwd=upstream, env=env, stdout=log, stderr=subprocess.STDOUT)
    analysed = subprocess.run(
        [args.python, "-c", _DISCOVER_ANALYSIS, str(coverage_file), *REPLACED_FILES],
        capture_output=True,
        text=True,
        check=True,
    )
    reached: dict[str, list[str]] = json.loads(analysed.stdout)
    per_file: Counter[str] = Counter(test.split("::")[0] for test in reached)
    per_module: Counter[str] = Counter(m for modules in reached.values() for m in modules)
    print(f"\n{len(reached)} tests in {len(per_file)} files run code of a replaced module:")
    for name, count in sorted(per_file.items()):
        print(f"  {count:5}  {name}")
    print("\nby module: " + ", ".join(f"{m} {n}" for m, n in sorted(per_module.items())))
    importing = sorted(set(_importing_files(upstream, args.paths)) - set(per_file))
    print(f"\n{len(importing)} more files import a replaced module without running its code:")
    for name in importing:
        print(f"         {name}")
    selected = sorted({*per_file, *importing})
    print("\nDEFAULT_FILES = (\n" + "".join(f'    "{f}",\n' for f in selected) + ")")
    return 0


#: An import of (or a patch target in) a replaced module, as a test file spells it.
_IMPORTS_REPLACED = re.compile(
    r"src\.prediction\.(config|models\.(registry|onnx_runner|exceptions|version_resolver))\b"
    r"|from src\.prediction import [^#\n]*PredictionConfig"
)


def _importing_files(upstream: Path, paths: Sequence[str]) -> Iterable[str]:
    """Upstream test files under ``paths`` that name a replaced module."""
    for path in paths:
        root = upstream / path
        for test in [root] if root.is_file() else sorted(root.rglob("test_*.py")):
            if _IMPORTS_REPLACED.search(test.read_text(encoding="utf-8")):
                yield test.relative_to(upstream).as_posix()


def cmd_setup(args: argparse.Namespace) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 (the venv gets this interpreter)
        sys.exit("upstream and this package need Python 3.11 or newer: run this with python3.11")
    venv = args.venv.resolve()
    python = venv / "bin" / "python"
    requirements = (args.upstream / "requirements.txt").read_text(encoding="utf-8")
    kept = [line for line in _requirement_lines(requirements) if not _skipped(line)]
    _check(sys.executable, "-m", "venv", str(venv))
    _check(str(python), "-m", "pip", "install", "-q", "--upgrade", "pip")
    _check(str(python), "-m", "pip", "install", "-q", *kept, *EXTRA_REQUIREMENTS)
    print(f"{venv}: upstream's test requirements without {', '.join(SKIPPED_REQUIREMENTS)}")
    return 0


def _requirement_lines(text: str) -> Iterable[str]:
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            yield line


def _skipped(line: str) -> bool:
    match = _REQUIREMENT_NAME.match(line)
    return match is not None and match.group(1).lower() in {
        name.lower() for name in SKIPPED_REQUIREMENTS
    }


def _check(*command: str) -> None:
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, check=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="compare upstream's tests on upstream and on ours")
    discover = commands.add_parser("discover", help="find the tests that reach replaced modules")
    setup = commands.add_parser("setup", help="create a venv with upstream's test dependencies")
    for sub in (run, discover, setup):
        sub.add_argument("--upstream", type=Path, required=True, help="upstream bot checkout")
    for sub in (run, discover):
        sub.add_argument("--python", default=sys.executable, help="interpreter of the test venv")
        sub.add_argument("--workdir", help="where logs go (default: a new temporary folder)")
    run.add_argument("files", nargs="*", help="upstream test files (default: DEFAULT_FILES)")
    run.add_argument("--installed", action="store_true", help="test the installed package")
    run.add_argument("--json", type=Path, help="also write the per-test results here")
    run.add_argument(
        "--reuse",
        action="store_true",
        help="read the results a finished earlier run left in --workdir instead of running again",
    )
    run.add_argument(
        "--no-recheck",
        action="store_true",
        help="do not run ours' timeouts again, nor its unexplained failures on upstream with "
        "the real onnxruntime",
    )
    discover.add_argument("paths", nargs="*", default=["tests"], help="upstream test paths")
    setup.add_argument("--venv", type=Path, required=True, help="virtual environment to create")

    args = parser.parse_args(argv)
    handler = {"run": cmd_run, "discover": cmd_discover, "setup": cmd_setup}[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
