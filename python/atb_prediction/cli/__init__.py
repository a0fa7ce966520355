"""The ``atb`` command line: ``atb models ...`` to manage a registry, ``atb demo`` to try it.

Exit status: 0 success, 1 a check failed or the action was refused, 2 usage error or an unusable
ONNX Runtime. Results go to stdout (one JSON document with ``--json``), errors to stderr as one
line, and each log line is printed once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import TextIO

from atb_prediction.cli.arguments import UsageExit, global_defaults, wants_json
from atb_prediction.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError, Console
from atb_prediction.cli.parser import build_parser
from atb_prediction.models.exceptions import PredictionError, RuntimeLibraryError

__all__ = ["main"]

Handler = Callable[[argparse.Namespace, Console], int]
"""A command. Each command module registers its parser with its handler as ``run`` (see
:mod:`atb_prediction.cli.parser`): a new command is a module with ``add_parsers`` and one entry
there."""


class _OncePerLine(logging.Filter):
    """Drops a log line already printed: one warning reached through several calls (a bad
    journal line read by rollback, then by history) is shown once."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[tuple[str, int, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        line = (record.name, record.levelno, record.getMessage())
        if line in self._seen:
            return False
        self._seen.add(line)
        return True


def _log_to(console: Console) -> logging.Handler:
    """Print the package's warnings to stderr as ``atb ...: warning: ...``, each line once."""
    handler = logging.StreamHandler(console.stderr)
    handler.setFormatter(logging.Formatter(f"{console.prog}: %(levelname)s: %(message)s"))
    handler.addFilter(_OncePerLine())
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("atb_prediction")
    logger.addHandler(handler)
    logger.propagate = False  # else the root logger (or Python's last resort) prints it again
    return handler


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    logging.getLogger("atb_prediction").warning("%s", message)


def _quiet_closed_pipe() -> int:
    """stdout's reader went away (`atb models list --all | head`): nothing more can be said
    there, and that is not a failure; point stdout at devnull so that the final flush is quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run ``atb`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions: answer, then exit
        from atb_prediction.cli.completing import complete, completers

        complete(build_parser(completers()))
    parser = build_parser()
    words = sys.argv[1:] if argv is None else argv
    try:
        args = global_defaults(parser.parse_args(argv))
    except UsageExit as exc:  # a usage error, already printed as one line
        if wants_json(words):
            Console().json_error("UsageError", exc.message)
        return EXIT_USAGE
    except SystemExit as exc:  # --help or --version
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    console = Console(prog=f"atb {args.command}")
    logger = logging.getLogger("atb_prediction")
    handler = _log_to(console)

    def fail(kind: str, message: str, status: int) -> int:
        """The one way a command fails: one line on stderr, and under ``--json`` one JSON
        document ``{"error": {"type", "message"}}`` on stdout."""
        console.error(message)
        if args.json:
            console.json_error(kind, message)
        return status

    try:
        with warnings.catch_warnings():
            # A library warning (a sweep leaving a version out) is a log line like any other,
            # not Python's "file:line: Warning" with a source line, shown once.
            warnings.simplefilter("default")
            warnings.showwarning = _log_warning
            run: Handler = args.run
            status = run(args, console)
        console.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        return _quiet_closed_pipe()
    except CommandError as exc:
        return fail(_error_type(exc), str(exc), exc.code)
    except RuntimeLibraryError as exc:
        return fail(type(exc).__name__, f"ONNX Runtime cannot be used: {exc}", EXIT_USAGE)
    except (PredictionError, OSError) as exc:
        # Promotion refusals, validation failures, filesystem errors: all name what and where.
        return fail(type(exc).__name__, str(exc) or type(exc).__name__, EXIT_FAILED)
    except KeyboardInterrupt:
        return fail("KeyboardInterrupt", "interrupted", 130)
    except Exception as exc:
        # A bug: its traceback follows on stderr, but a script reading --json still gets its
        # one document.
        if args.json:
            console.json_error(type(exc).__name__, str(exc) or type(exc).__name__)
        raise
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def _error_type(error: CommandError) -> str:
    """What went wrong, for ``--json``: a usage error, else the class of the error behind the
    command's (``InvalidInputError``, ``ModelNotAvailableError``, ...), else ``CommandError``."""
    if error.code == EXIT_USAGE:
        return "UsageError"
    cause = error.__cause__
    return type(cause).__name__ if isinstance(cause, Exception) else "CommandError"
