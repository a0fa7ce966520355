"""Integrity manifests: seal bundles and verify them (``atb models seal`` / ``verify``).

The hashing is done in Rust (``sha2``) without the GIL. The registry's own check of each model
as it opens (``PredictionConfig.verify_integrity``) is in the core's bundle loader
(``src/core/manifest.rs``: ``open_checked_session``), which hashes the very bytes the session is
built from.
"""

from __future__ import annotations

from atb_prediction._core import seal_bundle, verify_bundle

__all__ = ["seal_bundle", "verify_bundle"]
