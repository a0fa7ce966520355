"""``atb demo``: write a demo registry, then list it, validate it and predict with it."""

from __future__ import annotations

import argparse
import os
import shlex
import tempfile
import textwrap

from atb_prediction.cli.arguments import ParserParts, SubParsers
from atb_prediction.cli.listing import run_list
from atb_prediction.cli.output import EXIT_FAILED, EXIT_OK, CommandError, Console
from atb_prediction.cli.validating import run_validate

__all__ = ["add_parsers", "run_demo"]


def add_parsers(commands: SubParsers, parts: ParserParts) -> None:
    """Registers ``atb demo``."""
    parser = parts.add(
        commands,
        "demo",
        help="write a small demo registry, then list, validate and predict with it",
        description="Writes a small registry of real ONNX models shipped with the package (two "
        "symbols, two model types, a few versions, one promotion), then lists it, validates "
        "it and runs a prediction on it.",
        global_options=False,
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="where to write the registry: a new or empty folder (default: a new temporary one)",
    )
    parser.set_defaults(command="demo", run=run_demo)


def _step(console: Console, number: int, text: str) -> None:
    console.print()
    console.print(console.style("bold", f"{number}. {text}"))


def _predict(console: Console, root: str) -> None:
    """Select the promoted bundle through the registry API and run one prediction."""
    from atb_prediction import PredictionConfig, PredictionModelRegistry
    from atb_prediction.demo import DEMO_PROMOTION, demo_window

    symbol, model_type, _ = DEMO_PROMOTION
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=root))
    bundle = registry.select_bundle(symbol=symbol, model_type=model_type, timeframe="1h")
    names = bundle.metadata.get("feature_names") or []
    length = int(bundle.metadata.get("sequence_length") or 1)
    features, closes = demo_window(length, list(names))
    prediction = bundle.runner.predict(features)
    # rolling_minmax: the model predicts the next close scaled to the window's close range.
    low, high = float(closes.min()), float(closes.max())
    price = low + prediction.price * (high - low)
    console.print(f"  bundle      {bundle.key}")
    console.print(f"  input       {length} x {len(names)} window of synthetic {symbol} bars")
    console.print(f"  output      {prediction.price:.6f}, scaled to the window's close range")
    console.print(f"  price       {price:,.2f} USDT next close (last close {closes[-1]:,.2f})")
    console.print(
        f"  direction   {prediction.direction:+d}   confidence {prediction.confidence:.3f}   "
        f"inference {prediction.inference_time * 1000:.2f} ms"
    )
    threshold = registry.config.direction_threshold
    console.print(
        textwrap.fill(
            f"direction and confidence follow the model's raw output ({prediction.price:.6f} "
            f"against the +/-{threshold} threshold), as upstream's OnnxRunner does; they do not "
            "compare the scaled price with the last close, so a +1 can stand beside a price "
            "below it.",
            width=console.width,
            initial_indent="  ",
            subsequent_indent="  ",
        )
    )


def run_demo(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb demo``; exit status 1 when the demo registry fails its own validation."""
    from atb_prediction.demo import write_demo_registry  # imports numpy: only here

    root = args.out or tempfile.mkdtemp(prefix="atb-demo-")
    try:
        demo = write_demo_registry(root)
    except FileExistsError as exc:
        raise CommandError(f"cannot write the demo registry: {exc}") from exc
    quoted = shlex.quote(str(root))

    symbols = sorted({v.symbol for v in demo.versions})
    types = sorted({v.model_type for v in demo.versions})
    _step(console, 1, f"Wrote a demo registry to {os.path.abspath(root)}")
    console.print(
        f"  {len(demo.versions)} versions: {len(symbols)} symbols ({', '.join(symbols)}) x "
        f"{len(types)} model types ({', '.join(types)}),"
    )
    console.print("  real ONNX models generated in code (untrained: seeded random weights)")
    record = demo.promotion.record
    _step(console, 2, f"Promoted {record.symbol}/{record.model_type}")
    console.print(f"  {record.from_version} -> {record.to_version}: validated, swapped atomically,")
    console.print(f"  journaled in {record.symbol}/{record.model_type}/promotions.jsonl")

    _step(console, 3, f"atb models list --registry {quoted}")
    run_list(argparse.Namespace(registry=str(root), all=False, json=False), console)

    _step(console, 4, f"atb models validate --registry {quoted}")
    status = run_validate(argparse.Namespace(registry=str(root), keys=[], json=False), console)

    _step(console, 5, "Prediction through PredictionModelRegistry")
    _predict(console, str(root))

    console.print()
    console.print("Try next:")
    for command in (
        f"atb models list --all --registry {quoted}",
        f"atb models compare BTCUSDT 1h basic --versions --registry {quoted}",
        f"atb models history BTCUSDT basic --registry {quoted}",
        f"atb models rollback BTCUSDT basic --registry {quoted}",
        f"atb models inspect BTCUSDT:1h:basic --registry {quoted}",
    ):
        console.print(f"  {command}")
    return EXIT_OK if status == EXIT_OK else EXIT_FAILED
