"""The demo's models ship as package data; ``scripts/make_demo_models.py`` makes them with
``onnx.helper``. The shipped files must be exactly what the script makes, and run alike in our
session and in the ``onnxruntime`` package."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from atb_prediction import OnnxSession
from atb_prediction.demo import DEMO_VERSIONS, demo_model_name
from conftest import reference_session

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_demo_models.py"
SHIPPED = Path(__file__).resolve().parents[2] / "python" / "atb_prediction" / "demo_models"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_demo_models", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated() -> dict[str, bytes]:
    models: dict[str, bytes] = load_script().demo_models()
    return models


def test_the_shipped_models_are_what_the_script_makes(generated: dict[str, bytes]) -> None:
    shipped = {path.name: path.read_bytes() for path in SHIPPED.glob("*.onnx")}
    assert set(shipped) == {demo_model_name(v) for v in DEMO_VERSIONS}
    assert shipped == generated
    assert all(len(data) < 8192 for data in shipped.values())  # a few KB each


@pytest.mark.parametrize("version", DEMO_VERSIONS, ids=demo_model_name)
def test_each_shipped_model_runs_like_onnxruntime(version: object) -> None:
    path = SHIPPED / demo_model_name(version)  # type: ignore[arg-type]
    session = OnnxSession(path)
    (spec,) = session.inputs
    assert spec.shape[1:] == (version.sequence_length, len(version.feature_names))  # type: ignore[attr-defined]
    x = np.random.default_rng(0).random((2, *spec.shape[1:]), dtype=np.float32)
    (ours,) = session.run(x)
    (expected,) = reference_session(path).run(None, {spec.name: x})
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-7)


def test_the_script_is_deterministic() -> None:
    script = load_script()
    first = script.linear_sequence_model(20, 3, seed=4)
    assert first == script.linear_sequence_model(20, 3, seed=4)
    assert first != script.linear_sequence_model(20, 3, seed=5)
