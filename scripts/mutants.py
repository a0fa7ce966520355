"""Mutation testing of what a change touched (``make mutants``): mutmut over the Python modules,
cargo-mutants over the Rust core, then the mutants that no test killed are printed.

Usage::

    python scripts/mutants.py                  # files changed since main, committed or not
    python scripts/mutants.py src/core/backtest/sweep.rs python/atb_prediction/promotion/
    python scripts/mutants.py --tests "tests/promotion/test_promotion.py" \
        python/atb_prediction/promotion/

Without paths, the Python files under ``python/atb_prediction/`` changed since the merge base
with ``--base`` are mutated whole, and the Rust files under ``src/`` only where the diff touches
them (``cargo mutants --in-diff``). Paths given are mutated whole; a folder stands for the files
in it.

Python: mutmut 3 imports the code it mutates from a copy laid out as ``src/<package>``, and runs
pytest in its own folder. This package's source is under ``python/`` and its tests need the
fixture registry's ``latest`` symlinks, so the run is staged in ``target/mutants/python``: the
package (with the built extension) under ``src/``, the tests copied with their symlinks, and a
``pyproject.toml`` naming the files to mutate and the tests to run (:func:`tests_of` of each
file, unless ``--tests``). ``PYTHONPATH`` points at the mutated copy, so the tests that run
``atb`` in a child process run the mutant too; and, through ``scripts/mutmut_subprocesses.py``
(staged on that ``PYTHONPATH``), mutmut also sees which lines and functions those children ran,
so the command line's code that only ``atb`` in a child reaches is mutated and its mutants are
run by those tests.

Rust: most of the core's tests are the Python suite, so cargo-mutants runs with ``$CARGO``
pointing at this script (``cargo-shim``). For cargo-mutants' build it builds the core's tests
(``--no-default-features``) and the extension module from the mutated copy; for its test it runs
``cargo test --no-default-features`` and then the pytest files that exercise the mutated file
(:func:`tests_of`) against that extension. Builds share ``target/mutants/build``, so the
dependencies are compiled once.

Exit status: 0 when every mutant was killed, 1 when some survived, 2 when a tool failed.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

import mutmut_child

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "python" / "atb_prediction"
TESTS = ROOT / "tests"
CORE = ROOT / "src" / "core"
WORK = ROOT / "target" / "mutants"
PYTHON_STAGE = WORK / "python"
#: Staged on the run's PYTHONPATH: scripts/mutmut_subprocesses.py, its child side, and the
#: ``sitecustomize.py`` that starts that in every process.
HOOKS = PYTHON_STAGE / "hooks"
RUST_BUILD = WORK / "build"
TOOLS = ROOT / "target" / "tools"
#: The cargo-mutants release installed when none is on PATH (its options and output files are
#: what this script relies on).
CARGO_MUTANTS_VERSION = "27.1.0"
#: The extension module the core builds, as Python imports it.
EXTENSION = "_core.abi3.so"

#: mutmut calls every function of a mutated module through its trampoline, a frame outside the
#: package. ``_caller.warn_caller`` names the first frame outside the package as the line that
#: called it, so under mutmut it would name the trampoline, and every test of which line a
#: warning names would fail on the unmutated code. So the staged copy of ``_caller.py`` also
#: steps over mutmut's frames (:func:`_step_over_mutmut`), and is not mutated itself.
MUTMUT_DO_NOT_MUTATE = ("_caller.py",)
#: The line of ``_caller.py`` that steps over the package's frames, and what the staged copy
#: has instead.
_CALLER_LOOP = (
    "while frame is not None and Path(frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE):"
)
_CALLER_LOOP_STAGED = (
    "while frame is not None and any(Path(frame.f_code.co_filename).resolve().is_relative_to(p)"
    " for p in (_PACKAGE, Path(__import__('mutmut').__file__).resolve().parent)):"
)

#: mutmut's verdicts that mean no test was seen to kill a mutant (``mutmut results`` lists
#: every verdict but "killed").
_MUTMUT_LIVED = ("survived", "no tests", "timeout", "suspicious", "skipped", "not checked")
_MUTMUT_RESULT = re.compile(r"^\s+(\S+): (.+)$")


def run(
    command: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Run ``command``, echoed, with its output shown; its exit status."""
    print("+", " ".join(map(str, command)), flush=True)
    return subprocess.run(list(map(str, command)), cwd=cwd, env=env, check=False).returncode


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


# --- what to mutate -----------------------------------------------------------------------------


def changed_since(base: str) -> tuple[list[Path], str]:
    """Files changed since the merge base with ``base`` (committed, uncommitted or new), and the
    diff of the Rust ones for ``--in-diff``."""
    merge_base = git("merge-base", base, "HEAD").strip()
    names = git("diff", "--name-only", merge_base).splitlines()
    new = git("ls-files", "--others", "--exclude-standard").splitlines()
    diff = git("diff", merge_base, "--", "src")
    for name in new:
        if name.startswith("src/") and name.endswith(".rs"):
            # `git diff --no-index` exits 1 when the files differ, which they always do here.
            diff += subprocess.run(
                ["git", "diff", "--no-index", "--", "/dev/null", name],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            ).stdout
    paths = [ROOT / name for name in dict.fromkeys(names + new) if (ROOT / name).is_file()]
    return paths, diff


def expand(paths: Sequence[Path], suffix: str) -> list[Path]:
    """The files ending in ``suffix`` among ``paths`` and in the folders among them."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob(f"*{suffix}") if "__pycache__" not in p.parts)
            )
        elif path.name.endswith(suffix):
            files.append(path)
    return list(dict.fromkeys(files))


def split(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """``paths`` as (Python files of the package that mutmut can test, Rust files of the
    core)."""
    unmutated = {PACKAGE / name for name in MUTMUT_DO_NOT_MUTATE}
    python = [p for p in expand(paths, ".py") if p.is_relative_to(PACKAGE) and p not in unmutated]
    rust = [p for p in expand(paths, ".rs") if p.is_relative_to(ROOT / "src")]
    return python, rust


# --- Python: mutmut -----------------------------------------------------------------------------


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def _step_over_mutmut(caller: Path) -> None:
    """Makes the staged ``_caller.py`` step over mutmut's trampolines as over the package's own
    frames (see :data:`MUTMUT_DO_NOT_MUTATE`)."""
    text = caller.read_text(encoding="utf-8")
    if text.count(_CALLER_LOOP) != 1:
        raise SystemExit(
            f"{caller.name} no longer has the loop scripts/mutants.py adapts for mutmut: "
            "update _CALLER_LOOP"
        )
    caller.write_text(text.replace(_CALLER_LOOP, _CALLER_LOOP_STAGED), encoding="utf-8")


def stage_python(files: Sequence[Path], tests: Sequence[str]) -> None:
    """A fresh ``target/mutants/python`` laid out as mutmut expects (see the module docstring)."""
    if not (PACKAGE / EXTENSION).is_file():
        raise SystemExit(f"{PACKAGE / EXTENSION} is missing: run `make install` first")
    shutil.rmtree(PYTHON_STAGE, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", ".hypothesis", ".pytest_cache")
    shutil.copytree(PACKAGE, PYTHON_STAGE / "src" / PACKAGE.name, ignore=ignore)
    _step_over_mutmut(PYTHON_STAGE / "src" / PACKAGE.name / "_caller.py")
    # mutmut makes this copy too (mutating it later), but only once it runs: a PYTHONPATH entry
    # missing when Python starts is never looked at again, and the tests would import the
    # package unmutated from its editable install.
    shutil.copytree(PYTHON_STAGE / "src", PYTHON_STAGE / "mutants" / "src")
    # mutmut copies a `tests/` folder without its symlinks; this copy keeps them, and mutmut
    # finds no `tests/` of its own to copy over it.
    shutil.copytree(
        ROOT / "tests", PYTHON_STAGE / "mutants" / "tests", symlinks=True, ignore=ignore
    )
    # Some tests read files of the repository beside them (the demo-model script, the JSON
    # schemas): the rest of the checkout is linked in.
    staged = PYTHON_STAGE / "mutants"
    for entry in ROOT.iterdir():
        skipped = entry.name.startswith(".") or entry.name in ("target", "pyproject.toml")
        if not skipped and not (staged / entry.name).exists():
            (staged / entry.name).symlink_to(entry)
    # Tests that run `atb` in a child process: see scripts/mutmut_subprocesses.py.
    HOOKS.mkdir()
    for hook in ("mutmut_child.py", "mutmut_subprocesses.py"):
        shutil.copy2(ROOT / "scripts" / hook, HOOKS / hook)
    (HOOKS / "sitecustomize.py").write_text(
        "import mutmut_child\n\nmutmut_child.start()\n", encoding="utf-8"
    )
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["pytest"]
    mutmut_options = {
        "source_paths": [f"src/{PACKAGE.name}"],
        "only_mutate": [f"src/{p.relative_to(PACKAGE.parent)}" for p in files],
        # Lines the selected tests never run, and code marked `pragma: no cover` (the Windows
        # branches), are left alone: coverage already tells of them, and every mutant there
        # would survive.
        "mutate_only_covered_lines": True,
        # The default ("fork") runs the whole selection twice in mutmut's own process and forks
        # each mutant from it; the suite's process-wide state (ONNX Runtime's thread pools,
        # warnings logged once per process) must start fresh for every run.
        "process_isolation": "forkserver",
        "pytest_add_cli_args_test_selection": list(tests),
        "pytest_add_cli_args": ["-p", "mutmut_subprocesses"],
    }
    lines = ["[tool.mutmut]"]
    lines += [f"{key} = {_toml(value)}" for key, value in mutmut_options.items()]
    lines += ["", "[tool.pytest.ini_options]"]
    lines += [f"{key} = {_toml(value)}" for key, value in pytest_options["ini_options"].items()]
    (PYTHON_STAGE / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def mutmut_verdicts(mutmut: Path, env: dict[str, str]) -> list[tuple[str, str]]:
    """``(mutant, verdict)`` of every mutant, read from ``mutmut results --all true``."""
    listed = subprocess.run(
        [mutmut, "results", "--all", "true"],
        cwd=PYTHON_STAGE,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    matches = (_MUTMUT_RESULT.match(line) for line in listed.splitlines())
    return [(match.group(1), match.group(2)) for match in matches if match]


def run_mutmut(files: Sequence[Path], tests: Sequence[str], jobs: int) -> int | None:
    """Run mutmut on ``files``; prints the survivors, returns how many (None: mutmut failed)."""
    mutmut = Path(sys.executable).parent / "mutmut"
    if not mutmut.exists():
        raise SystemExit(f"{mutmut} is missing: run `make install` (mutmut is a dev extra)")
    stage_python(files, tests)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join((str(PYTHON_STAGE / "mutants" / "src"), str(HOOKS))),
        mutmut_child.STAGE: str(PYTHON_STAGE),
    }
    env.pop("MUTANT_UNDER_TEST", None)
    if run([mutmut, "run", "--max-children", str(jobs)], cwd=PYTHON_STAGE, env=env) != 0:
        return None
    verdicts = mutmut_verdicts(mutmut, env)
    lived = [(name, verdict) for name, verdict in verdicts if verdict in _MUTMUT_LIVED]
    for name, verdict in lived:
        shown = subprocess.run(
            [mutmut, "show", name], cwd=PYTHON_STAGE, env=env, capture_output=True, text=True
        )
        print(f"\n{shown.stdout.strip() or f'# {name}: {verdict}'}")
    print(f"\nmutmut: {summary(len(verdicts), [verdict for _, verdict in lived])}")
    return len(lived)


def summary(total: int, lived: Sequence[str]) -> str:
    """``11 mutants, 1 not killed (1 timeout)``."""
    if not lived:
        return f"{total} mutants, all killed"
    counts = {verdict: lived.count(verdict) for verdict in dict.fromkeys(lived)}
    detail = ", ".join(f"{count} {verdict}" for verdict, count in counts.items())
    return f"{total} mutants, {len(lived)} not killed ({detail})"


# --- Rust: cargo-mutants ------------------------------------------------------------------------


# --- which tests exercise a module: read from the layout ------------------------------------------


def _area(folder: str) -> str:
    """The test area a source folder belongs to (``_fuzz`` is tested in ``tests/fuzz``)."""
    return folder.lstrip("_")


def _named_after(name: str) -> list[Path]:
    """The test files named after ``name``, in the singular or the plural: ``test_<name>.py``,
    ``test_<name>_*.py`` and ``test_*_<name>.py`` (``scan`` -> ``test_scan.py``, ``sweep`` ->
    ``test_sweep_live.py``, ``times`` -> ``test_series_times.py``; ``score`` ->
    ``test_scores.py``, ``scores`` -> ``test_score_rows.py``), anywhere under ``tests/``."""
    singular = name[:-1] if name.endswith("s") else name
    stems = {name, singular, f"{singular}s"}
    return sorted(
        path
        for path in TESTS.rglob("test_*.py")
        if any(
            path.stem == f"test_{stem}"
            or path.stem.startswith(f"test_{stem}_")
            or path.stem.endswith(f"_{stem}")
            for stem in stems
        )
    )


#: What a test file holds when it drives the command line: it calls ``atb_prediction.cli.main``
#: in-process, or runs ``atb`` in a child (``tests/cli_helpers.py``).
_CLI_DRIVERS = ("atb_prediction.cli import", "run_atb(", "run_json(")


def _cli_drivers() -> list[Path]:
    """The test files outside ``tests/cli/`` that drive the command line (the gate's tests run
    ``atb models promote --gate``, the sweep's ``atb backtest sweep``, ...)."""
    return sorted(
        path
        for path in TESTS.rglob("test_*.py")
        if not path.is_relative_to(TESTS / "cli")
        and any(marker in path.read_text("utf-8") for marker in _CLI_DRIVERS)
    )


def tests_of(module: Path) -> list[Path] | None:
    """The test files or area folders that exercise ``module`` (a Python module of the package
    or a Rust file under ``src/``), read from the layout: the test files named after the module
    win; else, going up its folders, the first that is a test area (``src/core/registry/`` ->
    ``tests/registry/``) or has test files named after it (``onnx/session/`` ->
    ``test_session.py``). A module of the command line (``cli/``) is also tested by every test
    file elsewhere that drives ``atb`` (:func:`_cli_drivers`). A binding in ``src/py/`` with no
    test of its own is tested where the core module of its name is. ``None``: nothing in the
    layout says, so the whole suite."""
    found = _tests_in_layout(module)
    if found is not None and module.is_relative_to(PACKAGE / "cli"):
        found = list(dict.fromkeys([*found, *_cli_drivers()]))
    return found


def _tests_in_layout(module: Path) -> list[Path] | None:
    """:func:`tests_of` but for the command line's drivers."""
    stem = module.parent.name if module.stem in ("mod", "__init__") else module.stem
    named = _named_after(stem)
    if named:
        return named
    for root in (PACKAGE, CORE, ROOT / "src"):
        if module.is_relative_to(root):
            folders = module.parent.relative_to(root).parts
            break
    else:
        return None
    for folder in reversed(folders):
        if (TESTS / _area(folder)).is_dir():
            return [TESTS / _area(folder)]
        named = _named_after(folder)
        if named:
            return named
    if module.is_relative_to(ROOT / "src" / "py"):
        twins = [p for p in CORE.rglob(f"{stem}.rs")] + [p / "mod.rs" for p in CORE.rglob(stem)]
        for twin in sorted(p for p in twins if p.is_file()):
            return tests_of(twin)
    return None


def tests_for(modules: Sequence[Path]) -> list[str]:
    """The pytest paths (repository-relative) that exercise ``modules``: the union of
    :func:`tests_of`, or the whole suite when one of them has none."""
    selected: dict[str, None] = {}
    for module in modules:
        tests = tests_of(module)
        if tests is None:
            return ["tests"]
        selected.update(dict.fromkeys(str(test.relative_to(ROOT)) for test in tests))
    return list(selected)


def run_cargo_mutants(
    cargo_mutants: str,
    files: Sequence[Path],
    diff: str | None,
    tests: Sequence[str],
    name_re: str | None = None,
) -> int | None:
    """Run cargo-mutants on ``files`` (only where ``diff`` touches them, when given); prints
    the survivors, returns how many (None: cargo-mutants failed)."""
    WORK.mkdir(parents=True, exist_ok=True)
    shim = WORK / "cargo-shim"
    shim.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" cargo-shim "$@"\n',
        encoding="utf-8",
    )
    shim.chmod(0o755)
    real_cargo = os.environ.get("CARGO") or shutil.which("cargo")
    if real_cargo is None:
        raise SystemExit("cargo is not on PATH")
    names = [str(p.relative_to(ROOT)) for p in files]
    env = {
        **os.environ,
        "CARGO": str(shim),
        "MUTANTS_REAL_CARGO": real_cargo,
        "MUTANTS_TESTS": " ".join(tests),
        "MUTANTS_FILES": " ".join(names),
    }
    command = [cargo_mutants, "mutants", "--dir", str(ROOT), "--output", str(WORK)]
    if diff is not None:
        (WORK / "rust.diff").write_text(diff, encoding="utf-8")
        command += ["--in-diff", str(WORK / "rust.diff")]
    for name in names:
        command += ["--file", name]
    if name_re:
        command += ["--re", name_re]
    # 0: all caught; 2: some missed; 3: some timed out (cargo-mutants' exit codes).
    done = (0, 2, 3)
    if all(p.is_relative_to(CORE) for p in files):
        # First the core's own tests alone (a debug build of them, no extension, no pytest: a
        # few seconds a mutant), then everything on the mutants they missed (`--iterate` skips
        # those caught before).
        print("First pass: the core's Rust tests only", flush=True)
        if run(command, env={**env, "MUTANTS_CORE_ONLY": "1"}) not in done:
            return None
        command += ["--iterate"]
    if run(command, env=env) not in done:
        return None
    outcomes = WORK / "mutants.out"
    verdicts = ("caught", "previously_caught", "unviable", "missed", "timeout")
    listed = {
        verdict: (outcomes / f"{verdict}.txt").read_text().splitlines()
        for verdict in verdicts
        if (outcomes / f"{verdict}.txt").exists()
    }
    lived = [
        (line, verdict) for verdict in ("missed", "timeout") for line in listed.get(verdict, [])
    ]
    for line, verdict in lived:
        print(f"  {verdict}: {line}")
    total = sum(len(lines) for lines in listed.values())
    print(f"\ncargo-mutants: {summary(total, [verdict for _, verdict in lived])}")
    if lived:
        print(f"  (diffs and logs: {outcomes})")
    return len(lived)


def cargo_shim(args: list[str]) -> int:
    """``$CARGO`` for cargo-mutants: in its build folder, ``cargo test --no-run`` also builds
    the extension module, and ``cargo test`` also runs the pytest files of the mutated file.
    Every other cargo command passes through."""
    cargo = os.environ["MUTANTS_REAL_CARGO"]
    if not args or args[0] != "test":
        os.execv(cargo, [cargo, *args])
    scratch = Path.cwd()
    env = {**os.environ, "CARGO_TARGET_DIR": str(RUST_BUILD)}

    def cargo_run(cargo_args: list[str], extra_env: dict[str, str] | None = None) -> int:
        # The descriptors stay open: cargo-mutants hands cargo its jobserver through them.
        command = [cargo, *cargo_args]
        run_env = {**env, **(extra_env or {})}
        return subprocess.run(command, env=run_env, check=False, close_fds=False).returncode

    core_args = args if "--no-default-features" in args else [*args, "--no-default-features"]
    core_only = os.environ.get("MUTANTS_CORE_ONLY") == "1"
    if "--no-run" in args:
        if cargo_run(core_args):
            return 1
        if core_only:
            return 0
        # The extension as maturin builds it, with a release profile that builds faster: no
        # LTO, more codegen units, incremental.
        extension = {
            "PYO3_PYTHON": sys.executable,
            "PYO3_BUILD_EXTENSION_MODULE": "1",
            "CARGO_PROFILE_RELEASE_LTO": "false",
            "CARGO_PROFILE_RELEASE_CODEGEN_UNITS": "16",
            "CARGO_PROFILE_RELEASE_INCREMENTAL": "true",
        }
        if cargo_run(["build", "--release", "--lib"], extension):
            return 1
        built = RUST_BUILD / "release" / "lib_core.so"
        shutil.copy2(built, scratch / "python" / PACKAGE.name / EXTENSION)
        return 0
    python_env = {**env, "PYTHONPATH": str(scratch / "python")}
    # ONNX Runtime's library, as the unmutated package finds it (the core's tests load it).
    library = subprocess.run(
        [
            sys.executable,
            "-c",
            "from atb_prediction._runtime import find_library; print(find_library())",
        ],
        env={**env, "PYTHONPATH": str(PACKAGE.parent)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if cargo_run(core_args, {"ORT_DYLIB_PATH": library}):
        return 1
    if core_only:
        return 0
    files = os.environ["MUTANTS_FILES"].split()
    mutated = [
        name for name in files if not filecmp.cmp(scratch / name, ROOT / name, shallow=False)
    ]
    tests = os.environ["MUTANTS_TESTS"].split() or tests_for([ROOT / n for n in mutated or files])
    pytest = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    return run(pytest, cwd=ROOT, env=python_env)


def cargo_mutants_binary() -> str:
    """cargo-mutants from PATH, else the one in ``target/tools``, installed there when missing."""
    found = shutil.which("cargo-mutants")
    if found is not None:
        return found
    local = TOOLS / "bin" / "cargo-mutants"
    if not local.exists():
        install = ["cargo", "install", "--locked", "--root", str(TOOLS)]
        if run([*install, "--version", CARGO_MUTANTS_VERSION, "cargo-mutants"]) != 0:
            raise SystemExit("cannot install cargo-mutants from crates.io")
    return str(local)


# --- the command --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["cargo-shim"]:
        return cargo_shim(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders to mutate whole")
    parser.add_argument("--base", default="main", help="diff against this branch (default main)")
    parser.add_argument(
        "--tests",
        default="",
        help="pytest files to run, space separated (default: those the layout names for each "
        "module, see tests_of)",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="mutmut workers")
    parser.add_argument(
        "--rust-re", help="only the Rust mutants whose name matches (cargo-mutants --re)"
    )
    args = parser.parse_args(argv)

    diff: str | None = None
    if args.paths:
        missing = [p for p in args.paths if not (ROOT / p).exists()]
        if missing:
            parser.error(f"no such file or folder: {', '.join(map(str, missing))}")
        python, rust = split([(ROOT / p).resolve() for p in args.paths])
    else:
        changed, diff = changed_since(args.base)
        python, rust = split(changed)
        print(f"changed since {args.base}: {len(python)} Python and {len(rust)} Rust file(s)")
    if not python and not rust:
        print("nothing to mutate: no Python module of the package and no Rust file of the core")
        return 0
    tests = args.tests.split()
    lived: list[int | None] = []
    if python:
        lived.append(run_mutmut(python, tests or tests_for(python), args.jobs))
    if rust:
        binary = cargo_mutants_binary()
        lived.append(run_cargo_mutants(binary, rust, diff, tests, args.rust_re))
    if None in lived:
        return 2
    return 1 if any(lived) else 0


if __name__ == "__main__":
    sys.exit(main())
