"""What the fuzzing child runs on one registry: scan, registry, predict, validate.

A bad bundle must never make the scan, the registry or validation raise: it is recorded as
invalid or reported as a problem. A prediction may fail only with a ``PredictionError``. Anything
else raised is a finding; a crash or a hang of the process is one too, and
the parent notices those.
"""

from __future__ import annotations

import traceback
from pathlib import Path

__all__ = ["drive"]


def drive(root: Path) -> str | None:
    """Exercise every loader on ``root``; the traceback of an unexpected exception, else None."""
    import numpy as np

    from atb_prediction import PredictionConfig, PredictionModelRegistry, scan_registry
    from atb_prediction.models.exceptions import PredictionError
    from atb_prediction.models.validation import validate_registry

    try:
        index = scan_registry(root)
        for record in index.versions:
            _ = (record.metadata, record.feature_schema, record.metrics)
        config = PredictionConfig(
            model_registry_path=str(root), inference_timeout=5.0, intra_op_threads=1
        )
        registry = PredictionModelRegistry(config)
        for bundle in registry.list_bundles():
            try:
                bundle.runner.predict(np.zeros((4, 3), dtype=np.float32))
            except PredictionError:
                pass
        for record in index.versions:
            registry.get_bundle_by_key(record.key)
        registry.reload_models()
        validate_registry(root)
    except Exception:
        return traceback.format_exc()
    return None
