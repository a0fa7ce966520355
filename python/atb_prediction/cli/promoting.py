"""``atb models promote``, ``history`` and ``rollback``: the command-line face of
:mod:`atb_prediction.promotion`."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any, Literal

from atb_prediction import promotion
from atb_prediction.cli.arguments import TYPE_HELP, VERSION_HELP, ParserParts, SubParsers
from atb_prediction.cli.backtesting import add_score_options, check_score_options
from atb_prediction.cli.naming import ModelName, parse_model, require_existing
from atb_prediction.cli.output import EXIT_FAILED, EXIT_OK, CommandError, Console
from atb_prediction.cli.registry_access import open_index, require_registry, require_runtime
from atb_prediction.cli.tables import Cell, Column, render_table
from atb_prediction.metrics import COMPARABLE, LOWER_IS_BETTER
from atb_prediction.promotion.guard import timeframe_change

if TYPE_CHECKING:
    from atb_prediction import RegistryIndex
    from atb_prediction.backtest import Gate

__all__ = ["add_parsers", "run_history", "run_promote", "run_rollback"]


def add_parsers(models: SubParsers, parts: ParserParts) -> None:
    """Registers ``atb models promote``, ``history`` and ``rollback``."""
    parser = parts.add(
        models,
        "promote",
        help="make a version production (atomic, locked, journaled)",
        description="Points SYMBOL/MODEL_TYPE/latest at VERSION in one atomic rename, under a "
        "lock, and appends the change to SYMBOL/MODEL_TYPE/promotions.jsonl. Refuses a "
        "version that is missing or fails validation (unless --force) and a `latest` that is "
        "a real directory, and one whose timeframe differs from the current production's (live "
        "selections of the old timeframe would stop resolving) unless --force.",
    )
    parts.model_argument(parser, VERSION_HELP)
    parser.add_argument("--reason", metavar="TEXT", help="why, recorded in the journal")
    parser.add_argument(
        "--force",
        action="store_true",
        help="promote even if validation fails or the timeframe changes (journaled)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would change and whether it would be refused; change nothing",
    )
    parser.add_argument(
        "--gate",
        metavar="BARS_FILE",
        help="sweep the candidate and the current production over these bars (a series file "
        "as for `atb backtest sweep`: raw OHLCV or named features, with a close column) and "
        "refuse unless the candidate scores strictly better on --metric; the evidence is "
        "journaled",
    )
    parser.add_argument(
        "--metric",
        default="sharpe",
        metavar="METRIC",
        choices=COMPARABLE,
        help=f"what --gate compares: {', '.join(COMPARABLE)} (default sharpe; "
        f"{', '.join(sorted(LOWER_IS_BETTER))} are better when lower)",
    )
    add_score_options(parser)
    parser.set_defaults(command="models promote", run=run_promote)

    parser = parts.add(
        models,
        "history",
        help="the promotion journal of a model",
        description="Prints SYMBOL/MODEL_TYPE/promotions.jsonl, oldest first.",
    )
    parts.model_argument(parser, TYPE_HELP)
    parser.set_defaults(command="models history", run=run_history)

    parser = parts.add(
        models,
        "rollback",
        help="promote back to the version before the current one",
        description="Promotes SYMBOL/MODEL_TYPE back to the version it had before the current "
        "one, as recorded in promotions.jsonl (or to --to VERSION), through the same checks, "
        "lock and journal as promote. Repeated rollbacks walk further back.",
    )
    parts.model_argument(parser, TYPE_HELP)
    parser.add_argument(
        "--to",
        metavar="VERSION",
        help="roll back to this version rather than the one before the current",
    )
    parser.add_argument("--reason", metavar="TEXT", help="why, recorded in the journal")
    parser.add_argument(
        "--force", action="store_true", help="roll back even if validation fails (journaled)"
    )
    parser.set_defaults(command="models rollback", run=run_rollback)


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


def _named(
    args: argparse.Namespace, form: Literal["type", "version"]
) -> tuple[str, ModelName, RegistryIndex | None]:
    """The registry root and the model (or version) the command names, checked to exist, and
    the index scanned for that check (``None`` when a name without a timeframe needed none)."""
    root = args.registry
    require_registry(root)
    name = parse_model(args.model, form)
    index = open_index(root) if name.timeframe else None
    require_existing(root, name, index)
    return root, name, index


def _refuse_timeframe_change(index: RegistryIndex, name: ModelName, version: str) -> None:
    """The promotion guard: refuse (exit 1) a version of another timeframe than production's."""
    change = timeframe_change(index, name.symbol, name.model_type, version)
    if change is not None:
        raise CommandError(change.message(), EXIT_FAILED)


def _dry_run(
    console: Console, args: argparse.Namespace, root: str, name: ModelName, index: RegistryIndex
) -> int:
    """Print what ``promote`` would change and whether it would be refused; change nothing."""
    from atb_prediction.models.validation import check_version

    assert name.version is not None
    current = promotion.current_version(root, name.symbol, name.model_type)
    change = timeframe_change(index, name.symbol, name.model_type, name.version)
    problems = (
        []
        if args.force
        else check_version(root, name.symbol, name.model_type, name.version).problems
    )
    refusals = [f"fails validation: {p}" for p in problems]
    if change is not None and not args.force:
        refusals.append(change.message())
    gate, evidence = _gate(args), None
    if gate is not None:
        from atb_prediction.promotion.gate import refusal

        evidence = gate.evaluate(root, name.symbol, name.model_type, name.version, current)
        if not evidence["passed"] and not args.force:
            refusals.append(str(refusal(evidence)))
    if args.json:
        console.json(
            {
                "registry": os.path.abspath(root),
                "dry_run": True,
                "symbol": name.symbol,
                "model_type": name.model_type,
                "from_version": current,
                "to_version": name.version,
                "changed": current != name.version,
                "refused": bool(refusals),
                "refusals": refusals,
                "timeframe_change": None
                if change is None
                else {"from": change.current_timeframe, "to": change.new_timeframe},
                "gate": evidence,
            }
        )
    else:
        label = f"{name.symbol}/{name.model_type}"
        if current == name.version:
            console.print(f"{label}: {name.version} already is production; nothing would change.")
        else:
            console.print(f"Would promote {label}: {current or '(none)'} -> {name.version}")
        if evidence is not None:
            _print_gate(console, evidence)
        for reason in refusals:
            console.print(f"  refused: {reason}")
        if not refusals:
            console.print("  checks pass; nothing was changed (dry run)")
    return EXIT_FAILED if refusals else EXIT_OK


def _gate(args: argparse.Namespace) -> Gate | None:
    """The ``--gate`` of a promotion: its bars read as ``atb backtest sweep`` reads a series,
    and the sha256 of the file journaled as the evidence's series."""
    if args.gate is None:
        return None
    check_score_options(args)
    import hashlib

    from atb_prediction.backtest import Gate
    from atb_prediction.cli.backtesting import read_series

    series = read_series(args.gate)
    check_score_options(args, series.bars)
    with open(args.gate, "rb") as file:
        digest = hashlib.file_digest(file, "sha256").hexdigest()
    return Gate(
        series,
        metric=args.metric,
        horizon=args.horizon,
        fee_bps=args.fee_bps,
        periods_per_year=args.periods_per_year,
        series_sha256=digest,
    )


def _print_gate(console: Console, evidence: dict[str, Any]) -> None:
    """The candidate's and production's scores side by side, the metric compared named."""
    from atb_prediction.cli.scoring import score_table

    rows = [evidence["candidate"]]
    labels = ["candidate"]
    if evidence["production"] is not None:
        rows.append(evidence["production"])
        labels.append("production")
    verdict = "better" if evidence["passed"] else "not better"
    console.print(
        f"Gate over {evidence['bars']:,} bars (horizon {evidence['horizon']}, fee "
        f"{evidence['fee_bps']:g} bps, {evidence['periods_per_year']:,.6g} bars a year): the "
        f"candidate is {verdict} on {evidence['metric']}"
    )
    console.print(
        score_table(
            rows,
            width=console.width,
            style=console.style,
            best=evidence["metric"] if evidence["passed"] else None,
            labels=labels,
        )
    )


def run_promote(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb models promote``; exit status 1 when the promotion is refused."""
    root, name, index = _named(args, "version")
    assert name.version is not None
    if not args.force or args.gate:
        require_runtime()
    if args.dry_run:
        return _dry_run(console, args, root, name, index or open_index(root))
    if not args.force:
        _refuse_timeframe_change(index or open_index(root), name, name.version)
    try:
        result = promotion.promote(
            root,
            name.symbol,
            name.model_type,
            name.version,
            reason=args.reason,
            force=args.force,
            gate=_gate(args),
        )
    except promotion.GateRefusedError as refused:
        if args.json:
            console.json(
                {
                    "registry": os.path.abspath(root),
                    "changed": False,
                    "refused": str(refused),
                    "gate": refused.evidence,
                }
            )
        else:
            _print_gate(console, refused.evidence)
        raise CommandError(str(refused), EXIT_FAILED) from None
    if args.json:
        console.json(_result_json(root, result))
    else:
        if result.record.gate is not None:
            _print_gate(console, result.record.gate)
        _report(console, result, "Promoted")
    return EXIT_OK


def run_rollback(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb models rollback``; exit status 1 when there is nothing to roll back to."""
    root, name, _ = _named(args, "type")
    if args.to is not None:
        require_existing(
            root, ModelName(symbol=name.symbol, model_type=name.model_type, version=args.to)
        )
    if not args.force:
        require_runtime()
    # No timeframe guard: a rollback returns to a version that was production before.
    result = promotion.rollback(
        root,
        name.symbol,
        name.model_type,
        to=args.to,
        reason=args.reason,
        force=args.force,
    )
    if args.json:
        console.json(_result_json(root, result))
    else:
        _report(console, result, "Rolled back")
    return EXIT_OK


def _when(timestamp: str) -> str:
    """``2025-11-26T08:00:00.123+00:00`` -> ``2025-11-26 08:00:00``; the JSON keeps it all."""
    return timestamp[:19].replace("T", " ") if len(timestamp) >= 19 else timestamp


def _gate_note(gate: dict[str, Any]) -> str:
    """``gate: sharpe 1.52 vs 0.31 (passed)``: the evidence of a gated promotion, in one line."""
    metric = gate.get("metric", "?")

    def value(row: object) -> str:
        number = row.get(metric) if isinstance(row, dict) else None
        return f"{number:.4g}" if isinstance(number, int | float) else "-"

    outcome = "passed" if gate.get("passed") else "failed"
    candidate, production = value(gate.get("candidate")), value(gate.get("production"))
    return f"gate: {metric} {candidate} vs {production} ({outcome})"


def run_history(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb models history``: the journal, oldest first."""
    root, name, _ = _named(args, "type")
    records = promotion.history(root, name.symbol, name.model_type)
    try:
        current = promotion.current_version(root, name.symbol, name.model_type)
    except promotion.PromotionRefusedError as exc:
        raise CommandError(str(exc)) from exc
    if args.json:
        console.json(
            {
                "registry": os.path.abspath(root),
                "symbol": name.symbol,
                "model_type": name.model_type,
                "current": current,
                "entries": [record.to_json() for record in records],
            }
        )
        return EXIT_OK
    label = f"{name.symbol}/{name.model_type}"
    console.print(f"{label}: production is {current or '(no latest)'}")
    if not records:
        console.print(f"No promotions recorded in {label}/{promotion.JOURNAL_NAME}.")
        return EXIT_OK
    columns = [
        Column("TIME (UTC)"),
        Column("FROM", identifier=True),
        Column("TO", identifier=True),
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
        if record.gate is not None:
            notes.append(_gate_note(record.gate))
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
