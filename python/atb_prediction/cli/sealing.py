"""``atb models seal`` and ``atb models verify``: write and check the integrity manifest
(``manifest.json``: sha256 and size of every file) of registry versions."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

from atb_prediction.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError, Console
from atb_prediction.cli.tables import Cell, Column, StyleName, render_table
from atb_prediction.models.exceptions import PredictionError

__all__ = ["add_parsers", "run_seal", "run_verify"]


def add_parsers(
    models: argparse._SubParsersAction[Any],
    parents: list[argparse.ArgumentParser],
    key_help: str,
    **common: Any,
) -> None:
    """Add ``seal`` and ``verify`` to the ``atb models`` subcommands."""
    parser = models.add_parser(
        "seal",
        parents=parents,
        help="write manifest.json (sha256 and size of every file) in versions",
        description="Writes manifest.json in every version folder (or those matching KEY): the "
        "sha256 and size of every file of the bundle, written atomically. `atb models verify` "
        "and the registry (PredictionConfig.verify_integrity) check bundles against it.",
        **common,
    )
    parser.add_argument("keys", metavar="KEY", nargs="*", help=key_help)
    parser.set_defaults(command="models seal")

    parser = models.add_parser(
        "verify",
        parents=parents,
        help="check versions against their manifest.json; exit 1 naming changed files",
        description="Checks every version folder (or those matching KEY) against its "
        "manifest.json and names every file changed, missing or added since it was sealed. "
        "Exit status 1 when any sealed version changed (with --strict, also when a version "
        "has no manifest).",
        **common,
    )
    parser.add_argument("keys", metavar="KEY", nargs="*", help=key_help)
    parser.add_argument(
        "--strict", action="store_true", help="count a version without manifest.json as failed"
    )
    parser.set_defaults(command="models verify")


@dataclass(frozen=True, slots=True)
class _Folder:
    key: str
    path: str


def _version_folders(args: argparse.Namespace) -> tuple[str, list[_Folder]]:
    """The registry root and every version folder the scan found there, readable or not,
    matching ``args.keys``."""
    from atb_prediction.cli.arguments import registry_path
    from atb_prediction.cli.registry_access import open_index, require_registry
    from atb_prediction.models.validation import KeyFilter, split_bundle_path

    root = registry_path(args.registry)
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
        is_version = display.count("/") == 2 and name != "latest" and os.path.isdir(path)
        if is_version and wanted(symbol, None, model_type, name):
            folders.append(_Folder(display, path))
    selection.require_all_matched(index_root)
    return root, sorted(folders, key=lambda f: f.path)


def run_seal(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb models seal``; exit status 1 when a version cannot be sealed."""
    from atb_prediction.models.integrity import seal_bundle

    root, folders = _version_folders(args)
    results: list[dict[str, Any]] = []
    for folder in folders:
        try:
            count = seal_bundle(folder.path, root)
        except (PredictionError, OSError) as exc:
            results.append({"key": folder.key, "path": folder.path, "ok": False, "error": str(exc)})
        else:
            results.append({"key": folder.key, "path": folder.path, "ok": True, "files": count})
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
    from atb_prediction.models.integrity import verify_bundle

    root, folders = _version_folders(args)
    results: list[dict[str, Any]] = []
    for folder in folders:
        try:
            changes = verify_bundle(folder.path, root)
        except (PredictionError, OSError) as exc:
            status, problems = "error", [str(exc)]
        else:
            if changes is None:
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
