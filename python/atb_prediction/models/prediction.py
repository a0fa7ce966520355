"""``ModelPrediction``: one prediction, as upstream's dataclass of the same name.

A frozen dataclass with upstream's fields in upstream's order (plus ``probabilities`` for
classifiers, last and defaulted), so ``dataclasses.asdict``/``replace``, ``==``, ``copy`` and
``pickle`` work as they do upstream. The Rust predictor fills the slots of a new instance
directly (``object.__new__`` and the slots' own setters), so building one costs no Python frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

__all__ = ["ModelPrediction"]


@dataclasses.dataclass(frozen=True, slots=True)
class ModelPrediction:
    """Result of a model prediction.

    Attributes:
        price: The predicted price (NaN for classifiers).
        confidence: In ``[0, 1]``.
        direction: ``1``, ``0`` or ``-1``.
        model_name: The model that predicted it (a bundle key for registry runners).
        inference_time: Seconds spent in ``predict`` (up to the hit for a cached prediction).
        probabilities: Class probabilities for classifiers, else ``None``.
    """

    price: float
    confidence: float
    direction: int
    model_name: str
    inference_time: float
    probabilities: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        probabilities: Sequence[float] | None = self.probabilities
        if probabilities is not None and not isinstance(probabilities, tuple):
            # Frozen: the one sanctioned way to normalise a field after __init__.
            object.__setattr__(self, "probabilities", tuple(probabilities))

    def __reduce__(self) -> tuple[Any, ...]:
        # Explicit, so pickling a frozen slots dataclass does not depend on the Python version.
        return (type(self), dataclasses.astuple(self))

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict (``dataclasses.asdict``)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> ModelPrediction:
        """A copy with the given fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)
