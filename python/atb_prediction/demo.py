"""A small, real model registry generated in code, for ``atb demo`` and for tests.

The registry mimics the upstream bot's (see the shared fixture): ``SYMBOL/MODEL_TYPE/VERSION/``
bundles with ``model.onnx``, ``metadata.json`` and ``feature_schema.json``, ``metrics.json`` in
some, and a relative ``latest`` symlink per model type but one (which then falls back to its
highest version, as upstream does). The models are small linear ONNX models shipped with the
package in ``demo_models/`` (made by ``scripts/make_demo_models.py``), so neither the ``onnx``
package nor any download is needed.
After writing, one version is promoted through :func:`atb_prediction.promotion.promote`, so the
registry also carries a promotion journal to show with ``atb models history``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from atb_prediction import promotion
from atb_prediction._core import LATEST

__all__ = [
    "DEMO_BARS_START",
    "DEMO_PROMOTION",
    "DEMO_VERSIONS",
    "DemoRegistry",
    "DemoVersion",
    "demo_bars",
    "demo_model_name",
    "write_demo_registry",
]

_PRICE_FEATURES = (
    "close_normalized",
    "volume_normalized",
    "high_normalized",
    "low_normalized",
    "open_normalized",
)
_SENTIMENT_FEATURES = (
    "open_scaled",
    "high_scaled",
    "low_scaled",
    "close_scaled",
    "volume_scaled",
    "sma_7_scaled",
    "sma_14_scaled",
    "sma_30_scaled",
    "rsi_scaled",
    "sentiment_momentum_scaled",
)


@dataclass(frozen=True, slots=True)
class DemoVersion:
    """One bundle of the demo registry."""

    symbol: str
    model_type: str
    version_id: str
    created_at: str
    sequence_length: int
    feature_names: tuple[str, ...]
    seed: int
    test_rmse: float
    directional_accuracy: float
    with_metrics_file: bool
    stage: str | None = None

    @property
    def timeframe(self) -> str:
        """Every demo model is hourly, like most of upstream's."""
        return "1h"


def _version(
    symbol: str,
    model_type: str,
    day: str,
    number: int,
    seed: int,
    rmse: float,
    accuracy: float,
    *,
    metrics_file: bool,
    stage: str | None = None,
) -> DemoVersion:
    sentiment = model_type == "sentiment"
    return DemoVersion(
        symbol=symbol,
        model_type=model_type,
        version_id=f"{day}_1h_v{number}",
        created_at=f"{day}T06:00:00+00:00",
        sequence_length=30 if sentiment else 120,
        feature_names=_SENTIMENT_FEATURES if sentiment else _PRICE_FEATURES,
        seed=seed,
        test_rmse=rmse,
        directional_accuracy=accuracy,
        with_metrics_file=metrics_file,
        stage=stage,
    )


DEMO_VERSIONS: tuple[DemoVersion, ...] = (
    _version("BTCUSDT", "basic", "2025-11-01", 1, 101, 0.0712, 0.512, metrics_file=True),
    _version("BTCUSDT", "basic", "2025-11-08", 1, 102, 0.0655, 0.534, metrics_file=True),
    _version("BTCUSDT", "basic", "2025-11-15", 1, 103, 0.0618, 0.551, metrics_file=True,
             stage="candidate"),
    _version("BTCUSDT", "sentiment", "2025-11-03", 1, 201, 0.0802, 0.507, metrics_file=False),
    _version("BTCUSDT", "sentiment", "2025-11-10", 1, 202, 0.0774, 0.522, metrics_file=True),
    _version("ETHUSDT", "basic", "2025-11-05", 1, 301, 0.0693, 0.528, metrics_file=True),
    _version("ETHUSDT", "sentiment", "2025-11-06", 1, 401, 0.0851, 0.503, metrics_file=False),
    _version("ETHUSDT", "sentiment", "2025-11-12", 1, 402, 0.0833, 0.515, metrics_file=False),
)  # fmt: skip
"""Every version written, in registry order."""

_INITIAL_LATEST: dict[tuple[str, str], str] = {
    ("BTCUSDT", "basic"): "2025-11-08_1h_v1",
    ("BTCUSDT", "sentiment"): "2025-11-10_1h_v1",
    ("ETHUSDT", "basic"): "2025-11-05_1h_v1",
    # ETHUSDT/sentiment has no `latest`: production falls back to its highest version.
}

DEMO_PROMOTION = ("BTCUSDT", "basic", "2025-11-15_1h_v1")
"""(symbol, model_type, version) promoted through :mod:`atb_prediction.promotion` at the end."""


@dataclass(frozen=True, slots=True)
class DemoRegistry:
    """What :func:`write_demo_registry` wrote."""

    root: Path
    versions: tuple[DemoVersion, ...]
    promotion: promotion.PromotionResult
    files: list[Path] = field(default_factory=list)


def _metadata(version: DemoVersion) -> dict[str, Any]:
    """metadata.json in the shape of upstream's current bundles."""
    return {
        "model_id": f"{version.symbol.lower()}_{version.model_type}_demo",
        "symbol": version.symbol,
        "timeframe": version.timeframe,
        "model_type": version.model_type,
        "version_id": version.version_id,
        "framework": "onnx",
        "model_file": "model.onnx",
        "created_at": version.created_at,
        **({"stage": version.stage} if version.stage else {}),
        "sequence_length": version.sequence_length,
        "feature_names": list(version.feature_names),
        # Basic models read upstream's price-only features, so they can take raw bars.
        "feature_strategy": "demo_linear"
        if version.model_type == "sentiment"
        else "price_only_rolling_minmax",
        "has_sentiment": version.model_type == "sentiment",
        "price_normalization": {
            "method": "rolling_minmax",
            "window": version.sequence_length,
            "target_feature": "close",
        },
        "training_params": {
            "epochs": 1,
            "batch_size": 32,
            "timeframe": version.timeframe,
            "start_date": "2024-01-01",
            "end_date": version.created_at[:10],
        },
        "evaluation_results": {
            "test_loss": round(version.test_rmse**2, 6),
            "test_rmse": version.test_rmse,
            "directional_accuracy": version.directional_accuracy,
        },
        "demo": True,
    }


def _feature_schema(version: DemoVersion) -> dict[str, Any]:
    return {
        "sequence_length": version.sequence_length,
        "features": [{"name": name, "required": True} for name in version.feature_names],
    }


def _metrics(version: DemoVersion) -> dict[str, Any]:
    """metrics.json, nested as evaluation pipelines often write it."""
    return {
        "evaluated_at": version.created_at,
        "dataset": f"{version.symbol} {version.timeframe} 2024-01-01..{version.created_at[:10]}",
        "test": {
            "rmse": version.test_rmse,
            "mae": round(version.test_rmse * 0.78, 6),
            "directional_accuracy": version.directional_accuracy,
        },
        "train": {"rmse": round(version.test_rmse * 0.93, 6)},
    }


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _check_out(root: Path) -> None:
    if root.is_symlink() or (root.exists() and not root.is_dir()):
        raise FileExistsError(f"{root} exists and is not a folder")
    if root.is_dir() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; give a new or empty folder")


def demo_model_name(version: DemoVersion) -> str:
    """File name of a version's model in the package's ``demo_models/``."""
    return f"{version.symbol}-{version.model_type}-{version.version_id}.onnx"


def _shipped_model(version: DemoVersion) -> bytes:
    from importlib.resources import files

    return (files("atb_prediction") / "demo_models" / demo_model_name(version)).read_bytes()


def write_demo_registry(out: str | os.PathLike[str]) -> DemoRegistry:
    """Write the demo registry into ``out`` (created; must be new or empty).

    The models are deterministic: the same call writes the same ``model.onnx`` bytes. Only the
    promotion journal's time, user and host differ between runs.

    Raises:
        FileExistsError: ``out`` is a file or a non-empty folder.
        PromotionError: the final promotion was refused (a bug: the demo models are valid).
    """
    root = Path(out)
    _check_out(root)
    root.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for version in DEMO_VERSIONS:
        directory = root / version.symbol / version.model_type / version.version_id
        directory.mkdir(parents=True)
        (directory / "model.onnx").write_bytes(_shipped_model(version))
        _write_json(directory / "metadata.json", _metadata(version))
        _write_json(directory / "feature_schema.json", _feature_schema(version))
        written = ["model.onnx", "metadata.json", "feature_schema.json"]
        if version.with_metrics_file:
            _write_json(directory / "metrics.json", _metrics(version))
            written.append("metrics.json")
        files.extend(directory / name for name in written)
    for (symbol, model_type), version_id in _INITIAL_LATEST.items():
        # The state a training pipeline leaves behind: a plain relative symlink, no journal.
        os.symlink(version_id, root / symbol / model_type / LATEST)
    symbol, model_type, version_id = DEMO_PROMOTION
    result = promotion.promote(
        root,
        symbol,
        model_type,
        version_id,
        reason="demo: the newest version has the lowest test RMSE",
    )
    return DemoRegistry(root=root, versions=DEMO_VERSIONS, promotion=result, files=files)


#: The first bar of :func:`demo_bars`: before the first demo version, so that an as-live sweep
#: sees each version become live in turn.
DEMO_BARS_START = np.datetime64("2025-10-28T00:00:00", "ns")


def demo_bars(bars: int = 720, *, seed: int = 7) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Synthetic hourly BTCUSDT bars for the demo's predictions and sweep.

    Returns ``(columns, timestamps)``: ``columns`` maps ``open``, ``high``, ``low``, ``close``
    and ``volume`` to float64 arrays of ``bars`` values (a seeded random walk), as
    ``predict_bars`` and ``sweep`` take them; ``timestamps`` are hourly UTC times from
    2025-10-28, across the demo versions' creation dates.
    """
    rng = np.random.default_rng(seed)
    closes = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, bars)))
    opens = np.concatenate([[closes[0]], closes[:-1]])
    spread = np.abs(rng.normal(0.0, 0.002, bars)) * closes
    columns = {
        "open": opens,
        "high": np.maximum(opens, closes) + spread,
        "low": np.minimum(opens, closes) - spread,
        "close": closes,
        "volume": rng.gamma(2.0, 50.0, bars),
    }
    timestamps = DEMO_BARS_START + np.arange(bars) * np.timedelta64(1, "h")
    return columns, timestamps
