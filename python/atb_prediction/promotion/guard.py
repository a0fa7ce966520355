"""The promotion guard, which :mod:`.operations` leaves to its callers (the command line applies
it, ``--force`` overrides it): a promotion must not change the timeframe of a live model.

``latest`` names one version per ``SYMBOL/MODEL_TYPE``, and ``select_bundle(symbol, model_type,
timeframe)`` finds it only when its metadata has that timeframe. Promoting a ``1d`` version over a
``1h`` production model therefore takes the ``1h`` model offline: every selection of
``SYMBOL 1h MODEL_TYPE`` stops resolving. The check reads a registry scan, outside the
promotion's lock: it guards against a mistake, not against a concurrent promoter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from atb_prediction._core import format_key

if TYPE_CHECKING:
    from atb_prediction import RegistryIndex

__all__ = ["TimeframeChange", "timeframe_change"]


@dataclass(frozen=True, slots=True)
class TimeframeChange:
    """Promoting ``new_version`` would replace production of another timeframe."""

    symbol: str
    model_type: str
    current_version: str
    current_timeframe: str
    new_version: str
    new_timeframe: str

    @property
    def stranded(self) -> list[str]:
        """The selections that resolve now and would stop resolving."""
        return [
            f"select_bundle(symbol={self.symbol!r}, model_type={self.model_type!r}, "
            f"timeframe={self.current_timeframe!r})",
            format_key(self.symbol, self.current_timeframe, self.model_type),
        ]

    def message(self) -> str:
        """One sentence naming both versions, both timeframes and what would stop resolving."""
        return (
            f"refusing to promote {self.symbol}/{self.model_type}/{self.new_version} "
            f"({self.new_timeframe}) over production {self.current_version} "
            f"({self.current_timeframe}): {' and '.join(self.stranded)} would stop resolving "
            "(use --force to promote anyway)"
        )


def timeframe_change(
    index: RegistryIndex, symbol: str, model_type: str, version: str
) -> TimeframeChange | None:
    """The timeframe change promoting ``version`` would make, or ``None`` when it keeps the
    production timeframe (or there is no readable production version to strand)."""
    current = index.production.get((symbol, model_type))
    timeframes = {
        r.version_id: r.timeframe
        for r in index.versions
        if (r.symbol, r.model_type) == (symbol, model_type)
    }
    if current is None or current == version:
        return None
    old, new = timeframes.get(current), timeframes.get(version)
    if old is None or new is None or old == new:
        return None
    return TimeframeChange(symbol, model_type, current, old, version, new)
