"""What every ``atb`` command's parser shares: the global options, the exit-code table, the help
texts of model names and keys, and :class:`ParserParts`, through which each command module
registers its own parser (:mod:`atb_prediction.cli.parser` puts them together).

This module imports no command module, so a command module can import it without a loop.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeAlias

from atb_prediction.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError
from atb_prediction.config import DEFAULT_MODEL_REGISTRY_PATH, REGISTRY_ENV, registry_path

__all__ = [
    "EXIT_CODES",
    "KEY_HELP",
    "MODEL_HELP",
    "TYPE_HELP",
    "VERSION_HELP",
    "Completer",
    "Parser",
    "ParserParts",
    "SubParsers",
    "UsageExit",
    "as_usage_error",
    "formatter",
    "global_defaults",
    "global_options",
    "positive_int",
    "wants_json",
]

EXIT_CODES = f"""\
exit status:
  {EXIT_OK}  success
  {EXIT_FAILED}  a check failed, or the action was refused or failed
  {EXIT_USAGE}  usage error (bad arguments), or ONNX Runtime cannot be loaded
"""

KEY_HELP = (
    "SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION (as `atb models list --all` shows), a prefix of it "
    "such as BTCUSDT:1h, or SYMBOL/MODEL_TYPE/VERSION; parts may use * and ? wildcards"
)
MODEL_HELP = (
    "the model as its KEY SYMBOL:TIMEFRAME:MODEL_TYPE (as `atb models list` prints it), or as "
    "SYMBOL TIMEFRAME MODEL_TYPE"
)
TYPE_HELP = (
    "the model as its KEY SYMBOL:TIMEFRAME:MODEL_TYPE (as `atb models list` prints it), or as "
    "SYMBOL MODEL_TYPE"
)
VERSION_HELP = (
    "the version as its KEY SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION (as `atb models list --all` "
    "prints it), or as SYMBOL MODEL_TYPE VERSION"
)

Completer = Callable[..., Any]


class UsageExit(SystemExit):
    """A usage error already printed as one line on stderr; exit status 2. ``message`` is what
    the line says, for the JSON document ``--json`` asks for."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_USAGE)
        self.message = message


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr, with exit status 2."""

    def error(self, message: str) -> NoReturn:
        text = f"{message} (see '{self.prog} --help')"
        self._print_message(f"{self.prog}: error: {text}\n", sys.stderr)
        raise UsageExit(text)


SubParsers: TypeAlias = "argparse._SubParsersAction[Parser]"
"""The subcommands of a parser, to which a command module adds its own."""


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions to 80 columns but keeps preformatted text (the exit-status table)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def formatter(prog: str) -> argparse.HelpFormatter:
    """The help layout of every ``atb`` parser."""
    return _HelpFormatter(prog, max_help_position=30, width=80)


def global_options(completers: dict[str, Completer] | None = None) -> Parser:
    """``--registry``, ``-o/--output`` and ``--json``, accepted before or after a subcommand.

    Their default is "absent" (``SUPPRESS``) at every level, so that a value given before the
    subcommand is not overwritten by the subcommand's default; :func:`global_defaults` fills in
    the real defaults after parsing.
    """
    parent = Parser(add_help=False)
    group = parent.add_argument_group("global options (before or after the subcommand)")
    registry = group.add_argument(
        "--registry",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=f"registry root (default: ${REGISTRY_ENV}, else {DEFAULT_MODEL_REGISTRY_PATH})",
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
    """Fill in the global options left out: ``registry`` resolved once (``--registry``, else
    ``$MODEL_REGISTRY_PATH``, else upstream's default), ``output``, and ``json`` (true for
    ``--output json``)."""
    args.registry = registry_path(getattr(args, "registry", None))
    if not hasattr(args, "output"):
        args.output = "table"
    args.json = args.output == "json"
    return args


def wants_json(argv: list[str]) -> bool:
    """Whether a command line asks for JSON output (``--json``, ``-o json``, ``--output json``
    and their joined forms), read before parsing: a usage error then answers in JSON too."""
    for position, word in enumerate(argv):
        if word == "--":
            break
        if word in ("--json", "-ojson", "--output=json"):
            return True
        if word in ("-o", "--output") and argv[position + 1 : position + 2] == ["json"]:
            return True
    return False


def positive_int(text: str) -> int:
    """An ``argparse`` type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


@dataclass(frozen=True)
class ParserParts:
    """What a command module needs to register its parser: the shell completers to attach."""

    completers: dict[str, Completer]

    def add(
        self,
        subparsers: SubParsers,
        name: str,
        *,
        help: str,
        description: str,
        global_options: bool = True,
    ) -> Parser:
        """A command's parser: the shared layout and exit-code table, and the global options
        unless the command takes none."""
        parents = [self.global_options()] if global_options else []
        return subparsers.add_parser(
            name,
            parents=parents,
            help=help,
            description=description,
            formatter_class=formatter,
            epilog=EXIT_CODES,
        )

    def global_options(self) -> Parser:
        """The global options, with the registry path's completer."""
        return global_options(self.completers)

    def model_argument(self, parser: argparse.ArgumentParser, help_text: str) -> None:
        """The ``MODEL`` words (a key, or the positional form ``help_text`` names)."""
        action = parser.add_argument("model", metavar="MODEL", nargs="+", help=help_text)
        action.completer = self.completers.get("model")  # type: ignore[attr-defined]

    def key_argument(self, parser: argparse.ArgumentParser, dest: str, nargs: str | None) -> None:
        """``KEY`` argument(s) stored in ``dest``."""
        action = parser.add_argument(dest, metavar="KEY", nargs=nargs, help=KEY_HELP)
        action.completer = self.completers.get("key")  # type: ignore[attr-defined]


def as_usage_error(error: ValueError, options: Mapping[str, str]) -> CommandError:
    """A setting's refusal, worded with its Python names (``fee_bps``), as a usage error worded
    with the options that set them (``--fee-bps``): ``options`` maps one to the other."""
    import re

    pattern = r"\b(" + "|".join(map(re.escape, options)) + r")\b"
    message = re.sub(pattern, lambda match: options[match.group(1)], str(error))
    return CommandError(message, EXIT_USAGE)
