"""``python -m atb_prediction._fuzz``: fuzz the registry loaders for a while, or replay a case."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from atb_prediction._fuzz.runner import (
    DEFAULT_MEMORY_LIMIT,
    child_main,
    fuzz,
    known_findings,
    replay,
)


def _gib(text: str) -> int | None:
    """A memory limit in GiB as bytes; 0 for none."""
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: a size in GiB, or 0 for no limit")
    return int(value * (1 << 30)) or None


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run; exit status 1 when anything not known was found, or when the
    replayed case still gives its finding."""
    parser = argparse.ArgumentParser(prog="python -m atb_prediction._fuzz", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument(
        "--cases", type=Path, default=Path("tests/fuzz_cases"), help="where findings are saved"
    )
    parser.add_argument(
        "--known",
        type=Path,
        metavar="DIR",
        help="cases of known findings, reported but not failing the run (default: CASES/pending)",
    )
    parser.add_argument("--replay", type=Path, metavar="CASE", help="replay one saved case")
    parser.add_argument(
        "--memory-limit",
        type=_gib,
        default=DEFAULT_MEMORY_LIMIT,
        metavar="GIB",
        help=f"address-space limit (RLIMIT_AS) of each child (a replay runs in one too), in GiB "
        f"(default {DEFAULT_MEMORY_LIMIT >> 30}; 0 for none)",
    )
    parser.add_argument(
        "--max-runs", type=int, default=None, metavar="N", help="stop after N cases"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main()
    if args.replay is not None:
        finding = replay(args.replay, args.memory_limit)
        if finding:
            print(f"{finding[0]}: {finding[1]}", file=sys.stderr)
        return 1 if finding else 0
    seed = args.seed if args.seed is not None else time.time_ns() % 2**32
    started = time.monotonic()
    summary = fuzz(
        args.seconds,
        seed,
        args.cases,
        sys.stdout,
        memory_limit=args.memory_limit,
        max_runs=args.max_runs,
        known=known_findings(args.known or args.cases / "pending"),
    )
    elapsed = time.monotonic() - started
    print(
        f"fuzz: seed {seed}, {summary.executions} executions in {elapsed:.0f}s "
        f"({summary.executions / max(elapsed, 1e-9):.1f}/s): {summary.crashes} crashes, "
        f"{summary.hangs} hangs, {summary.exceptions} unexpected exceptions; "
        f"{summary.known} known, {len(summary.saved)} new distinct (saved)"
    )
    return 1 if summary.findings else 0


if __name__ == "__main__":
    sys.exit(main())
