"""The ``atb`` command line: ``atb models ...`` to manage a registry, ``atb demo`` to try it.

Exit status: 0 success, 1 a check failed or the action was refused, 2 usage error. Results go
to stdout (one JSON document with ``--json``), errors to stderr as one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from atb_prediction.cli.arguments import build_parser
from atb_prediction.cli.output import EXIT_FAILED, EXIT_USAGE, CommandError, Console
from atb_prediction.models.exceptions import PredictionError

__all__ = ["main"]

Handler = Callable[[argparse.Namespace, Console], int]


def _handlers() -> dict[str, Handler]:
    # Imported on use: `atb --help` should not pay for numpy or the registry scanner.
    from atb_prediction.cli.backtesting import run_sweep
    from atb_prediction.cli.comparing import run_compare
    from atb_prediction.cli.demo_command import run_demo
    from atb_prediction.cli.inspecting import run_inspect
    from atb_prediction.cli.listing import run_list
    from atb_prediction.cli.promoting import run_history, run_promote, run_rollback
    from atb_prediction.cli.sealing import run_seal, run_verify
    from atb_prediction.cli.validating import run_validate

    return {
        "models list": run_list,
        "models compare": run_compare,
        "models validate": run_validate,
        "models promote": run_promote,
        "models history": run_history,
        "models rollback": run_rollback,
        "models inspect": run_inspect,
        "models seal": run_seal,
        "models verify": run_verify,
        "demo": run_demo,
        "backtest sweep": run_sweep,
    }


def main(argv: list[str] | None = None) -> int:
    """Run ``atb`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    console = Console(prog=f"atb {args.command}")
    try:
        return _handlers()[args.command](args, console)
    except BrokenPipeError:  # pragma: no cover - `atb models list | head`
        # Python would print a traceback flushing stdout at exit; point it at devnull instead.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    except CommandError as exc:
        console.error(str(exc))
        return exc.code
    except (PredictionError, OSError) as exc:
        # Promotion refusals, validation failures, filesystem errors: all name what and where.
        console.error(str(exc) or type(exc).__name__)
        return EXIT_FAILED
    except KeyboardInterrupt:
        console.error("interrupted")
        return 130
