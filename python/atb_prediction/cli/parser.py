"""The ``atb`` parser, put together from the parser each command module registers.

A parsed namespace carries ``command`` (its name, e.g. ``models list``) and ``run``, the
handler. Command modules import their heavy dependencies (numpy, the registry) inside their
handlers, so building the parser for ``atb --help`` stays cheap.
"""

from __future__ import annotations

from atb_prediction.cli import (
    backtesting,
    comparing,
    completing,
    demo_command,
    inspecting,
    listing,
    promoting,
    sealing,
    validating,
)
from atb_prediction.cli.arguments import (
    EXIT_CODES,
    Completer,
    Parser,
    ParserParts,
    formatter,
    global_options,
)

__all__ = ["build_parser"]


def build_parser(completers: dict[str, Completer] | None = None) -> Parser:
    """The parser of ``atb``.

    ``completers`` (``path``, ``model``, ``key``) are attached to the arguments they complete,
    for shell completion; parsing does not use them.
    """
    import atb_prediction

    parts = ParserParts(completers or {})
    parser = Parser(
        prog="atb",
        description="Find, check, promote and run the ONNX models of a trading bot's registry.",
        formatter_class=formatter,
        epilog=EXIT_CODES,
        parents=[global_options(parts.completers)],
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
        formatter_class=formatter,
        epilog=EXIT_CODES,
        parents=[global_options(parts.completers)],
    )
    models_commands = models.add_subparsers(
        title="subcommands", metavar="SUBCOMMAND", required=True
    )
    for module in (listing, comparing, validating, promoting, inspecting, sealing):
        module.add_parsers(models_commands, parts)
    for module in (demo_command, backtesting, completing):
        module.add_parsers(commands, parts)
    return parser
