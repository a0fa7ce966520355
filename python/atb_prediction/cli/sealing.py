"""``atb models seal`` and ``atb models verify``: write and check the integrity manifest
(``manifest.json``: sha256 and size of every file) of registry versions."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from atb_prediction._core import LATEST
from atb_prediction.cli.arguments import ParserParts, SubParsers
from atb_prediction.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError, Console
from atb_prediction.cli.tables import Cell, Column, StyleName, render_table
from atb_prediction.models.exceptions import PredictionError

__all__ = ["add_parsers", "run_seal", "run_verify"]

_T = TypeVar("_T")


def add_parsers(models: SubParsers, parts: ParserParts) -> None:
    """Registers ``atb models seal`` and ``atb models verify``."""
    parser = parts.add(
        models,
        "seal",
        help="write manifest.json (sha256 and size of every file) in versions",
        description="Writes manifest.json in every version folder (or those matching KEY): the "
        "sha256 and size of every file of the bundle, written atomically. `atb models verify` "
        "and the registry (PredictionConfig.verify_integrity) check bundles against it.",
    )
    parts.key_argument(parser, "keys", "*")
    parser.set_defaults(command="models seal", run=run_seal)

    parser = parts.add(
        models,
        "verify",
        help="check versions against their manifest.json; exit 1 naming changed files",
        description="Checks every version folder (or those matching KEY) against its "
        "manifest.json and names every file changed, missing or added since it was sealed. "
        "Exit status 1 when any sealed version changed (with --strict, also when a version "
        "has no manifest).",
    )
    parts.key_argument(parser, "keys", "*")
    parser.add_argument(
        "--strict", action="store_true", help="count a version without manifest.json as failed"
    )
    parser.set_defaults(command="models verify", run=run_verify)


@dataclass(frozen=True, slots=True)
class _Folder:
    key: str
    path: str
    refused: str | None = None
    """Why the registry does not serve this folder (the scan's reason), if it does not."""


def _version_folders(args: argparse.Namespace) -> tuple[str, list[_Folder]]:
    """The registry root and every version folder the scan found there, readable or not (and
    the ones it refuses, with its reason), matching ``args.keys``."""
    from atb_prediction._core import registry_folders
    from atb_prediction.cli.registry_access import open_index, require_registry
    from atb_prediction.models.validation import KeyFilter, split_bundle_path

    root = args.registry
    require_registry(root)
    try:
        selection = KeyFilter(args.keys)
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from exc
    wanted = selection.wanted
    index = open_index(root)
    index_root = os.fspath(index.root)

    folders = [
        _Folder(r.key, os.fspath(r.directory))
        for r in index.versions
        if wanted(r.symbol, r.timeframe, r.model_type, r.version_id)
    ]
    for bundle in index.invalid:
        path = os.fspath(bundle.path)
        display, symbol, model_type, name = split_bundle_path(index_root, path)
        if display.count("/") != 2 or name == LATEST or not wanted(symbol, None, model_type, name):
            continue
        served, refused = registry_folders(os.path.dirname(path), index_root)
        if name in served:  # a version the scan could not read: its files can still be sealed
            folders.append(_Folder(display, path))
        elif name in dict(refused):
            folders.append(_Folder(display, path, refused=bundle.reason))
    selection.require_all_matched(index_root)
    return root, sorted(folders, key=lambda f: f.path)


def _each(
    folders: list[_Folder], action: Callable[[str], _T]
) -> list[tuple[_Folder, _T | None, str | None]]:
    """``action(path)`` on each folder: ``(folder, result, None)``, or ``(folder, None, why)``
    when the registry refuses the folder or the action fails."""
    outcomes: list[tuple[_Folder, _T | None, str | None]] = []
    for folder in folders:
        if folder.refused is not None:
            outcomes.append((folder, None, folder.refused))
            continue
        try:
            outcomes.append((folder, action(folder.path), None))
        except (PredictionError, OSError) as exc:
            outcomes.append((folder, None, str(exc)))
    return outcomes


def run_seal(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb models seal``; exit status 1 when a version cannot be sealed."""
    from atb_prediction._core import seal_bundle

    root, folders = _version_folders(args)
    results: list[dict[str, Any]] = []
    for folder, count, error in _each(folders, lambda path: seal_bundle(path, root)):
        result: dict[str, Any] = {"key": folder.key, "path": folder.path, "ok": error is None}
        result.update({"error": error} if error is not None else {"files": count})
        results.append(result)
    failed = [r for r in results if not r["ok"]]
    if args.json:
        console.json({"registry": os.path.abspath(root), "ok": not failed, "results": results})
    else:
        for result in results:
            if result["ok"]:
                console.print(f"sealed {result['key']} ({result['files']} files)")
            else:
                console.error(f"cannot seal {result['key']}: {result['error']}")
    return EXIT_FAILED if failed else EXIT_OK


def run_verify(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb models verify``; exit status 1 when a sealed version changed."""
    from atb_prediction._core import verify_bundle

    root, folders = _version_folders(args)
    results: list[dict[str, Any]] = []
    for folder, changes, error in _each(folders, lambda path: verify_bundle(path, root)):
        if error is not None:
            status, problems = "error", [error]
        elif changes is None:
            status, problems = "unsealed", []
        else:
            status, problems = ("changed" if changes else "ok"), changes
        results.append(
            {"key": folder.key, "path": folder.path, "status": status, "problems": problems}
        )
    bad = {"changed", "error"} | ({"unsealed"} if args.strict else set())
    failed = [r for r in results if r["status"] in bad]
    if args.json:
        console.json({"registry": os.path.abspath(root), "ok": not failed, "results": results})
        return EXIT_FAILED if failed else EXIT_OK
    styles: dict[str, StyleName] = {"ok": "green", "unsealed": "yellow"}
    rows: list[list[Cell | str]] = [
        [
            r["key"],
            Cell(r["status"], styles.get(r["status"], "fail")),
            "\n".join(f"- {p}" for p in r["problems"]),
        ]
        for r in results
    ]
    columns = [Column("VERSION"), Column("INTEGRITY"), Column("CHANGED FILES", wrap=True)]
    console.print(render_table(columns, rows, width=console.width, style=console.style))
    return EXIT_FAILED if failed else EXIT_OK
