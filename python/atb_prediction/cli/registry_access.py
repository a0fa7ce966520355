"""Opening the registry for a command and finding the versions a command names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from atb_prediction._core import format_key
from atb_prediction.cli.naming import did_you_mean
from atb_prediction.cli.output import EXIT_USAGE, CommandError
from atb_prediction.models.exceptions import PredictionError
from atb_prediction.models.opening import find_record

if TYPE_CHECKING:
    from atb_prediction import BundleRecord, RegistryIndex

__all__ = [
    "created_date",
    "known_keys",
    "open_index",
    "plural",
    "production_of",
    "require_registry",
    "require_runtime",
    "resolve_key",
    "versions_of",
]


def open_index(root: str, only: tuple[str, str] | None = None) -> RegistryIndex:
    """Scan the registry at ``root`` (only the model type ``only`` names, when given); a missing
    or unreadable root is a :class:`CommandError`."""
    from atb_prediction.models.scanning import scan_registry

    require_registry(root)
    try:
        return scan_registry(root, only=only)
    except (PredictionError, OSError) as exc:
        raise CommandError(f"cannot scan registry {root}: {exc}") from exc


def require_registry(root: str) -> None:
    """Raise a :class:`CommandError` naming the options when ``root`` is not a directory."""
    if not Path(root).is_dir():
        raise CommandError(
            f"registry not found: {root} is not a directory "
            "(give --registry PATH or set MODEL_REGISTRY_PATH)"
        )


def require_runtime() -> None:
    """Load ONNX Runtime now, so that an unusable one is one error (exit status 2) rather than a
    failure of every model a command opens."""
    from atb_prediction._core import load_runtime
    from atb_prediction._runtime import find_library

    # An unusable library raises RuntimeLibraryError, which `main` reports (exit status 2).
    load_runtime(find_library())


def production_of(index: RegistryIndex, symbol: str, model_type: str) -> BundleRecord | None:
    """The production record of ``SYMBOL/MODEL_TYPE``, or ``None`` when it has none."""
    version = index.production.get((symbol, model_type))
    return None if version is None else find_record(index, symbol, model_type, version)


def versions_of(
    index: RegistryIndex, symbol: str, timeframe: str, model_type: str
) -> list[BundleRecord]:
    """Every readable version of ``SYMBOL TIMEFRAME MODEL_TYPE``, in version order."""
    return [
        r
        for r in index.versions
        if (r.symbol, r.timeframe, r.model_type) == (symbol, timeframe, model_type)
    ]


def resolve_key(index: RegistryIndex, text: str) -> BundleRecord:
    """The one version ``text`` names; a key without a version means the production version.

    Raises:
        CommandError: the key is malformed (usage error), matches nothing, names an unreadable
            bundle, or matches several versions.
    """
    from atb_prediction.models.validation import parse_key, split_bundle_path

    try:
        pattern = parse_key(text)
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from exc
    matches = [
        r
        for r in index.versions
        if pattern.matches(r.symbol, r.timeframe, r.model_type, r.version_id)
    ]
    if pattern.version is None:
        matches = [r for r in matches if r.is_production]
    if len(matches) == 1:
        return matches[0]
    if matches:
        keys = ", ".join(r.key for r in matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise CommandError(f"key {text!r} matches {len(matches)} versions: {keys}")
    for bundle in index.invalid:
        _, symbol, model_type, name = split_bundle_path(os.fspath(index.root), bundle.path)
        if pattern.matches(symbol, None, model_type, name):
            raise CommandError(f"{bundle.path} cannot be read: {bundle.reason}")
    known = known_keys(index)
    raise CommandError(f"no version in {index.root} matches {text!r}; {did_you_mean(text, known)}")


def known_keys(index: RegistryIndex) -> list[str]:
    """What a KEY may name: every ``SYMBOL:TIMEFRAME:MODEL_TYPE``, each followed by its versions'
    keys, once each, in registry order."""
    keys: dict[str, None] = {}
    for record in index.versions:
        keys[format_key(record.symbol, record.timeframe, record.model_type)] = None
        keys[record.key] = None
    return list(keys)


def created_date(created_at: str | None) -> str:
    """``2025-10-30T12:13:22.97`` -> ``2025-10-30``: the day fits a table, the JSON keeps all."""
    if not created_at:
        return "-"
    return created_at[:10] if len(created_at) >= 10 and created_at[4] == "-" else created_at


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 version``, ``3 versions``."""
    return f"{count} {word if count == 1 else (words or word + 's')}"
