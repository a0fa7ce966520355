"""``atb models promote``, ``history`` and ``rollback``: the command-line face of
:mod:`atb_prediction.promotion`."""

from __future__ import annotations

import argparse
import os
from typing import Any

from atb_prediction import promotion
from atb_prediction.cli.arguments import registry_path
from atb_prediction.cli.output import EXIT_OK, CommandError, Console
from atb_prediction.cli.registry_access import require_registry
from atb_prediction.cli.tables import Cell, Column, render_table

__all__ = ["run_history", "run_promote", "run_rollback"]


def _result_json(root: str, result: promotion.PromotionResult) -> dict[str, Any]:
    return {
        "registry": os.path.abspath(root),
        "changed": result.changed,
        "record": result.record.to_json(),
    }


def _report(console: Console, result: promotion.PromotionResult, verb: str) -> None:
    record = result.record
    name = f"{record.symbol}/{record.model_type}"
    if not result.changed:
        console.print(f"{name}: {record.to_version} already is production; nothing changed.")
        return
    before = record.from_version or "(none)"
    forced = console.style("yellow", " (validation skipped: --force)") if record.forced else ""
    console.print(f"{verb} {name}: {before} -> {console.style('bold', record.to_version)}{forced}")
    console.print(f"Recorded in {name}/{promotion.JOURNAL_NAME}.")


def run_promote(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb models promote``; exit status 1 when the promotion is refused."""
    root = registry_path(args.registry)
    require_registry(root)
    result = promotion.promote(
        root, args.symbol, args.model_type, args.version, reason=args.reason, force=args.force
    )
    if args.json:
        console.json(_result_json(root, result))
    else:
        _report(console, result, "Promoted")
    return EXIT_OK


def run_rollback(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb models rollback``; exit status 1 when there is nothing to roll back to."""
    root = registry_path(args.registry)
    require_registry(root)
    result = promotion.rollback(
        root, args.symbol, args.model_type, reason=args.reason, force=args.force
    )
    if args.json:
        console.json(_result_json(root, result))
    else:
        _report(console, result, "Rolled back")
    return EXIT_OK


def _when(timestamp: str) -> str:
    """``2025-11-26T08:00:00.123+00:00`` -> ``2025-11-26 08:00:00``; the JSON keeps it all."""
    return timestamp[:19].replace("T", " ") if len(timestamp) >= 19 else timestamp


def run_history(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb models history``: the journal, oldest first."""
    root = registry_path(args.registry)
    require_registry(root)
    records = promotion.history(root, args.symbol, args.model_type)
    try:
        current = promotion.current_version(root, args.symbol, args.model_type)
    except promotion.PromotionRefusedError as exc:
        raise CommandError(str(exc)) from exc
    if args.json:
        console.json(
            {
                "registry": os.path.abspath(root),
                "symbol": args.symbol,
                "model_type": args.model_type,
                "current": current,
                "entries": [record.to_json() for record in records],
            }
        )
        return EXIT_OK
    name = f"{args.symbol}/{args.model_type}"
    console.print(f"{name}: production is {current or '(no latest)'}")
    if not records:
        console.print(f"No promotions recorded in {name}/{promotion.JOURNAL_NAME}.")
        return EXIT_OK
    columns = [
        Column("TIME (UTC)"),
        Column("FROM"),
        Column("TO"),
        Column("BY", wrap=True),
        Column("REASON", wrap=True),
    ]
    rows: list[list[Cell | str]] = []
    for record in records:
        notes = []
        if record.action == "rollback":
            notes.append("[rollback]")
        if record.forced:
            notes.append("[forced]")
        if record.reason:
            notes.append(record.reason)
        rows.append(
            [
                _when(record.time),
                record.from_version or "-",
                Cell(record.to_version, "bold" if record.to_version == current else None),
                record.user,
                " ".join(notes),
            ]
        )
    console.print(render_table(columns, rows, width=console.width, style=console.style))
    return EXIT_OK
