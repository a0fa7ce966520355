"""``atb models list``: the registry's models, their production version and version count."""

from __future__ import annotations

import argparse
import os
import textwrap
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from atb_prediction._core import LATEST, path_parts
from atb_prediction.cli.arguments import ParserParts, SubParsers
from atb_prediction.cli.output import EXIT_OK, Console
from atb_prediction.cli.registry_access import (
    created_date,
    open_index,
    plural,
    production_of,
    require_runtime,
)
from atb_prediction.cli.tables import Cell, Column, render_table

if TYPE_CHECKING:
    from atb_prediction import BundleRecord, RegistryIndex
    from atb_prediction.models.validation import VersionReport

__all__ = ["add_parsers", "list_document", "run_list"]


def add_parsers(models: SubParsers, parts: ParserParts) -> None:
    """Registers ``atb models list``."""
    parser = parts.add(
        models,
        "list",
        help="production version and version count of every model",
        description="One row per SYMBOL/TIMEFRAME/MODEL_TYPE with its production version and "
        "number of versions; --all lists every version, checked.",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="list every version with created_at, feature schema, metrics and validity "
        "(opens every model)",
    )
    parser.set_defaults(command="models list", run=run_list)


def _created_at(record: BundleRecord) -> str | None:
    """``created_at``, else legacy bundles' ``training_date``."""
    legacy = record.metadata.get("training_date")
    return record.created_at or (legacy if isinstance(legacy, str) else None)


def _groups(index: RegistryIndex) -> dict[tuple[str, str, str], list[BundleRecord]]:
    grouped: dict[tuple[str, str, str], list[BundleRecord]] = defaultdict(list)
    for record in index.versions:
        grouped[(record.symbol, record.timeframe, record.model_type)].append(record)
    return dict(sorted(grouped.items()))


def no_production_reason(index: RegistryIndex, symbol: str, model_type: str) -> str:
    """Why a timeframe of ``SYMBOL/MODEL_TYPE`` has no production version: ``latest`` names a
    version of another timeframe, is broken, or is missing."""
    unavailable = index.unavailable.get((symbol, model_type))
    if unavailable:
        return f"{symbol}/{model_type}/{LATEST} is unusable: {unavailable}"
    current = index.production.get((symbol, model_type))
    if current is None:
        return f"{symbol}/{model_type} has no {LATEST} and no version to fall back on"
    record = production_of(index, symbol, model_type)
    return f"{LATEST} names {current}, a {record.timeframe if record else 'unreadable'} version"


def list_document(index: RegistryIndex, reports: dict[str, VersionReport] | None) -> dict[str, Any]:
    """The JSON document of ``atb models list`` (``reports`` given with ``--all``)."""
    models = []
    for (symbol, timeframe, model_type), records in _groups(index).items():
        production = next((r for r in records if r.is_production), None)
        models.append(
            {
                "symbol": symbol,
                "timeframe": timeframe,
                "model_type": model_type,
                "production": production.version_id if production else None,
                # `latest` names it, or upstream's fallback to the highest version chose it.
                "production_source": None
                if production is None
                else ("latest" if production.from_latest else "fallback"),
                "version_count": len(records),
                "no_production_reason": None
                if production
                else no_production_reason(index, symbol, model_type),
            }
        )
    document: dict[str, Any] = {
        "registry": os.fspath(index.root),
        "models": models,
        "unavailable": [
            {"symbol": symbol, "model_type": model_type, "reason": reason}
            for (symbol, model_type), reason in sorted(index.unavailable.items())
        ],
        "invalid": [
            {"path": "/".join(path_parts(index.root, bundle.path)), "reason": bundle.reason}
            for bundle in index.invalid
        ],
    }
    if reports is not None:
        versions = []
        for record in index.versions:
            report = reports[record.key]
            versions.append(
                {
                    "key": record.key,
                    "symbol": record.symbol,
                    "timeframe": record.timeframe,
                    "model_type": record.model_type,
                    "version": record.version_id,
                    "created_at": _created_at(record),
                    "stage": record.stage,
                    "production": record.is_production,
                    "feature_schema": record.feature_schema is not None,
                    "metrics": bool(record.metrics),
                    "valid": report.ok,
                    "problems": report.problems,
                }
            )
        document["versions"] = versions
    return document


def _unreadable_versions(document: dict[str, Any]) -> list[dict[str, str]]:
    """Invalid entries that are version folders; a broken ``latest`` has its own note."""
    return [b for b in document["invalid"] if not b["path"].endswith("/" + LATEST)]


def _print_tables(console: Console, document: dict[str, Any], show_all: bool) -> None:
    style = console.style
    unavailable = {(u["symbol"], u["model_type"]): u["reason"] for u in document["unavailable"]}
    console.print(f"Registry {document['registry']}")
    if not document["models"] and not document["invalid"]:
        console.print("No models found.")
        return
    if show_all:
        columns = [
            Column("SYMBOL", identifier=True),
            Column("TF", identifier=True),
            Column("TYPE", identifier=True),
            Column("VERSION", identifier=True),
            Column("CREATED", optional=True),
            Column("SCHEMA", optional=True),
            Column("METRICS", optional=True),
            Column("VALID"),
        ]
        rows: list[list[Cell | str]] = []
        for entry in document["versions"]:
            rows.append(
                [
                    entry["symbol"],
                    entry["timeframe"],
                    entry["model_type"],
                    Cell(entry["version"] + " *", "bold")
                    if entry["production"]
                    else entry["version"],
                    created_date(entry["created_at"]),
                    "yes" if entry["feature_schema"] else "no",
                    "yes" if entry["metrics"] else "no",
                    Cell("yes", "green") if entry["valid"] else Cell("NO", "fail"),
                ]
            )
        for bundle in _unreadable_versions(document):
            parts = [*bundle["path"].split("/"), "", "", ""][:3]
            rows.append([parts[0], "?", parts[1], parts[2], "-", "?", "?", Cell("NO", "fail")])
    else:
        columns = [
            Column("SYMBOL", identifier=True),
            Column("TIMEFRAME", identifier=True),
            Column("MODEL TYPE", identifier=True),
            Column("PRODUCTION", identifier=True),
            Column("VERSIONS", align="right", optional=True),
        ]
        rows = []
        for model in document["models"]:
            broken = unavailable.get((model["symbol"], model["model_type"]))
            if model["production"]:
                production: Cell | str = model["production"]
            elif broken:
                production = Cell("unavailable", "fail")
            else:
                production = "-"
            rows.append(
                [
                    model["symbol"],
                    model["timeframe"],
                    model["model_type"],
                    production,
                    str(model["version_count"]),
                ]
            )
    console.print(render_table(columns, rows, width=console.width, style=style))

    notes = []
    if show_all:
        notes.append("* production version")
        for entry in document["versions"]:
            if not entry["valid"]:
                notes.append(f"{entry['key']}: {'; '.join(entry['problems'])}")
        for bundle in _unreadable_versions(document):
            notes.append(f"{bundle['path']}: {bundle['reason']}")
    else:
        unreadable = _unreadable_versions(document)
        if unreadable:
            notes.append(
                f"{plural(len(unreadable), 'bundle')} could not be read; "
                "`atb models validate` shows why."
            )
    for model in document["models"]:
        if model["no_production_reason"]:
            name = f"{model['symbol']} {model['timeframe']} {model['model_type']}"
            notes.append(f"{name} has no production version: {model['no_production_reason']}")
    if notes:
        console.print()
        for note in notes:
            console.print(
                textwrap.fill(
                    note, width=console.width, subsequent_indent="    ", break_on_hyphens=False
                )
            )


def run_list(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb models list``; exit status 0 (listing is not a check)."""
    index = open_index(args.registry)
    reports = None
    if args.all:
        from atb_prediction.models.validation import validate_version

        require_runtime()
        progress = console.progress("checking")
        reports = {}
        try:
            for done, record in enumerate(index.versions, start=1):
                reports[record.key] = validate_version(record)
                progress.update(done, len(index.versions), record.key)
        finally:
            progress.close()
    document = list_document(index, reports)
    if args.json:
        console.json(document)
    else:
        _print_tables(console, document, args.all)
    return EXIT_OK
