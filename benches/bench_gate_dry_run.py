"""A gated dry run (``atb models promote --dry-run --gate BARS``) on a registry holding only the
model compared, against the same on a registry with 300 other symbols beside it.

A promotion opens only the bundles it compares (the candidate and production), through the one
scan the command makes; the other symbols cost only their share of that scan. Both registries
hold small real ONNX models (built with the ``onnx`` package, as the tests build them); the
command runs in this process (``atb_prediction.cli.main``), so interpreter start-up is not
counted. Contenders alternate in rounds; the summary gives min / median / max over rounds of
the ratio 300-symbol / one-symbol (the target: at most 1.5).

    python benches/bench_gate_dry_run.py [--others N] [--bars B] [--rounds R]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from atb_prediction.cli import main as atb
from gate_helpers import RIGHT, SYMBOL, TYPE, WRONG, bars_file, signal_frame, signal_registry


def _registry(root: Path, others: int) -> Path:
    """The compared model (two versions, production the worse), and ``others`` symbols each
    with a production version of its own."""
    from conftest import affine_model, point_latest, write_bundle

    signal_registry(root, production=WRONG)
    model = affine_model(1, 1, weight=1.0)
    for number in range(others):
        symbol = f"SYM{number:03d}USDT"
        write_bundle(
            root, symbol, TYPE, RIGHT, model=model,
            metadata={"timeframe": "1h", "sequence_length": 1, "feature_names": ["signal"]},
        )  # fmt: skip
        point_latest(root, symbol, TYPE, RIGHT)
    return root


def _dry_run(root: Path, bars: Path) -> float:
    command = ["models", "promote", f"{SYMBOL}:1h:{TYPE}:{RIGHT}", "--dry-run", "--gate",
               str(bars), "--registry", str(root), "--json"]  # fmt: skip
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = atb(command)
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"the dry run failed ({code}): {err.getvalue()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--others", type=int, default=300)
    parser.add_argument("--bars", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        alone = _registry(base / "alone", 0)
        crowded = _registry(base / "crowded", args.others)
        bars = bars_file(base / "bars.csv", signal_frame(args.bars))
        contenders = {"1 symbol": alone, f"{args.others + 1} symbols": crowded}
        for root in contenders.values():  # warm-up: the runtime loaded, the files cached
            _dry_run(root, bars)
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for round_ in range(args.rounds):
            names = list(contenders) if round_ % 2 == 0 else list(reversed(contenders))
            for name in names:
                times[name].append(_dry_run(contenders[name], bars))
        one, many = times.values()
        ratios = [m / o for o, m in zip(one, many, strict=True)]

    def spread(values: list[float]) -> str:
        return " / ".join(f"{v:.3f}" for v in (min(values), statistics.median(values), max(values)))

    print(f"gated dry run over {args.bars:,} bars, {args.rounds} rounds")
    for name, values in times.items():
        print(f"  {name:>12} (s, min / median / max): {spread(values)}")
    print(f"  ratio {args.others + 1} symbols / 1 symbol (min / median / max): {spread(ratios)}")


if __name__ == "__main__":
    main()
