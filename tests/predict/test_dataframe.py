"""A pandas DataFrame given to ``predict``/``predict_batch`` is read by column name, in the
bundle's ``feature_names`` order, never by position; pandas itself stays optional."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from atb_prediction import InvalidInputError, PredictionConfig, PredictionModelRegistry

pandas = pytest.importorskip("pandas")  # the test extra installs it: never skipped in make test


@pytest.fixture(scope="module")
def bundle(fixture_registry: Path):  # type: ignore[no-untyped-def]
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(fixture_registry)))
    return registry.select_bundle(symbol="BTCUSDT", model_type="basic", timeframe="1h")


def test_columns_are_taken_by_name(bundle) -> None:  # type: ignore[no-untyped-def]
    names = bundle.metadata["feature_names"]
    window = np.random.default_rng(3).random((120, len(names)))
    frame = pandas.DataFrame(window, columns=names)
    expected = bundle.runner.predict(window)
    shuffled = frame[list(reversed(names))].assign(extra=1.0)  # other order, one column more
    assert bundle.runner.predict(shuffled).price == expected.price
    assert bundle.runner.predict(frame).price == expected.price
    assert bundle.runner.predict(np.ascontiguousarray(window[:, ::-1])).price != expected.price


def test_missing_columns_are_named(bundle) -> None:  # type: ignore[no-untyped-def]
    names = bundle.metadata["feature_names"]
    frame = pandas.DataFrame(np.zeros((120, 3)), columns=names[:3])
    with pytest.raises(InvalidInputError, match=f'"{names[3]}", "{names[4]}"'):
        bundle.runner.predict(frame)
    with pytest.raises(InvalidInputError, match=names[4]):
        bundle.runner.predict_batch(frame)


def test_the_package_never_imports_pandas() -> None:
    code = (
        "import sys, atb_prediction.cli, atb_prediction.models.registry\n"
        "print('pandas' in sys.modules)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert completed.stdout.strip() == "False"
