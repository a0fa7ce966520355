"""One count of the cores to use (``core::parallel::usable_cores``: the CPU affinity capped by
the cgroup's CPU quota, which the core's own tests check against quota files): sweeps, batches,
the scan and the scores all size their workers by it, so a process confined to fewer cores than
the machine has uses only those."""

from __future__ import annotations

import json
import os

import pytest
from atb_prediction._core import usable_cores
from atb_prediction.backtest.engine import LocalEngine
from conftest import run_python


def test_a_sweep_uses_the_cores_the_core_counts() -> None:
    assert LocalEngine().workers == usable_cores() >= 1


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_a_process_confined_to_one_core_counts_one_everywhere() -> None:
    code = (
        "import json, os\n"
        "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
        "from atb_prediction._core import usable_cores\n"
        "from atb_prediction.backtest.engine import LocalEngine\n"
        "print(json.dumps([usable_cores(), LocalEngine().workers]))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [1, 1]
