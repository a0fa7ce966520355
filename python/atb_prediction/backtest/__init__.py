"""Backtest sweeps: every window of a history, every version, the version live at each bar."""

from __future__ import annotations

from atb_prediction.backtest.engine import LocalEngine
from atb_prediction.backtest.ray_engine import RayEngine
from atb_prediction.backtest.result import SweepResult, VersionSummary
from atb_prediction.backtest.scores import SweepScores
from atb_prediction.backtest.sweeping import sweep, sweep_many

__all__ = [
    "LocalEngine",
    "RayEngine",
    "SweepResult",
    "SweepScores",
    "VersionSummary",
    "sweep",
    "sweep_many",
]
