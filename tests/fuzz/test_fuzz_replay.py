"""Replay every case the fuzzer saved (``tests/fuzz_cases/``), and property tests of the loaders.

Each saved case is a registry that once crashed, hung or raised; each must now pass, replayed in a
child process under the fuzzer's memory limit, so that a crash or a hang fails the test instead of
the test run. ``tests/fuzz_cases/pending/`` holds findings whose fix has not landed: those are not
replayed here, and a case that fails in exactly the way of a pending one is marked xfail (named in
the report), so that a known bug hides nothing else. Once fixed, pending cases move up a folder.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from atb_prediction import scan_registry
from atb_prediction._fuzz.cases import BASE_FILES, build_case
from atb_prediction._fuzz.runner import known_findings, replay, signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ_CASES = Path(__file__).parent.parent / "fuzz_cases"
CASES = sorted(FUZZ_CASES.glob("*.json"))
PENDING = known_findings(FUZZ_CASES / "pending")


@pytest.mark.parametrize("case", CASES, ids=[case.stem for case in CASES])
def test_a_saved_fuzz_case_no_longer_fails(case: Path) -> None:
    finding = replay(case)
    if finding is not None and signature(*finding) in PENDING:
        pytest.xfail(f"fails as pending {Path(PENDING[signature(*finding)]).name} does")
    assert finding is None, f"{finding[0]}: {(finding[1] or '')[-3000:]}"


def test_the_seed_cases_are_really_hostile(tmp_path: Path) -> None:
    """The NaN seed case holds a token Python rejects, so the replay exercises the fix."""
    mutations = json.loads(
        (Path(__file__).parent.parent / "fuzz_cases/case-seed-nan-token.json").read_text()
    )
    root = build_case(tmp_path, mutations["mutations"])
    text = (root / mutations["mutations"][0]["file"]).read_text()
    assert "-NaN" in text
    with pytest.raises(ValueError):
        json.loads(text)
    assert mutations["mutations"][0]["file"] in BASE_FILES


# --- properties of the JSON reader ------------------------------------------------------------

_TOKENS = st.sampled_from(
    [
        "NaN",
        "-NaN",
        "Infinity",
        "-Infinity",
        "1",
        "-",
        ".5",
        "e3",
        '"s"',
        "null",
        " ",
        "[",
        "]",
        ",",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TOKENS, min_size=1, max_size=6).map("".join))
def test_the_scan_accepts_a_json_value_only_when_python_does(value: str) -> None:
    """Whatever the scan accepts, Python's ``json`` reads to the same values."""
    from conftest import linear_model

    with tempfile.TemporaryDirectory() as folder:
        bundle = Path(folder) / "BTCUSDT/basic/2025-01-01_1h_v1"
        bundle.mkdir(parents=True)
        (bundle / "model.onnx").write_bytes(linear_model(seq=4, features=3))
        (bundle / "metrics.json").write_text('{"value": ' + value + "}")
        index = scan_registry(folder)
        try:
            expected = json.loads('{"value": ' + value + "}")
        except ValueError:
            assert len(index.versions) == 0, value
            return
        if len(index.versions) == 1:
            # json.dumps writes NaN as NaN on both sides, so equal text means equal values.
            assert json.dumps(index.versions[0].metrics) == json.dumps(expected), value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64), st.sampled_from(["model.onnx", "metadata.json"]))
def test_arbitrary_bytes_in_a_bundle_file_never_raise_from_scan_or_registry(
    data: bytes, name: str
) -> None:
    from atb_prediction import PredictionConfig, PredictionModelRegistry

    with tempfile.TemporaryDirectory() as folder:
        root = build_case(Path(folder), [])
        (root / "BTCUSDT/basic/2025-01-02_1h_v1" / name).write_bytes(data)
        index = scan_registry(root)
        assert len(index.versions) + len(index.invalid) >= 3
        config = PredictionConfig(model_registry_path=os.fspath(root), intra_op_threads=1)
        registry = PredictionModelRegistry(config)
        assert "ETHUSDT" in {b.symbol for b in registry.list_bundles()}
