"""The ``atb`` argument parser: every command, option and the documented exit codes."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any, NoReturn

from atb_prediction.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE

__all__ = [
    "DEFAULT_REGISTRY",
    "REGISTRY_ENV",
    "build_parser",
    "global_defaults",
    "registry_path",
]

DEFAULT_REGISTRY = "src/ml/models"
"""Upstream's default registry folder, relative to the working directory."""

REGISTRY_ENV = "MODEL_REGISTRY_PATH"
"""Environment variable naming the registry when ``--registry`` is not given."""

EXIT_CODES = f"""\
exit status:
  {EXIT_OK}  success
  {EXIT_FAILED}  a check failed, or the action was refused or failed
  {EXIT_USAGE}  usage error (bad arguments), or ONNX Runtime cannot be loaded
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


_MODEL_HELP = (
    "the model as its KEY SYMBOL:TIMEFRAME:MODEL_TYPE (as `atb models list` prints it), or as "
    "SYMBOL TIMEFRAME MODEL_TYPE"
)
_TYPE_HELP = (
    "the model as its KEY SYMBOL:TIMEFRAME:MODEL_TYPE (as `atb models list` prints it), or as "
    "SYMBOL MODEL_TYPE"
)
_VERSION_HELP = (
    "the version as its KEY SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION (as `atb models list --all` "
    "prints it), or as SYMBOL MODEL_TYPE VERSION"
)

Completer = Callable[..., Any]


def _global_options(completers: dict[str, Completer] | None = None) -> _Parser:
    """``--registry``, ``-o/--output`` and ``--json``, accepted before or after a subcommand.

    Their default is "absent" (``SUPPRESS``) at every level, so that a value given before the
    subcommand is not overwritten by the subcommand's default; :func:`global_defaults` fills in
    the real defaults after parsing.
    """
    parent = _Parser(add_help=False)
    group = parent.add_argument_group("global options (before or after the subcommand)")
    registry = group.add_argument(
        "--registry",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=f"registry root (default: ${REGISTRY_ENV}, else {DEFAULT_REGISTRY})",
    )
    registry.completer = (completers or {}).get("path")  # type: ignore[attr-defined]
    group.add_argument(
        "-o",
        "--output",
        choices=("table", "json"),
        default=argparse.SUPPRESS,
        help="table for people (default) or one JSON document for scripts",
    )
    group.add_argument(
        "--json",
        dest="output",
        action="store_const",
        const="json",
        default=argparse.SUPPRESS,
        help="same as --output json",
    )
    return parent


def global_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Fill in the global options left out, and ``json`` (true for ``--output json``)."""
    if not hasattr(args, "registry"):
        args.registry = None
    if not hasattr(args, "output"):
        args.output = "table"
    args.json = args.output == "json"
    return args


def _models_parsers(
    models: argparse._SubParsersAction[_Parser], completers: dict[str, Completer]
) -> None:
    common = [_global_options(completers)]

    def model_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
        action = parser.add_argument("model", metavar="MODEL", nargs="+", help=help_text)
        action.completer = completers.get("model")  # type: ignore[attr-defined]

    parser = models.add_parser(
        "list",
        parents=common,
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
        parents=common,
        help="metrics of the production bundle, or of every version side by side",
        description="The production bundle's metrics (metrics.json, else metadata.json's "
        "evaluation_results); --versions puts every version side by side and marks the best "
        "value of each row (lower for losses and errors, higher for accuracies and returns).",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    model_argument(parser, _MODEL_HELP)
    parser.add_argument(
        "--versions", action="store_true", help="compare every version of the model, one row each"
    )
    parser.add_argument(
        "--last",
        metavar="N",
        type=_positive_int,
        help="with --versions: only the N newest versions",
    )
    parser.add_argument(
        "--sort",
        metavar="METRIC",
        help="with --versions: order the rows by METRIC, best first (lower is better for "
        "losses and errors, higher for scores)",
    )
    parser.set_defaults(command="models compare")

    parser = models.add_parser(
        "validate",
        parents=common,
        help="check every version: schemas, model, shapes, one inference",
        description="Checks every version (or those matching KEY): JSON schemas, that the "
        "model opens, that its input shape agrees with feature_schema.json and with "
        "metadata's sequence_length and feature_names, and that one inference on zeros gives "
        "finite output. Exit status 1 when any check fails.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    keys = parser.add_argument("keys", metavar="KEY", nargs="*", help=_KEY_HELP)
    keys.completer = completers.get("key")  # type: ignore[attr-defined]
    parser.set_defaults(command="models validate")

    parser = models.add_parser(
        "promote",
        parents=common,
        help="make a version production (atomic, locked, journaled)",
        description="Points SYMBOL/MODEL_TYPE/latest at VERSION in one atomic rename, under a "
        "lock, and appends the change to SYMBOL/MODEL_TYPE/promotions.jsonl. Refuses a "
        "version that is missing or fails validation (unless --force) and a `latest` that is "
        "a real directory, and one whose timeframe differs from the current production's (live "
        "selections of the old timeframe would stop resolving) unless --force.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    model_argument(parser, _VERSION_HELP)
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
        choices=(
            "hit_rate",
            "mae",
            "rmse",
            "total_return",
            "sharpe",
            "max_drawdown",
            "turnover",
        ),
        help="what --gate compares: hit_rate, mae, rmse, total_return, sharpe (default), "
        "max_drawdown or turnover (max_drawdown, mae and rmse are better when lower)",
    )
    from atb_prediction.cli.backtesting import add_score_options

    add_score_options(parser)
    parser.set_defaults(command="models promote")

    parser = models.add_parser(
        "history",
        parents=common,
        help="the promotion journal of a model",
        description="Prints SYMBOL/MODEL_TYPE/promotions.jsonl, oldest first.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    model_argument(parser, _TYPE_HELP)
    parser.set_defaults(command="models history")

    parser = models.add_parser(
        "rollback",
        parents=common,
        help="promote back to the version before the current one",
        description="Promotes SYMBOL/MODEL_TYPE back to the version it had before the current "
        "one, as recorded in promotions.jsonl (or to --to VERSION), through the same checks, "
        "lock and journal as promote. Repeated rollbacks walk further back.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    model_argument(parser, _TYPE_HELP)
    parser.add_argument(
        "--to",
        metavar="VERSION",
        help="roll back to this version rather than the one before the current",
    )
    parser.add_argument("--reason", metavar="TEXT", help="why, recorded in the journal")
    parser.add_argument(
        "--force", action="store_true", help="roll back even if validation fails (journaled)"
    )
    parser.set_defaults(command="models rollback")

    parser = models.add_parser(
        "inspect",
        parents=common,
        help="inputs, outputs, metadata, files and sha256 of one version",
        description="Shows one version: model inputs and outputs with shapes and dtypes, "
        "metadata, feature schema, problems found, file sizes and the model's sha256. "
        "A KEY without VERSION means the production version.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    key = parser.add_argument("key", metavar="KEY", help=_KEY_HELP)
    key.completer = completers.get("key")  # type: ignore[attr-defined]
    parser.set_defaults(command="models inspect")

    from atb_prediction.cli import sealing

    parents: list[argparse.ArgumentParser] = list(common)
    sealing.add_parsers(models, parents, _KEY_HELP, formatter_class=_formatter, epilog=EXIT_CODES)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def build_parser(completers: dict[str, Completer] | None = None) -> argparse.ArgumentParser:
    """The parser of ``atb``; a parsed namespace's ``command`` names the command to run.

    ``completers`` (``path``, ``model``, ``key``) are attached to the arguments they complete,
    for shell completion; parsing does not use them.
    """
    import atb_prediction

    completers = completers or {}
    parser = _Parser(
        prog="atb",
        description="Find, check, promote and run the ONNX models of a trading bot's registry.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
        parents=[_global_options(completers)],
    )
    parser.add_argument(
        "--version", action="version", version=f"atb-prediction {atb_prediction.__version__}"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    models = commands.add_parser(
        "models",
        help="list, compare, validate, promote, roll back and inspect registry models",
        description="Manage the model registry. --registry, --output and --json go before or "
        "after the subcommand.",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
        parents=[_global_options(completers)],
    )
    models_commands = models.add_subparsers(
        title="subcommands", metavar="SUBCOMMAND", required=True
    )
    _models_parsers(models_commands, completers)

    demo = commands.add_parser(
        "demo",
        help="write a small demo registry, then list, validate and predict with it",
        description="Writes a small registry of real ONNX models shipped with the package (two "
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

    add_backtest_parser(commands, [_global_options(completers)], _formatter, EXIT_CODES)

    completion = commands.add_parser(
        "completion",
        help="print the shell completion script for bash, zsh or fish",
        description="Prints a script that completes atb's commands, options, and the registry's "
        "symbols, model types, versions and keys. Install it with, for example:\n"
        '  bash: eval "$(atb completion bash)"   (in ~/.bashrc)\n'
        "  zsh:  atb completion zsh > ~/.zfunc/_atb   (with ~/.zfunc in $fpath)\n"
        "  fish: atb completion fish > ~/.config/fish/completions/atb.fish\n",
        formatter_class=_formatter,
        epilog=EXIT_CODES,
    )
    completion.add_argument("shell", choices=("bash", "zsh", "fish"), metavar="SHELL")
    completion.set_defaults(command="completion")
    return parser
