"""Checks that a bundle's ONNX input agrees with its feature schema and metadata.

A bundle whose model expects ``[batch, 120, 5]`` while ``feature_schema.json`` lists 3 features
would fail (or, worse, silently mis-read columns) at the first live prediction. The rule lives in
the Rust core (``bundle::shape_problems``): the registry runs it when a bundle opens and records
the problems on the bundle (``StrategyModel.problems``); validation runs it through this module.
"""

from __future__ import annotations

from atb_prediction._core import BundleRecord, OnnxSession
from atb_prediction._core import shape_problems as _shape_problems

__all__ = ["shape_problems"]


def shape_problems(session: OnnxSession, record: BundleRecord) -> list[str]:
    """Problems found between the model's input and the bundle's declarations (empty when fine).

    Each problem states both shapes: the model's input shape and the ``[batch, seq, features]``
    shape that the JSON file declares.
    """
    return _shape_problems(session, record)
