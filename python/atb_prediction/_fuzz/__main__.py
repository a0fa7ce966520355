"""``python -m atb_prediction._fuzz``: fuzz the registry loaders for a while, or replay a case."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from atb_prediction._fuzz.runner import child_main, fuzz, replay


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run; exit status 1 when anything was found."""
    parser = argparse.ArgumentParser(prog="python -m atb_prediction._fuzz", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument(
        "--cases", type=Path, default=Path("tests/fuzz_cases"), help="where findings are saved"
    )
    parser.add_argument("--replay", type=Path, metavar="CASE", help="replay one saved case")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main()
    if args.replay is not None:
        finding = replay(args.replay)
        if finding:
            print(finding, file=sys.stderr)
        return 1 if finding else 0
    seed = args.seed if args.seed is not None else time.time_ns() % 2**32
    started = time.monotonic()
    summary = fuzz(args.seconds, seed, args.cases, sys.stdout)
    elapsed = time.monotonic() - started
    print(
        f"fuzz: seed {seed}, {summary.executions} executions in {elapsed:.0f}s "
        f"({summary.executions / max(elapsed, 1e-9):.1f}/s): {summary.crashes} crashes, "
        f"{summary.hangs} hangs, {summary.exceptions} unexpected exceptions"
    )
    return 1 if summary.findings else 0


if __name__ == "__main__":
    sys.exit(main())
