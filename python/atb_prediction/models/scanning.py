"""``scan_registry``: the Rust scanner, with the package's JSON Schemas or replacements."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atb_prediction._core import RegistryIndex, document_kinds, scan_registry_with

if TYPE_CHECKING:
    from atb_prediction.config import PredictionConfig

__all__ = [
    "SCHEMA_NAMES",
    "default_schema_path",
    "registry_schemas",
    "scan_registry",
    "schema_texts",
]

#: The documents a bundle may hold, each validated by ``schemas/<name>.schema.json``: the names
#: of the core's one table of document kinds.
SCHEMA_NAMES = tuple(name for name, _ in document_kinds())

SchemaSource = Mapping[str, Any] | str | os.PathLike[str]


def registry_schemas(config: PredictionConfig) -> dict[str, str | None]:
    """Each document kind's schema override: ``config.<kind>_schema_path``."""
    return {name: getattr(config, f"{name}_schema_path") for name in SCHEMA_NAMES}


def default_schema_path(name: str) -> Path:
    """The path of a shipped schema."""
    return Path(__file__).resolve().parent.parent / "schemas" / f"{name}.schema.json"


@cache
def _shipped_schema(name: str) -> str:
    return default_schema_path(name).read_text(encoding="utf-8")


def _schema_text(name: str, source: SchemaSource | None) -> str:
    if source is None:
        return _shipped_schema(name)
    if isinstance(source, Mapping):
        return json.dumps(source)
    return Path(source).read_text(encoding="utf-8")


def schema_texts(schemas: Mapping[str, SchemaSource | None] | None = None) -> dict[str, str]:
    """Each document kind's schema text, from ``schemas`` (a dict or a path) or the shipped file."""
    schemas = schemas or {}
    unknown = set(schemas) - set(SCHEMA_NAMES)
    if unknown:
        raise ValueError(
            f"unknown schema names {sorted(unknown)}; expected some of {list(SCHEMA_NAMES)}"
        )
    return {name: _schema_text(name, schemas.get(name)) for name in SCHEMA_NAMES}


def scan_registry(
    root: str | os.PathLike[str],
    schemas: Mapping[str, SchemaSource | None] | None = None,
    *,
    previous: RegistryIndex | None = None,
    only: tuple[str, str] | None = None,
) -> RegistryIndex:
    """Scan a registry in parallel, validating every bundle; opens no ONNX session.

    Args:
        root: The registry root holding ``{SYMBOL}/{MODEL_TYPE}/{VERSION}/`` bundles.
        schemas: Replacements for the shipped JSON Schemas, keyed ``"metadata"``,
            ``"feature_schema"``, ``"metrics"``; each a dict or a path to a schema file.
        previous: An earlier index of the same root: version folders whose files are unchanged
            (size, mtime, inode) are taken from it instead of being read again.
        only: ``(symbol, model_type)``: scan that model type alone (what a promotion needs),
            reading no other folder; the index then holds nothing else (``index.scope``).

    Raises:
        ModelLoadError: the root is missing or unreadable.
        ValueError: a schema is not valid JSON Schema.
    """
    return scan_registry_with(os.fspath(root), schema_texts(schemas), previous, only)
