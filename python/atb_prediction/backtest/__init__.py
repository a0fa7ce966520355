"""Backtest sweeps: every window of a history, every version, the version live at each bar."""

from __future__ import annotations

from atb_prediction.backtest.engine import LocalEngine
from atb_prediction.backtest.result import SweepResult, VersionSummary
from atb_prediction.backtest.sweeping import sweep

__all__ = ["LocalEngine", "SweepResult", "VersionSummary", "sweep"]
