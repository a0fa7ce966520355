"""``atb models validate``: check versions, print a table of results, exit 1 on any failure."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from atb_prediction.cli.arguments import ParserParts, SubParsers
from atb_prediction.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError, Console
from atb_prediction.cli.registry_access import plural, require_registry, require_runtime
from atb_prediction.cli.tables import Cell, Column, render_table
from atb_prediction.models.exceptions import ModelNotAvailableError, PredictionError

if TYPE_CHECKING:
    from atb_prediction.models.validation import VersionReport

__all__ = ["add_parsers", "report_json", "run_validate"]


def add_parsers(models: SubParsers, parts: ParserParts) -> None:
    """Registers ``atb models validate``."""
    parser = parts.add(
        models,
        "validate",
        help="check every version: schemas, model, shapes, one inference",
        description="Checks every version (or those matching KEY): JSON schemas, that the "
        "model opens, that its input shape agrees with feature_schema.json and with "
        "metadata's sequence_length and feature_names, and that one inference on zeros gives "
        "finite output. Exit status 1 when any check fails.",
    )
    parts.key_argument(parser, "keys", "*")
    parser.set_defaults(command="models validate", run=run_validate)


def report_json(report: VersionReport) -> dict[str, Any]:
    """One entry of ``results`` in the JSON output."""
    return {
        "key": report.key,
        "path": report.path,
        "ok": report.ok,
        "problems": report.problems,
        "timings": report.timings,
    }


def run_validate(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb models validate``; exit status 1 when any version fails."""
    # Imported here: validation imports numpy, which building the parser must not.
    from atb_prediction.models.validation import parse_key, validate_registry

    for key in args.keys:
        try:
            parse_key(key)
        except ValueError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from exc
    root = args.registry
    require_registry(root)
    require_runtime()
    progress = console.progress("validating")
    try:
        reports = validate_registry(root, args.keys or None, progress=progress.update)
    except ModelNotAvailableError as exc:
        raise CommandError(str(exc)) from exc
    except (PredictionError, OSError) as exc:
        raise CommandError(f"cannot validate {root}: {exc}") from exc
    finally:
        progress.close()

    failed = [r for r in reports if not r.ok]
    if args.json:
        console.json(
            {
                "registry": os.path.abspath(root),
                "ok": not failed,
                "checked": len(reports),
                "passed": len(reports) - len(failed),
                "failed": len(failed),
                "results": [report_json(r) for r in reports],
            }
        )
    else:
        rows: list[list[Cell | str]] = []
        for report in reports:
            rows.append(
                [
                    report.key,
                    Cell("ok", "green") if report.ok else Cell("FAIL", "fail"),
                    "\n".join(f"- {p}" for p in report.problems),
                ]
            )
        columns = [
            Column("VERSION", identifier=True),
            Column("RESULT"),
            Column("PROBLEMS", wrap=True),
        ]
        console.print(render_table(columns, rows, width=console.width, style=console.style))
        console.print()
        summary = (
            f"{plural(len(reports), 'version')} checked: "
            f"{len(reports) - len(failed)} passed, {len(failed)} failed"
        )
        console.print(console.style("fail" if failed else "green", summary))
    return EXIT_FAILED if failed else EXIT_OK
