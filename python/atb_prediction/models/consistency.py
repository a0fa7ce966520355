"""Checks that a bundle's ONNX input agrees with its feature schema and metadata.

A bundle whose model expects ``[batch, 120, 5]`` while ``feature_schema.json`` lists 3 features
would fail (or, worse, silently mis-read columns) at the first live prediction. The registry runs
these checks when a bundle's session opens and records the problems on the bundle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class _TensorLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def shape(self) -> tuple[int | None, ...]: ...


def _dim(value: int | None) -> str:
    return "None" if value is None else str(value)


def _shape_text(shape: Sequence[int | None]) -> str:
    dims = [_dim(d) for d in shape]
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"


def expected_window(
    metadata: Mapping[str, Any], feature_schema: Mapping[str, Any] | None
) -> list[tuple[str, int | None, int | None]]:
    """Every declared ``(source, sequence_length, feature_count)``; ``None`` where not declared."""
    declared: list[tuple[str, int | None, int | None]] = []
    if feature_schema:
        features = feature_schema.get("features")
        count = len(features) if isinstance(features, list) else None
        length = feature_schema.get("sequence_length")
        declared.append(("feature_schema.json", length if isinstance(length, int) else None, count))
    names = metadata.get("feature_names")
    length = metadata.get("sequence_length")
    declared.append(
        (
            "metadata.json",
            length if isinstance(length, int) and not isinstance(length, bool) else None,
            len(names) if isinstance(names, list) else None,
        )
    )
    return declared


def shape_problems(
    inputs: Sequence[_TensorLike],
    metadata: Mapping[str, Any],
    feature_schema: Mapping[str, Any] | None,
) -> list[str]:
    """Problems found between the model's input and the bundle's declarations (empty when fine).

    Each problem states both shapes: the model's input shape and the ``[batch, seq, features]``
    shape that the JSON file declares.
    """
    if len(inputs) != 1:
        return [f"the model has {len(inputs)} inputs; a registry bundle must take exactly one"]
    model_input = inputs[0]
    shape = tuple(model_input.shape)
    if len(shape) != 3:
        return [
            f"model input {model_input.name!r} has shape {_shape_text(shape)}; "
            "expected rank 3 [batch, sequence_length, features]"
        ]
    problems = []
    _, model_length, model_features = shape
    for source, length, features in expected_window(metadata, feature_schema):
        mismatched = (
            length is not None and model_length is not None and length != model_length
        ) or (features is not None and model_features is not None and features != model_features)
        if mismatched:
            declared = _shape_text((None, length, features))
            problems.append(
                f"model input {model_input.name!r} has shape {_shape_text(shape)} but "
                f"{source} declares {declared} (sequence_length={_dim(length)}, "
                f"features={_dim(features)})"
            )
    return problems
