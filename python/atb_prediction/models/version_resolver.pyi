# Upstream's import path of atb_prediction.promotion.version_resolver, which the package serves
# at run time (see _UpstreamPaths in atb_prediction/__init__.py); this stub tells type checkers.
from atb_prediction.promotion.version_resolver import PromotionSegment as PromotionSegment
from atb_prediction.promotion.version_resolver import VersionRecord as VersionRecord
from atb_prediction.promotion.version_resolver import list_version_records as list_version_records
from atb_prediction.promotion.version_resolver import live_positions as live_positions
from atb_prediction.promotion.version_resolver import promotion_segments as promotion_segments
from atb_prediction.promotion.version_resolver import resolve_version_as_of as resolve_version_as_of
