"""``atb models compare``: a model's metrics, or every version's side by side."""

from __future__ import annotations

import argparse
import math
import re
import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from atb_prediction.cli.arguments import MODEL_HELP, ParserParts, SubParsers, positive_int
from atb_prediction.cli.naming import did_you_mean, parse_model, require_existing
from atb_prediction.cli.output import EXIT_OK, CommandError, Console
from atb_prediction.cli.registry_access import open_index, plural, versions_of
from atb_prediction.cli.tables import Cell, Column, render_table, shown_columns

if TYPE_CHECKING:
    from atb_prediction import BundleRecord

__all__ = ["add_parsers", "flatten_metrics", "metric_direction", "metrics_of", "run_compare"]


def add_parsers(models: SubParsers, parts: ParserParts) -> None:
    """Registers ``atb models compare``."""
    parser = parts.add(
        models,
        "compare",
        help="metrics of the production bundle, or of every version side by side",
        description="The production bundle's metrics (metrics.json, else metadata.json's "
        "evaluation_results); --versions puts every version side by side and marks the best "
        "value of each row (lower for losses and errors, higher for accuracies and returns).",
    )
    parts.model_argument(parser, MODEL_HELP)
    parser.add_argument(
        "--versions", action="store_true", help="compare every version of the model, one row each"
    )
    parser.add_argument(
        "--last",
        metavar="N",
        type=positive_int,
        help="with --versions: only the N newest versions",
    )
    parser.add_argument(
        "--sort",
        metavar="METRIC",
        help="with --versions: order the rows by METRIC, best first (lower is better for "
        "losses and errors, higher for scores)",
    )
    parser.set_defaults(command="models compare", run=run_compare)


Better = Literal["lower", "higher"]

# Word stems of metric names, matched against the name's words (split on "_", "." and "-").
_LOWER = ("loss", "rmse", "mse", "mae", "mape", "smape", "error", "err", "drawdown", "mdd")
_HIGHER = (
    "accuracy", "acc", "precision", "recall", "f1", "r2", "auc", "sharpe", "sortino",
    "calmar", "return", "returns", "profit", "pnl", "winrate", "hit", "score",
)  # fmt: skip


def metric_direction(name: str) -> Better | None:
    """Whether a lower or a higher value of metric ``name`` is better; ``None`` when unknown.

    Decided from the words of the name's last part, so ``test.rmse`` and ``test_rmse`` are
    both "lower" and ``directional_accuracy`` is "higher". Error words win over score words:
    ``accuracy_error`` is an error.
    """
    last = name.rsplit(".", 1)[-1].lower()
    words = set(re.split(r"[_\-\s]+", last)) | {last.replace("_", "")}
    if words & set(_LOWER):
        return "lower"
    if words & set(_HIGHER):
        return "higher"
    return None


def metrics_of(record: BundleRecord) -> tuple[dict[str, Any], str | None]:
    """A version's metrics and where they came from: ``metrics.json``, else metadata's
    ``evaluation_results``, else nothing."""
    if isinstance(record.metrics, dict) and record.metrics:
        return record.metrics, "metrics.json"
    evaluation = record.metadata.get("evaluation_results")
    if isinstance(evaluation, dict) and evaluation:
        return evaluation, "metadata.json#/evaluation_results"
    return {}, None


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"test": {"rmse": 0.1}}`` -> ``{"test.rmse": 0.1}``: one row per leaf."""
    flat: dict[str, Any] = {}
    for name, value in metrics.items():
        full = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, full + "."))
        else:
            flat[full] = value
    return flat


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _format(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _best(values: Mapping[str, Any], better: Better | None) -> list[str]:
    if better is None:
        return []
    numbers = {v: n for v, n in ((v, _number(x)) for v, x in values.items()) if n is not None}
    if len(numbers) < 2:
        return []  # "best of one" says nothing
    target = min(numbers.values()) if better == "lower" else max(numbers.values())
    return [v for v, n in numbers.items() if n == target]


def _single(args: argparse.Namespace, console: Console, records: list[BundleRecord]) -> int:
    production = next((r for r in records if r.is_production), None)
    if production is None:
        raise CommandError(
            f"no production bundle for {args.symbol} {args.timeframe} {args.model_type} "
            f"({len(records)} other version(s); try --versions)"
        )
    metrics, source = metrics_of(production)
    if args.json:
        console.json(
            {
                "symbol": args.symbol,
                "timeframe": args.timeframe,
                "model_type": args.model_type,
                "version": production.version_id,
                "key": production.key,
                "source": source,
                "metrics": metrics,
            }
        )
        return EXIT_OK
    console.print(f"{production.key} (production)")
    if source is None:
        console.print("No metrics: neither metrics.json nor metadata evaluation_results.")
        return EXIT_OK
    console.print(f"Metrics from {source}")
    rows: list[list[Cell | str]] = [
        [name, _format(value)] for name, value in flatten_metrics(metrics).items()
    ]
    table = render_table(
        [Column("METRIC"), Column("VALUE", align="right")],
        rows,
        width=console.width,
        style=console.style,
    )
    console.print(table)
    return EXIT_OK


def _side_by_side(args: argparse.Namespace, console: Console, records: list[BundleRecord]) -> int:
    names: dict[str, None] = {}
    flat: dict[str, dict[str, Any]] = {}
    sources: dict[str, str | None] = {}
    for record in records:
        metrics, source = metrics_of(record)
        flat[record.version_id] = flatten_metrics(metrics)
        sources[record.version_id] = source
        names.update(dict.fromkeys(flat[record.version_id]))
    records = _sorted_rows(records, flat, args.sort)
    versions = [r.version_id for r in records]
    production = next((r.version_id for r in records if r.is_production), None)
    rows_json = []
    for name in names:
        values = {v: flat[v].get(name) for v in versions}
        better = metric_direction(name)
        rows_json.append(
            {
                "name": name,
                "better": better,
                "values": values,
                "best": _best(values, better),
            }
        )
    if args.json:
        console.json(
            {
                "symbol": args.symbol,
                "timeframe": args.timeframe,
                "model_type": args.model_type,
                "production": production,
                "versions": [
                    {"version": r.version_id, "key": r.key, "source": sources[r.version_id]}
                    for r in records
                ],
                "metrics": rows_json,
            }
        )
        return EXIT_OK

    _print_versions_table(console, args, records, flat, list(names), production)
    return EXIT_OK


def _sorted_rows(
    records: list[BundleRecord], flat: dict[str, dict[str, Any]], sort: str | None
) -> list[BundleRecord]:
    """Versions in version order, or by metric ``sort``, best first, versions without it last."""
    if sort is None:
        return records
    better = metric_direction(sort) or "lower"
    with_value = [r for r in records if _number(flat[r.version_id].get(sort)) is not None]
    without = [r for r in records if r not in with_value]

    def value(record: BundleRecord) -> float:
        number = _number(flat[record.version_id].get(sort))
        assert number is not None
        return number if better == "lower" else -number

    return sorted(with_value, key=value) + without


def _print_versions_table(
    console: Console,
    args: argparse.Namespace,
    records: list[BundleRecord],
    flat: dict[str, dict[str, Any]],
    names: list[str],
    production: str | None,
) -> None:
    """One table: a row per version, a column per metric (the sorted one first); metric
    columns that do not fit are left out and named below, the version never cut."""
    if args.sort is not None:
        names = [args.sort, *[n for n in names if n != args.sort]]
    versions = [r.version_id for r in records]
    best = {n: _best({v: flat[v].get(n) for v in versions}, metric_direction(n)) for n in names}
    columns = [Column("VERSION", identifier=True)]
    columns.extend(Column(name, align="right", optional=True) for name in names)
    rows: list[list[Cell | str]] = []
    for record in records:
        version = record.version_id
        label = version + (" (production)" if version == production else "")
        cells: list[Cell | str] = [Cell(label, "bold") if version == production else label]
        for name in names:
            text = _format(flat[version].get(name))
            # Unmarked values get two spaces so that right-aligned numbers stay in line.
            cells.append(Cell(text + " *", "best") if version in best[name] else text + "  ")
        rows.append(cells)
    title = f"{args.symbol} {args.timeframe} {args.model_type}: {plural(len(records), 'version')}"
    if args.last is not None:
        title += f" (the {args.last} newest)"
    if args.sort is not None:
        title += f", best {args.sort} first"
    console.print(title)
    table = render_table(columns, rows, width=console.width, style=console.style)
    console.print(table)
    console.print()
    shown = {column.header for column in shown_columns(columns, rows, width=console.width)}
    hidden = [n for n in names if n not in shown]
    if hidden:
        note = (
            f"{plural(len(hidden), 'metric')} left out to fit the width ({', '.join(hidden)}): "
            "use --sort METRIC, a wider terminal, or --json"
        )
        console.print(textwrap.fill(note, width=console.width, break_on_hyphens=False))
    if names:
        console.print("* best value of the column (lower for losses and errors, higher for scores)")
    else:
        console.print("No version has metrics (metrics.json or metadata evaluation_results).")


def run_compare(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb models compare``; exit status 1 when the model or its production is missing."""
    root = args.registry
    name = parse_model(args.model, "timeframe")
    index = open_index(root)
    require_existing(root, name, index)
    args.symbol, args.timeframe, args.model_type = name.symbol, name.timeframe, name.model_type
    records = versions_of(index, args.symbol, args.timeframe, args.model_type)
    if not records:
        raise CommandError(
            f"no model {args.symbol} {args.timeframe} {args.model_type} in {index.root} "
            "(`atb models list` shows what there is)"
        )
    if args.sort is not None:
        known = {n for r in records for n in flatten_metrics(metrics_of(r)[0])}
        if args.sort not in known:
            raise CommandError(f"no metric {args.sort!r}; {did_you_mean(args.sort, known)}")
    if args.last is not None:
        records = records[-args.last :]
    if args.versions:
        return _side_by_side(args, console, records)
    return _single(args, console, records)
