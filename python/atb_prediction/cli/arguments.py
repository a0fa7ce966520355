"""The ``atb`` argument parser: every command, option and the documented exit codes."""

from __future__ import annotations

import argparse
import os
from typing import NoReturn

from atb_prediction.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE

__all__ = ["DEFAULT_REGISTRY", "REGISTRY_ENV", "build_parser", "registry_path"]

DEFAULT_REGISTRY = "src/ml/models"
"""Upstream's default registry folder, relative to the working directory."""

REGISTRY_ENV = "MODEL_REGISTRY_PATH"
"""Environment variable naming the registry when ``--registry`` is not given."""

EXIT_CODES = f"""\
exit status:
  {EXIT_OK}  success
  {EXIT_FAILED}  a check failed, or the action was refused or failed
  {EXIT_USAGE}  usage error (bad arguments)
"""

_KEY_HELP = (
    "SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION (as `atb models list --all` shows), a prefix of it "
    "such as BTCUSDT:1h, or SYMBOL/MODEL_TYPE/VERSION; parts may use * and ? wildcards"
)


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr, with exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def registry_path(option: str | None) -> str:
    """The registry root: ``--registry``, else ``$MODEL_REGISTRY_PATH``, else ``src/ml/models``."""
    # `or`, as upstream's config does: an empty variable means "not set".
    return option or os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions to 80 columns but keeps preformatted text (the exit-status table)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return _HelpFormatter(prog, max_help_position=30, width=80)


def _shared_options() -> tuple[_Parser, _Parser]:
    """Parent parsers of the ``--registry`` and ``--json`` options every command takes."""
    registry = _Parser(add_help=False)
    registry.add_argument(
        "--registry",
        metavar="PATH",
        help=f"registry root (default: ${REGISTRY_ENV}, else {DEFAULT_REGISTRY})",
    )
    as_json = _Parser(add_help=False)
    as_json.add_argument(
        "--json", action="store_true", help="print one JSON document on stdout instead of tables"
    )
    return registry, as_json


def _models_parsers(models: argparse._SubParsersAction[_Parser]) -> None:
    registry, as_json = _shared_options()

    parser = models.add_parser(
        "list",
        parents=[registry, as_json],
        help="production version and version count of every model",
        description="One row per SYMBOL/TIMEFRAME/MODEL_TYPE with its production version and "
        "number of versions; --all lists every version, checked.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="list every version with created_at, feature schema, metrics and validity "
        "(opens every model)",
    )
    parser.set_defaults(command="models list")

    parser = models.add_parser(
        "compare",
        parents=[registry, as_json],
        help="metrics of the production bundle, or of every version side by side",
        description="The production bundle's metrics (metrics.json, else metadata.json's "
        "evaluation_results); --versions puts every version side by side and marks the best "
        "value of each row (lower for losses and errors, higher for accuracies and returns).",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    parser.add_argument("symbol", metavar="SYMBOL")
    parser.add_argument("timeframe", metavar="TIMEFRAME")
    parser.add_argument("model_type", metavar="MODEL_TYPE")
    parser.add_argument(
        "--versions", action="store_true", help="compare every version of the model"
    )
    parser.set_defaults(command="models compare")

    parser = models.add_parser(
        "validate",
        parents=[registry, as_json],
        help="check every version: schemas, model, shapes, one inference",
        description="Checks every version (or those matching KEY): JSON schemas, that the "
        "model opens, that its input shape agrees with feature_schema.json and with "
        "metadata's sequence_length and feature_names, and that one inference on zeros gives "
        "finite output. Exit status 1 when any check fails.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    parser.add_argument("keys", metavar="KEY", nargs="*", help=_KEY_HELP)
    parser.set_defaults(command="models validate")

    parser = models.add_parser(
        "promote",
        parents=[registry, as_json],
        help="make a version production (atomic, locked, journaled)",
        description="Points SYMBOL/MODEL_TYPE/latest at VERSION in one atomic rename, under a "
        "lock, and appends the change to SYMBOL/MODEL_TYPE/promotions.jsonl. Refuses a "
        "version that is missing or fails validation (unless --force) and a `latest` that is "
        "a real directory.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    parser.add_argument("symbol", metavar="SYMBOL")
    parser.add_argument("model_type", metavar="MODEL_TYPE")
    parser.add_argument("version", metavar="VERSION")
    parser.add_argument("--reason", metavar="TEXT", help="why, recorded in the journal")
    parser.add_argument(
        "--force", action="store_true", help="promote even if validation fails (journaled)"
    )
    parser.set_defaults(command="models promote")

    parser = models.add_parser(
        "history",
        parents=[registry, as_json],
        help="the promotion journal of a model",
        description="Prints SYMBOL/MODEL_TYPE/promotions.jsonl, oldest first.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    parser.add_argument("symbol", metavar="SYMBOL")
    parser.add_argument("model_type", metavar="MODEL_TYPE")
    parser.set_defaults(command="models history")

    parser = models.add_parser(
        "rollback",
        parents=[registry, as_json],
        help="promote back to the version before the current one",
        description="Promotes SYMBOL/MODEL_TYPE back to the version it had before the current "
        "one, as recorded in promotions.jsonl, through the same checks, lock and journal as "
        "promote. Repeated rollbacks walk further back.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    parser.add_argument("symbol", metavar="SYMBOL")
    parser.add_argument("model_type", metavar="MODEL_TYPE")
    parser.add_argument("--reason", metavar="TEXT", help="why, recorded in the journal")
    parser.add_argument(
        "--force", action="store_true", help="roll back even if validation fails (journaled)"
    )
    parser.set_defaults(command="models rollback")

    parser = models.add_parser(
        "inspect",
        parents=[registry, as_json],
        help="inputs, outputs, metadata, files and sha256 of one version",
        description="Shows one version: model inputs and outputs with shapes and dtypes, "
        "metadata, feature schema, problems found, file sizes and the model's sha256. "
        "A KEY without VERSION means the production version.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    parser.add_argument("key", metavar="KEY", help=_KEY_HELP)
    parser.set_defaults(command="models inspect")

    from atb_prediction.cli import sealing

    sealing.add_parsers(
        models, [registry, as_json], _KEY_HELP, formatter_class=_formatter, epilog=EXIT_CODES
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``atb``; a parsed namespace's ``command`` names the command to run."""
    from atb_prediction import __version__

    parser = _Parser(
        prog="atb",
        description="Find, check, promote and run the ONNX models of a trading bot's registry.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    parser.add_argument("--version", action="version", version=f"atb-prediction {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    models = commands.add_parser(
        "models",
        help="list, compare, validate, promote, roll back and inspect registry models",
        description="Manage the model registry. Every subcommand takes --registry PATH.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    models_commands = models.add_subparsers(
        title="subcommands", metavar="SUBCOMMAND", required=True
    )
    _models_parsers(models_commands)

    demo = commands.add_parser(
        "demo",
        help="write a small demo registry, then list, validate and predict with it",
        description="Writes a small registry of real ONNX models generated in code (two "
        "symbols, two model types, a few versions, one promotion), then lists it, validates "
        "it and runs a prediction on it.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    demo.add_argument(
        "--out",
        metavar="DIR",
        help="where to write the registry: a new or empty folder (default: a new temporary one)",
    )
    demo.set_defaults(command="demo")

    from atb_prediction.cli.backtesting import add_backtest_parser

    registry, as_json = _shared_options()
    add_backtest_parser(commands, registry, as_json, _formatter, EXIT_CODES)
    return parser
