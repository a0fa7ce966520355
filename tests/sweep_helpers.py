"""Registries and series shared by the sweep, score, gate and CLI tests: a small BTCUSDT/basic
registry of linear models over a normalised three-feature series, and the "signal" registry of two
one-bar models, one right about the next bar 80% of the time and one wrong as often; and sweep
results made by hand, for scoring tests that need exact control of every prediction
(``SweepResult`` is a plain dataclass, as a sweep fills it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from atb_prediction import PredictionConfig, PredictionModelRegistry
from atb_prediction.backtest import SweepResult
from conftest import affine_model, linear_model, point_latest, standard_metadata, write_bundle

SEQ, FEATURES = 8, 3
NORMALISED = {
    "normalization_params": {
        "feature_0": {"mean": 100.0, "std": 5.0},
        "feature_2": {"mean": -2.0, "std": 0.5},
    },
    "price_normalization": {"mean": 30000.0, "std": 250.0},
}


def make_registry(root: Path, versions: dict[str, tuple[bytes | None, dict[str, Any]]]) -> Path:
    """``{version: (model, extra metadata)}`` under BTCUSDT/basic, ``latest`` at the last."""
    for version, (model, extra) in versions.items():
        metadata = standard_metadata("BTCUSDT", "basic", version, seq=SEQ, features=FEATURES)
        metadata.update(extra)
        write_bundle(root, "BTCUSDT", "basic", version, model=model, metadata=metadata)
    point_latest(root, "BTCUSDT", "basic", list(versions)[-1])
    return root


def open_registry(root: Path) -> PredictionModelRegistry:
    return PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(root), prediction_cache_enabled=False)
    )


def series_of(bars: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((bars, FEATURES)).astype(np.float32)
    values[:, 0] = 100 + 5 * values[:, 0]
    return values


#: Versions of the signal registry: one right about the next bar 80% of the time, one 20%.
RIGHT, WRONG = "2026-01-01_1h_v1", "2026-01-02_1h_v1"
BARS = 500


def signal_bars(bars: int = BARS) -> pd.DataFrame:
    """A ``signal`` feature of +-1 and a close that follows it at the next bar 4 times in 5."""
    rng = np.random.default_rng(11)
    signal = rng.choice([-1.0, 1.0], bars)
    follows = np.where(np.arange(bars) % 5 == 4, -1.0, 1.0)
    steps = 1.0 + 0.01 * signal * follows * rng.uniform(0.5, 1.5, bars)
    close = 100.0 * np.concatenate(([1.0], np.cumprod(steps[:-1])))
    return pd.DataFrame(
        {"signal": signal, "close": close},
        index=pd.date_range("2026-02-01", periods=bars, freq="h", tz="UTC"),
    )


def signal_registry(root: Path, production: str = WRONG) -> Path:
    """Two one-bar models of the ``signal`` column: ``RIGHT`` says it, ``WRONG`` its opposite."""
    for version, weight in ((RIGHT, 1.0), (WRONG, -1.0)):
        write_bundle(
            root,
            "BTCUSDT",
            "basic",
            version,
            model=affine_model(1, 1, weight=weight),
            metadata={
                "timeframe": "1h",
                "sequence_length": 1,
                "feature_names": ["signal"],
                "created_at": "2026-01-01T00:00:00Z",
            },
        )
    point_latest(root, "BTCUSDT", "basic", production)
    return root


def bars_file(path: Path, bars: pd.DataFrame) -> Path:
    """``bars`` written as the CSV the command line reads (times in a ``timestamp`` column)."""
    bars.to_csv(path, index_label="timestamp")
    return path


def sweep_result(
    price: npt.ArrayLike,
    close: npt.ArrayLike,
    *,
    direction: npt.ArrayLike | None = None,
    confidence: npt.ArrayLike | None = None,
    units: Sequence[bool] | None = None,
    versions: Sequence[str] | None = None,
    live_version: npt.ArrayLike | None = None,
    start: str | None = "2026-01-01T00:00",
    timeframe: str = "1h",
) -> SweepResult:
    """A result of ``[versions, bars]`` predictions (one row when ``price`` is 1-d): confidence 1
    where the price is a number, direction +1, prices in price units, hourly times from
    ``start`` (none when ``start`` is None)."""
    prices = np.atleast_2d(np.asarray(price, dtype=np.float64))
    rows, bars = prices.shape
    directions = (
        np.ones(prices.shape, dtype=np.int8)
        if direction is None
        else np.atleast_2d(np.asarray(direction, dtype=np.int8))
    )
    confidences = (
        np.where(np.isnan(prices), np.nan, 1.0)
        if confidence is None
        else np.atleast_2d(np.asarray(confidence, dtype=np.float64))
    )
    times = (
        None
        if start is None
        else np.datetime64(start, "ns") + np.arange(bars) * np.timedelta64(1, "h")
    )
    return SweepResult(
        symbol="BTCUSDT",
        model_type="basic",
        versions=tuple(versions or (f"2026-01-{row + 1:02d}_1h_v1" for row in range(rows))),
        price=prices,
        confidence=confidences,
        direction=directions,
        probabilities=None,
        timestamps=times,
        live_version=None if live_version is None else np.asarray(live_version, dtype=np.int64),
        windows=tuple(bars for _ in range(rows)),
        elapsed=tuple(0.0 for _ in range(rows)),
        price_units=tuple(units if units is not None else (True,) * rows),
        close=np.asarray(close, dtype=np.float64),
        timeframe=timeframe,
        classifiers=tuple(False for _ in range(rows)),
    )


def random_walk(bars: int, seed: int = 5, step: float = 0.01) -> npt.NDArray[np.float64]:
    """A positive random-walk close of ``bars`` bars."""
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, step, bars)))


#: Version folders of BTCUSDT/basic that the scan skips (see :func:`add_skipped_folders`).
LEAVING, MALFORMED = "2026-01-03_1h_v1", "2026-01-04_1h_v1"


def add_skipped_folders(root: Path, elsewhere: Path) -> dict[str, str]:
    """Adds to the registry at ``root`` version folders the scan skips: under BTCUSDT/basic, a
    symlink leaving the registry (to a good bundle under ``elsewhere``) and a bundle whose
    ``metadata.json`` is malformed; and the same kinds of folder under another model type and
    another symbol, which a sweep of BTCUSDT/basic must not mention. Returns ``{name the sweep
    warns about: the scan's reason}`` for BTCUSDT/basic."""
    model = linear_model(SEQ, FEATURES, seed=9)
    for symbol, model_type in (
        ("BTCUSDT", "basic"),
        ("BTCUSDT", "sentiment"),
        ("ETHUSDT", "basic"),
    ):
        good = elsewhere / symbol / model_type / LEAVING
        metadata = standard_metadata(symbol, model_type, LEAVING, seq=SEQ, features=FEATURES)
        write_bundle(elsewhere, symbol, model_type, LEAVING, model=model, metadata=metadata)
        (root / symbol / model_type).mkdir(parents=True, exist_ok=True)
        (root / symbol / model_type / LEAVING).symlink_to(good)
        write_bundle(root, symbol, model_type, MALFORMED, model=model, metadata='{"timeframe": ')
    target = elsewhere / "BTCUSDT" / "basic" / LEAVING
    return {
        f"BTCUSDT/basic/{LEAVING}": f"symlink leaves the registry (points to {target})",
        f"BTCUSDT/basic/{MALFORMED}": "metadata.json: malformed JSON: EOF while parsing a value "
        "at line 1 column 14",
    }


def mixed_classifiers(root: Path) -> Path:
    """BTCUSDT/basic classifiers of different class counts: binary (two classes, sigmoid),
    ternary (three, softmax), then binary again, so that a smaller classifier comes both before
    and after the larger one."""
    binary = {"task_type": "binary_classification", "class_labels": [-1, 1]}
    ternary = {"task_type": "ternary_classification", "class_labels": [-1, 0, 1]}
    versions = {}
    for seed, (version, classes) in enumerate(
        (("2026-01-01_1h_v1", 2), ("2026-01-02_1h_v1", 3), ("2026-01-03_1h_v1", 2)), start=40
    ):
        model = (
            linear_model(SEQ, FEATURES, seed=seed, activation="sigmoid")
            if classes == 2
            else linear_model(SEQ, FEATURES, seed=seed, outputs=3, activation="softmax")
        )
        task = binary if classes == 2 else ternary
        versions[version] = (model, {**task, "created_at": f"{version[:10]}T00:00:00Z"})
    return make_registry(root, versions)
