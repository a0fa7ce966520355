"""Opening the versions a command compares, through the index it already has.

A promotion and its gate need two bundles, the candidate and production, not a registry of every
symbol: each is opened here once, from the scan the command made, its model file read once and
checked against ``manifest.json`` when sealed. Validation, the gate's sweep and the digests the
journal records all use those bytes (:attr:`LoadedBundle.model_sha256`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from atb_prediction._core import BundleOptions, LoadedBundle, open_version, path_parts
from atb_prediction.models.exceptions import ModelLoadError, ModelNotAvailableError

if TYPE_CHECKING:
    from atb_prediction._core import BundleRecord, InvalidBundle, RegistryIndex
    from atb_prediction.config import PredictionConfig

__all__ = ["find_record", "open_versions", "opening_options", "skipped"]


def find_record(
    index: RegistryIndex, symbol: str, model_type: str, version: str
) -> BundleRecord | None:
    """The scan's record of ``SYMBOL/MODEL_TYPE/VERSION``, or ``None``."""
    for record in index.versions:
        if (record.symbol, record.model_type, record.version_id) == (symbol, model_type, version):
            return record
    return None


def skipped(
    index: RegistryIndex, symbol: str, model_type: str, version: str
) -> InvalidBundle | None:
    """The folder ``SYMBOL/MODEL_TYPE/VERSION`` when the scan skipped it (with why), else
    ``None``."""
    for bundle in index.invalid:
        if path_parts(index.root, bundle.path) == [symbol, model_type, version]:
            return bundle
    return None


def opening_options(index: RegistryIndex, config: PredictionConfig | None = None) -> BundleOptions:
    """One thread per session and no warm-up: validation runs its own inference, and a sweep
    opens its sessions from the bundle's bytes. A sealed bundle's model is checked against its
    manifest as it is read (a mismatch is reported, not refused: promotion decides)."""
    from atb_prediction.config import PredictionConfig

    config = config or PredictionConfig(model_registry_path=os.fspath(index.root))
    return BundleOptions(
        intra_op_threads=1,
        providers=config.providers,
        confidence_scale_factor=config.confidence_scale_factor,
        direction_threshold=config.direction_threshold,
        warmup=False,
        verify_integrity="warn",
        registry_root=index.root,
    )


def open_versions(
    index: RegistryIndex,
    symbol: str,
    model_type: str,
    versions: Sequence[str],
    config: PredictionConfig | None = None,
) -> list[LoadedBundle]:
    """The bundles of ``versions`` of ``SYMBOL/MODEL_TYPE``, in order, each opened once.

    Raises:
        ModelNotAvailableError: the index has no such version.
        ModelLoadError: the scan skipped its folder, or its model does not open.
    """
    options = opening_options(index, config)
    opened = []
    for version in versions:
        record = find_record(index, symbol, model_type, version)
        if record is None and (folder := skipped(index, symbol, model_type, version)):
            raise ModelLoadError(f"{folder.path} cannot be read: {folder.reason}")
        bundle = None if record is None else open_version(index, record.key, options)
        if bundle is None:
            raise ModelNotAvailableError(
                f"{symbol}/{model_type} has no version {version!r} in {index.root}"
            )
        opened.append(bundle)
    return opened
