"""Registries and bars for the gate's tests: versions that read a ``signal`` column with real
ONNX models, and bars whose next move the signal foretells as often as asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from conftest import affine_model, point_latest, write_bundle

SYMBOL, TYPE = "BTCUSDT", "basic"

#: A version that says the signal, one that says its opposite, and one that always says "up"
#: (it holds the market: buy-and-hold in disguise).
RIGHT, WRONG, HOLD = "2026-01-01_1h_v1", "2026-01-02_1h_v1", "2026-01-03_1h_v1"

#: ``signal -> weight * signal + bias``: the sign is the version's direction.
MODELS = {RIGHT: (1.0, 0.0), WRONG: (-1.0, 0.0), HOLD: (0.0, 1.0)}


def signal_frame(bars: int, *, right: float = 0.8, seed: int = 11) -> pd.DataFrame:
    """Hourly bars: a ``signal`` of +-1 and a ``close`` whose next move has the signal's sign
    a share ``right`` of the time (0.5: the signal says nothing)."""
    rng = np.random.default_rng(seed)
    signal = rng.choice([-1.0, 1.0], bars)
    follows = np.where(rng.uniform(size=bars) < right, 1.0, -1.0)
    steps = 1.0 + 0.01 * signal * follows * rng.uniform(0.5, 1.5, bars)
    close = 100.0 * np.concatenate(([1.0], np.cumprod(steps[:-1])))
    return pd.DataFrame(
        {"signal": signal, "close": close},
        index=pd.date_range("2026-02-01", periods=bars, freq="h", tz="UTC"),
    )


def signal_registry(
    root: Path, versions: tuple[str, ...] = (RIGHT, WRONG), production: str | None = WRONG
) -> Path:
    """One-bar models of the ``signal`` column (:data:`MODELS`), scored by direction."""
    for version in versions:
        weight, bias = MODELS[version]
        write_bundle(
            root, SYMBOL, TYPE, version,
            model=affine_model(1, 1, weight=weight, bias=(bias,)),
            metadata={
                "timeframe": "1h",
                "sequence_length": 1,
                "feature_names": ["signal"],
                "created_at": "2026-01-01T00:00:00Z",
            },
        )  # fmt: skip
    if production is not None:
        point_latest(root, SYMBOL, TYPE, production)
    return root


def bars_file(path: Path, frame: pd.DataFrame) -> Path:
    """``frame`` as a CSV file with a ``timestamp`` column, as the CLI reads a series."""
    frame.to_csv(path, index_label="timestamp")
    return path
