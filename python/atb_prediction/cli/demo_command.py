"""``atb demo``: write a demo registry, then list it, validate it, predict with it from raw
bars, and backtest and score its versions."""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import textwrap

from atb_prediction.cli.arguments import ParserParts, SubParsers
from atb_prediction.cli.listing import run_list
from atb_prediction.cli.output import EXIT_FAILED, EXIT_OK, CommandError, Console
from atb_prediction.cli.validating import run_validate

__all__ = ["DEMO_FOLDER", "add_parsers", "run_demo"]

DEMO_FOLDER = "atb-demo"
"""Where ``atb demo`` writes by default: the registry (and its ``bars.csv``) the README's
examples name."""


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
        default=DEMO_FOLDER,
        help=f"where to write the registry and its bars.csv: a new or empty folder (default: "
        f"{DEMO_FOLDER} in the current folder, which the README's examples use)",
    )
    parser.set_defaults(command="demo", run=run_demo)


def _step(console: Console, number: int, text: str) -> None:
    console.print()
    console.print(console.style("bold", f"{number}. {text}"))


def _predict(console: Console, root: str) -> None:
    """Select the promoted bundle through the registry API and predict from raw bars."""
    from atb_prediction import PredictionConfig, PredictionModelRegistry
    from atb_prediction.demo import DEMO_PROMOTION, demo_bars

    symbol, model_type, _ = DEMO_PROMOTION
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=root))
    bundle = registry.select_bundle(symbol=symbol, model_type=model_type, timeframe="1h")
    bars, _ = demo_bars()
    prediction = bundle.runner.predict_bars(bars)
    closes = bars["close"]
    read = bundle.runner.bundle.bars_needed
    console.print(f"  bundle      {bundle.key}")
    console.print(f"  input       the last {read} of {len(closes)} synthetic hourly {symbol} bars")
    console.print(f"  price       {prediction.price:,.2f} USDT next close (last close "
                  f"{closes[-1]:,.2f})")  # fmt: skip
    console.print(
        f"  direction   {prediction.direction:+d}   confidence {prediction.confidence:.3f}   "
        f"inference {prediction.inference_time * 1000:.2f} ms"
    )
    threshold = registry.config.direction_threshold
    console.print(
        textwrap.fill(
            "features (rolling min-max of the bars), prediction and price (mapped back with the "
            "last closes) in one call, as upstream's live engine computes them; direction and "
            f"confidence follow the model's raw output against the +/-{threshold} threshold, "
            "as upstream's OnnxRunner does, so a +1 can stand beside a price below the last "
            "close.",
            width=console.width,
            initial_indent="  ",
            subsequent_indent="  ",
        )
    )


def _write_bars(path: str) -> None:
    """The demo bars as a CSV series (a timestamp column, then OHLCV), for the commands to try
    next and the README's examples."""
    import numpy as np

    from atb_prediction.demo import demo_bars

    bars, timestamps = demo_bars()
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["timestamp", *bars])
        for index, moment in enumerate(timestamps):
            text = np.datetime_as_string(moment, unit="s")
            writer.writerow([f"{text}Z", *(repr(float(bars[n][index])) for n in bars)])


def _backtest(console: Console, root: str) -> None:
    """Sweep every version of the promoted model type over the demo bars, score them, and draw
    the picture when matplotlib is installed."""
    from atb_prediction import PredictionConfig, PredictionModelRegistry, sweep
    from atb_prediction.cli.scoring import score_table
    from atb_prediction.demo import DEMO_PROMOTION, demo_bars

    symbol, model_type, _ = DEMO_PROMOTION
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=root))
    bars, timestamps = demo_bars()
    result = sweep(registry, bars, timestamps=timestamps, symbol=symbol, model_type=model_type,
                   versions="all", progress=False)  # fmt: skip
    scores = result.score().rows(ranked_by="sharpe")
    console.print(f"  {len(result.versions)} versions x {result.bars} bars, best Sharpe first "
                  "(untrained models: expect noise)")  # fmt: skip
    console.print(score_table(scores, width=console.width, style=console.style, best="sharpe"))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        console.print('  (pip install "atb-prediction[plot]" to draw the picture)')
        return
    picture = os.path.join(root, "sweep.png")
    result.plot(path=picture)
    console.print(f"  picture: {os.path.abspath(picture)}")


def run_demo(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb demo``; exit status 1 when the demo registry fails its own validation."""
    from atb_prediction.demo import DEMO_PROMOTION, write_demo_registry  # numpy: only here

    root = args.out
    try:
        demo = write_demo_registry(root)
    except FileExistsError as exc:
        raise CommandError(
            f"cannot write the demo registry: {exc} (remove it, or pass --out DIR)"
        ) from exc
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

    _step(console, 5, "Live prediction from raw bars through PredictionModelRegistry")
    _predict(console, str(root))

    _step(console, 6, f"Backtest: every version of {DEMO_PROMOTION[0]}/{DEMO_PROMOTION[1]} over "
          "the same bars, scored")  # fmt: skip
    _backtest(console, str(root))
    bars_file = shlex.quote(os.path.join(str(root), "bars.csv"))
    _write_bars(os.path.join(str(root), "bars.csv"))

    console.print()
    console.print("Try next:")
    for command in (
        f"atb models list --all --registry {quoted}",
        f"atb models compare BTCUSDT 1h basic --versions --registry {quoted}",
        f"atb models history BTCUSDT basic --registry {quoted}",
        f"atb models rollback BTCUSDT basic --registry {quoted}",
        f"atb models inspect BTCUSDT:1h:basic --registry {quoted}",
        f"atb backtest sweep BTCUSDT basic --series {bars_file} --versions as-live --score "
        f"--registry {quoted}",
        f"atb models promote BTCUSDT:1h:basic:2025-11-08_1h_v1 --gate {bars_file} "
        f"--registry {quoted}",
    ):
        console.print(f"  {command}")
    return EXIT_OK if status == EXIT_OK else EXIT_FAILED
