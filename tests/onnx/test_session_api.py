"""``OnnxSession`` as an ``onnxruntime`` user calls it: ``run(output_names, input_feed)``, and
options refused with a ``ValueError`` that names them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from atb_prediction import OnnxSession
from conftest import reference_session


@pytest.fixture
def feed() -> dict[str, np.ndarray]:
    return {
        "prices": np.array([[1.0, 2.0, 3.0]], dtype=np.float32),
        "counts": np.array([[0, 2, -1]], dtype=np.int64),
    }


def test_run_with_onnxruntimes_argument_order(
    two_inputs: bytes, feed: dict[str, np.ndarray]
) -> None:
    session = OnnxSession(two_inputs)
    expected = reference_session(two_inputs).run(None, feed)
    for ours in (session.run(None, feed), session.run(feed)):
        assert len(ours) == 2
        for got, want in zip(ours, expected, strict=True):
            np.testing.assert_array_equal(got, want)
    (positive,) = session.run(["positive"], feed)
    np.testing.assert_array_equal(positive, expected[1])
    swapped = session.run(["positive", "weighted"], feed)
    np.testing.assert_array_equal(swapped[1], expected[0])
    named = session.run(["weighted"], feed, as_dict=True)
    assert list(named) == ["weighted"]


@pytest.mark.parametrize(
    ("names", "message"),
    [(["nope"], 'no output "nope"'), ("weighted", "list of output names"), ([1], "list")],
)
def test_run_refuses_unknown_output_names(
    two_inputs: bytes, feed: dict[str, np.ndarray], names: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        OnnxSession(two_inputs).run(names, feed)  # type: ignore[call-overload]


@pytest.mark.parametrize("option", ["intra_op_threads", "inter_op_threads"])
@pytest.mark.parametrize("value", [-1, 0, -(2**40)])
def test_thread_options_are_value_errors_naming_them(
    tiny_model: bytes, tmp_path: Path, option: str, value: int
) -> None:
    with pytest.raises(ValueError, match=option):
        OnnxSession(tiny_model, **{option: value})  # type: ignore[arg-type]
