"""Helpers shared by the command-line, promotion and demo tests: where the fixture registry is,
how to copy it, and how to run the installed ``atb`` executable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import FIXTURE_REGISTRY, linear_model
from conftest import writable_copy as copy_registry

__all__ = ["FIXTURE_REGISTRY", "copy_registry"]

SUBPROCESS_TIMEOUT = 120


def atb_command() -> list[str]:
    """The installed ``atb`` script next to this interpreter, else ``python -m atb_prediction``."""
    script = shutil.which("atb", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "atb_prediction"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child ``atb``: no colour forcing, no registry from the caller."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FORCE_COLOR", "NO_COLOR", "MODEL_REGISTRY_PATH", "COLUMNS")
    }
    env.update(extra)
    return env


def run_atb(
    *args: str | os.PathLike[str],
    expect: int | None = 0,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``atb ARGS`` and check its exit status (``expect=None`` accepts any)."""
    completed = subprocess.run(
        [*atb_command(), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        env=env if env is not None else clean_env(),
        cwd=cwd,
        check=False,
    )
    if expect is not None and completed.returncode != expect:
        raise AssertionError(
            f"atb {' '.join(map(str, args))} exited {completed.returncode}, expected {expect}\n"
            f"--- stdout\n{completed.stdout}\n--- stderr\n{completed.stderr}"
        )
    return completed


def run_json(*args: str | os.PathLike[str], expect: int | None = 0) -> Any:
    """Run ``atb ARGS --json`` and parse its one JSON document."""
    completed = run_atb(*args, "--json", expect=expect)
    return json.loads(completed.stdout)


def assert_fits(text: str, width: int = 80) -> None:
    """Every line of ``text`` fits ``width`` columns, a line naming the registry's path aside
    (a path is printed whole; pytest's temporary folders grow longer with every run)."""
    too_wide = [
        line
        for line in text.splitlines()
        if len(line) > width and not line.startswith("Registry /")
    ]
    assert not too_wide, f"lines wider than {width}: {too_wide}"


def assert_one_error_line(stderr: str) -> None:
    """An error is one line on stderr, without a traceback."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert ": error: " in lines[0]


def write_small_registry(
    root: Path,
    versions: tuple[str, ...] = ("2025-01-01_1h_v1", "2025-01-02_1h_v1", "2025-01-03_1h_v1"),
    *,
    symbol: str = "BTCUSDT",
    model_type: str = "basic",
    latest: str | None = None,
) -> Path:
    """Write one model type with small, valid bundles (distinct models) and return its folder.

    ``latest`` names the version the ``latest`` symlink points at; ``None`` writes no pointer.
    """
    directory = root / symbol / model_type
    for seed, version in enumerate(versions):
        bundle = directory / version
        bundle.mkdir(parents=True)
        (bundle / "model.onnx").write_bytes(linear_model(4, 3, seed=seed))
        metadata = {
            "symbol": symbol,
            "model_type": model_type,
            "timeframe": "1h",
            "version_id": version,
            "sequence_length": 4,
            "feature_names": ["close", "volume", "rsi"],
            "created_at": f"{version[:10]}T00:00:00+00:00",
        }
        (bundle / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    if latest is not None:
        os.symlink(latest, directory / "latest")
    return directory
