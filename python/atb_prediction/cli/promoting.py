"""``atb models promote``, ``history`` and ``rollback``: the command-line face of
:mod:`atb_prediction.promotion`."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any, Literal

from atb_prediction import promotion
from atb_prediction._core import BOOTSTRAP_METRICS, BOOTSTRAP_RESAMPLES
from atb_prediction.cli.arguments import (
    TYPE_HELP,
    VERSION_HELP,
    ParserParts,
    SubParsers,
    as_usage_error,
)
from atb_prediction.cli.backtesting import add_score_options, check_score_options
from atb_prediction.cli.naming import ModelName, parse_model, require_existing
from atb_prediction.cli.output import EXIT_FAILED, EXIT_OK, CommandError, Console
from atb_prediction.cli.registry_access import open_index, require_registry, require_runtime
from atb_prediction.cli.tables import Cell, Column, render_table
from atb_prediction.metrics import DEFAULT_ALPHA
from atb_prediction.promotion.gate import format_value
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
        "as for `atb backtest sweep`: raw OHLCV or named features, with a close column), and "
        "refuse unless the candidate beats both production and buy-and-hold on --metric with "
        "a bootstrap p-value of at most --alpha, over at least --min-bars bars each; the "
        "evidence (with the sha256 of the bars and of both models) is journaled",
    )
    parser.add_argument(
        "--metric",
        default="sharpe",
        metavar="METRIC",
        choices=BOOTSTRAP_METRICS,
        help=f"what --gate compares: {', '.join(BOOTSTRAP_METRICS)} of the strategy's returns "
        "(default sharpe; max_drawdown is better when lower)",
    )
    add_score_options(parser)
    parser.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        metavar="P",
        help=f"the largest p-value --gate accepts, against production and against "
        f"buy-and-hold (default {DEFAULT_ALPHA:g})",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=BOOTSTRAP_RESAMPLES,
        metavar="B",
        help=f"resamples of each --gate bootstrap (default {BOOTSTRAP_RESAMPLES:,})",
    )
    parser.add_argument(
        "--block-length",
        type=float,
        metavar="BARS",
        help="mean block length of the --gate bootstrap (default: Politis and White's "
        "automatic choice, per comparison)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of the --gate bootstrap's resamples (default 0: the same bars give the "
        "same p-values)",
    )
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
    # The model type alone: everything these commands check is about it, so other symbols of
    # the registry cost nothing.
    only = (name.symbol, name.model_type)
    index = open_index(root, only) if name.timeframe else None
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
    """Print what ``promote`` would change and whether it would be refused; change nothing.
    The version is opened and evaluated as ``promote`` does: once, through ``index``."""
    from atb_prediction.promotion.operations import evaluate_candidate, run_gate

    assert name.version is not None
    current = promotion.current_version(root, name.symbol, name.model_type)
    change = timeframe_change(index, name.symbol, name.model_type, name.version)
    gate, evidence = _gate(args), None
    candidate = evaluate_candidate(
        root, name.symbol, name.model_type, name.version,
        force=args.force, for_gate=gate is not None, index=index,
    )  # fmt: skip
    refusals = [f"fails validation: {p}" for p in candidate.problems]
    if change is not None and not args.force:
        refusals.append(change.message())
    if gate is not None and candidate.bundle is not None:
        from atb_prediction.promotion.gate import refusal

        evidence = run_gate(gate, candidate, name.symbol, name.model_type, current)
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


#: The Gate's settings, as their options are spelled.
_GATE_OPTIONS = {
    "alpha": "--alpha",
    "resamples": "--resamples",
    "block_length": "--block-length",
    "seed": "--seed",
}


def _gate(args: argparse.Namespace) -> Gate | None:
    """The ``--gate`` of a promotion, its settings checked (a usage error naming the option)
    before any work: its bars read as ``atb backtest sweep`` reads a series, once, and the
    sha256 of those bytes journaled as the evidence's series."""
    if args.gate is None:
        return None
    from atb_prediction.backtest import Gate
    from atb_prediction.cli.backtesting import read_series_file

    check_score_options(args)
    settings = {
        "metric": args.metric,
        "horizon": args.horizon,
        "fee_bps": args.fee_bps,
        "long_threshold": args.long_threshold,
        "short_threshold": args.short_threshold,
        "min_bars": args.min_bars,
        "alpha": args.alpha,
        "resamples": args.resamples,
        "block_length": args.block_length,
        "seed": args.seed,
        "periods_per_year": args.periods_per_year,
    }
    try:
        Gate(None, **settings).check()
    except ValueError as error:
        raise as_usage_error(error, _GATE_OPTIONS) from error
    # Read once: the digest journaled is of the very bytes parsed.
    series, digest = read_series_file(args.gate)
    check_score_options(args, series.bars)  # the horizon must leave a bar to judge
    return Gate(series, series_sha256=digest, **settings)


def _print_gate(console: Console, evidence: dict[str, Any]) -> None:
    """The verdict, each comparison (the candidate's value first, the p-value) and the scores
    of the candidate, production and buy-and-hold side by side."""
    from atb_prediction.cli.scoring import score_table

    rows = [evidence["candidate"]]
    labels = ["candidate"]
    if evidence["production"] is not None:
        rows.append(evidence["production"])
        labels.append("production")
    if evidence.get("benchmark") is not None:
        rows.append(evidence["benchmark"])
        labels.append("benchmark")
    metric = evidence["metric"]
    verdict = "passes" if evidence["passed"] else "is refused"
    console.print(
        f"Gate over {evidence['bars']:,} bars (horizon {evidence['horizon']}, fee "
        f"{evidence['fee_bps']:g} bps, {evidence['periods_per_year']:,.6g} bars a year): the "
        f"candidate {verdict} on {metric}"
    )
    comparisons = evidence.get("comparisons") or {}
    for role, test in comparisons.items():
        if test is None:
            continue
        against = (
            f"production {evidence['production']['version']}"
            if role == "production"
            else "buy-and-hold"
        )
        if test.get("p_value") is None:
            console.print(f"  against {against}: {test['bars']:,} bars both score, no p-value")
            continue
        console.print(
            f"  against {against}, over the {test['bars']:,} bars both score: {metric} "
            f"{format_value(test['candidate'])} vs {format_value(test['reference'])}, p = "
            f"{test['p_value']:.4g} (alpha {evidence['alpha']:g}, block length "
            f"{test['block_length']:.3g})"
        )
    if comparisons:
        console.print("Scores over every bar (a version without a window yet holds no position):")
    console.print(
        score_table(
            rows,
            width=console.width,
            style=console.style,
            best=metric if evidence["passed"] else None,
            labels=labels,
        )
    )


def run_promote(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb models promote``; exit status 1 when the promotion is refused."""
    root, name, index = _named(args, "version")
    assert name.version is not None
    if not args.force or args.gate:
        require_runtime()
    # One scan for the whole command: the guard, validation and the gate all read it.
    index = index or open_index(root, (name.symbol, name.model_type))
    if args.dry_run:
        return _dry_run(console, args, root, name, index)
    if not args.force:
        _refuse_timeframe_change(index, name, name.version)
    try:
        result = promotion.promote(
            root,
            name.symbol,
            name.model_type,
            name.version,
            reason=args.reason,
            force=args.force,
            gate=_gate(args),
            index=index,
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
    note = f"gate: {metric} {candidate} vs {production} ({outcome})"
    p_values = [
        f"{name} p {p:.3g}"
        for name, p in (
            ("production", gate.get("p_value")),
            ("buy-and-hold", (gate.get("benchmark") or {}).get("p_value")),
        )
        if isinstance(p, int | float)
    ]
    return note + (f"; {', '.join(p_values)}" if p_values else "")


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
