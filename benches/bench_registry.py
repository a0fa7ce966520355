"""Registry scan, reload and predict overhead, side by side in one process.

1. A generated registry of 50 symbols x 4 model types x 50 versions (10,000 bundles with small
   real ONNX models, 200 of them production): ``scan_registry`` (parallel, with JSON Schema
   validation) against two pure-Python scans written the way upstream's registry reads bundles
   (pathlib, ``json.load``): upstream's own (no validation, what users migrate from) and the same
   with the ``jsonschema`` package and the same schemas; the raw cost of reading the same files,
   and an unchanged rescan.
2. ``PredictionModelRegistry`` on that registry with default threading: construction (opening
   and warming 200 sessions), the OS threads it leaves, an unchanged ``reload_models()`` and a
   reload after one promotion, each against the rescan it rests on.
3. ``runner.predict`` against ``OnnxSession.run`` on the tiny 1x120x5 model, both with
   ``--intra-op-threads`` (default threading when not given).

Every ratio is measured ``--repeats`` times and printed as min / median / max.

    python benches/bench_registry.py [--symbols 50 --types 4 --versions 50] [--repeats 3]
        [--intra-op-threads N] [--only scan|reload|predict]
"""

from __future__ import annotations

import os

# Nothing here uses BLAS; numpy's OpenBLAS threads would only spin and take cores from both
# contenders on a small machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The small linear models of the demo, made with onnx.helper (a development dependency).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from _timing import interleaved, spread, summary, timed
from atb_prediction import (
    OnnxRunner,
    OnnxSession,
    PredictionConfig,
    PredictionModelRegistry,
    scan_registry,
)
from atb_prediction.models.scanning import default_schema_path
from make_demo_models import linear_sequence_model

SEQ, FEATURES = 20, 3


def generate(root: Path, symbols: int, types: int, versions: int) -> None:
    """Write the benchmark registry (small real models; a ``latest`` per model type)."""
    model = linear_sequence_model(SEQ, FEATURES)
    names = [f"feature_{i}" for i in range(FEATURES)]
    for s in range(symbols):
        symbol = f"SYM{s:03d}USDT"
        for t in range(types):
            model_type = f"type{t}"
            for v in range(versions):
                version = f"2025-{1 + v // 28:02d}-{1 + v % 28:02d}_1h_v{v + 1}"
                folder = root / symbol / model_type / version
                folder.mkdir(parents=True)
                (folder / "model.onnx").write_bytes(model)
                metadata = {
                    "symbol": symbol,
                    "timeframe": "1h",
                    "model_type": model_type,
                    "version_id": version,
                    "model_file": "model.onnx",
                    "created_at": "2025-10-30T12:13:22",
                    "sequence_length": SEQ,
                    "feature_names": names,
                    "price_normalization": {"method": "rolling_minmax", "window": SEQ},
                    "evaluation_results": {"test_loss": 0.01 * v, "mape": 1.5},
                }
                (folder / "metadata.json").write_text(json.dumps(metadata, indent=2))
                schema = {
                    "sequence_length": SEQ,
                    "features": [{"name": n, "required": True} for n in names],
                }
                (folder / "feature_schema.json").write_text(json.dumps(schema, indent=2))
                (folder / "metrics.json").write_text(json.dumps({"rmse": 0.1, "mae": 0.05}))
            (root / symbol / model_type / "latest").symlink_to(version)


def python_scan(
    root: Path, validators: dict[str, jsonschema.protocols.Validator] | None = None
) -> int:
    """Upstream's way: pathlib walks, json.load per file, latest resolve; with ``validators``,
    also the ``jsonschema`` validation upstream does not do."""
    valid = 0
    base = root.resolve()
    for symbol_dir in root.iterdir():
        if not symbol_dir.is_dir():
            continue
        for type_dir in symbol_dir.iterdir():
            if not type_dir.is_dir():
                continue
            for version_dir in sorted(
                p for p in type_dir.iterdir() if p.is_dir() and p.name != "latest"
            ):
                real = version_dir.resolve()
                real.relative_to(base)
                documents: dict[str, Any] = {}
                ok = True
                for name in ("metadata", "feature_schema", "metrics"):
                    path = real / f"{name}.json"
                    if path.exists():
                        with path.open() as handle:
                            documents[name] = json.load(handle)
                        if validators is not None and any(
                            True for _ in validators[name].iter_errors(documents[name])
                        ):
                            ok = False
                if ok and list(real.glob("*.onnx")):
                    valid += 1
            latest = type_dir / "latest"
            if latest.exists():
                latest.resolve().relative_to(base)
    return valid


def raw_read(root: Path) -> int:
    """Only read the bytes a scan reads (every JSON file, a model header), no parsing."""
    total = 0
    for version_dir in root.glob("*/*/*"):
        if version_dir.name == "latest":
            continue
        for name in ("metadata.json", "feature_schema.json", "metrics.json"):
            total += len((version_dir / name).read_bytes())
        with (version_dir / "model.onnx").open("rb") as handle:
            total += len(handle.read(2))
    return total


def os_threads() -> int:
    """Threads of this process (Linux ``/proc``; Python's own count elsewhere)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def scan_table(root: Path, repeats: int) -> list[str]:
    validators = {
        name: jsonschema.Draft202012Validator(json.loads(default_schema_path(name).read_text()))
        for name in ("metadata", "feature_schema", "metrics")
    }
    index = scan_registry(root)
    expected = len(index.versions)
    assert not index.invalid, index.invalid[:3]
    assert python_scan(root) == python_scan(root, validators) == expected
    assert scan_registry(root, previous=index).reused == expected
    times: dict[str, list[float]] = {
        "ours": [],
        "upstream": [],
        "jsonschema": [],
        "raw": [],
        "rescan": [],
    }
    for _ in range(repeats):
        # Interleaved, so load on the shared machine hits every contender alike.
        times["ours"].append(timed(lambda: scan_registry(root)))
        times["upstream"].append(timed(lambda: python_scan(root)))
        times["jsonschema"].append(timed(lambda: python_scan(root, validators)))
        times["raw"].append(timed(lambda: raw_read(root)))
        times["rescan"].append(timed(lambda: scan_registry(root, previous=index)))

    def ratios(a: str, b: str) -> str:
        return spread([x / y for x, y in zip(times[a], times[b], strict=True)])

    return [
        f"registry: {expected} bundles, {repeats} repeats; seconds and ratios: min / median / max",
        "| contender | seconds | ours / contender |",
        "|---|---:|---:|",
        f"| scan_registry (validated, parallel) | {spread(times['ours'], 4)} | 1 |",
        f"| upstream's scan (pathlib + json.load, no validation) | {spread(times['upstream'], 4)} "
        f"| {ratios('ours', 'upstream')} |",
        f"| upstream's scan + jsonschema validation | {spread(times['jsonschema'], 4)} "
        f"| {ratios('ours', 'jsonschema')} |",
        f"| raw read of the same files | {spread(times['raw'], 4)} | {ratios('ours', 'raw')} |",
        f"| unchanged rescan (previous=) | {spread(times['rescan'], 4)} "
        f"| rescan / first scan = {ratios('rescan', 'ours')} |",
    ]


def promote(root: Path, symbol: str, model_type: str, version: str) -> None:
    """Re-point ``latest`` atomically, as ``atb models promote`` does (without the journal)."""
    type_dir = root / symbol / model_type
    temporary = type_dir / f".latest-bench-{version}"
    temporary.symlink_to(version)
    os.replace(temporary, type_dir / "latest")


def reload_table(root: Path, repeats: int, intra_op_threads: int | None) -> list[str]:
    """Construction, threads, unchanged reload and reload after one promotion."""
    config = PredictionConfig(model_registry_path=str(root), intra_op_threads=intra_op_threads)
    threads_before = os_threads()
    construction, unchanged, promoted, rescans, opened = [], [], [], [], []
    registry = None
    for _ in range(repeats):
        registry = None  # let the previous registry's sessions go before timing a new one
        start = time.perf_counter()
        registry = PredictionModelRegistry(config)
        construction.append(time.perf_counter() - start)
        index = registry.index
        assert index is not None
        # Rescans and unchanged reloads alternate, so both see the same machine (session pools
        # still spinning after construction, other load); each repeat keeps the medians.
        rescan_times, reload_times = [], []
        for _ in range(3):
            rescan_times.append(timed(lambda index=index: scan_registry(root, previous=index)))
            start = time.perf_counter()
            summary = registry.reload_models()
            reload_times.append(time.perf_counter() - start)
            assert summary.opened == 0 and not summary.has_changes, summary
        rescans.append(statistics.median(rescan_times))
        unchanged.append(statistics.median(reload_times))
        first = registry.list_bundles()[0]
        others = sorted(
            p.name for p in first.directory.parent.iterdir() if p.name != first.version_id
        )
        target = next(name for name in others if name != "latest")
        promote(root, first.symbol, first.model_type, target)
        start = time.perf_counter()
        summary = registry.reload_models()
        promoted.append(time.perf_counter() - start)
        opened.append(summary.opened)
        promote(root, first.symbol, first.model_type, first.version_id)
        registry.reload_models()
    assert registry is not None
    bundles = len(registry.list_bundles())
    threads = os_threads()
    cores = os.cpu_count() or 1
    return [
        f"registry with intra_op_threads={intra_op_threads} (None: default threading): "
        f"{bundles} production bundles, {repeats} repeats",
        "| step | seconds (min / median / max) | over the rescan it rests on |",
        "|---|---:|---:|",
        f"| construction (scan + open and warm {bundles} sessions) | {spread(construction)} | |",
        f"| unchanged rescan alone | {spread(rescans, 4)} | 1 |",
        f"| unchanged reload_models() | {spread(unchanged, 4)} | "
        f"{spread([u / r for u, r in zip(unchanged, rescans, strict=True)], 2)} (target <= 2) |",
        f"| reload after one promotion | {spread(promoted, 4)} | "
        f"{spread([p / r for p, r in zip(promoted, rescans, strict=True)], 2)} |",
        f"| sessions opened by the promotion reload | {sorted(set(opened))} | (target [1]) |",
        f"| OS threads after construction | {threads} (before: {threads_before}; cores: {cores})"
        f" | target <= cores + 8 = {cores + 8} |",
    ]


def predict_table(calls: int, intra_op_threads: int | None) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="atb-bench-predict-") as folder:
        root = Path(folder)
        bundle = root / "BTCUSDT" / "basic" / "2026-01-01_1h_v1"
        bundle.mkdir(parents=True)
        model = linear_sequence_model(120, 5)
        (bundle / "model.onnx").write_bytes(model)
        (bundle / "metadata.json").write_text(
            json.dumps(
                {
                    "timeframe": "1h",
                    "sequence_length": 120,
                    "feature_names": [f"f{i}" for i in range(5)],
                }
            )
        )
        rows = ["| call | p50 µs | p99 µs | p50 over OnnxSession.run |", "|---|---:|---:|---:|"]
        rng = np.random.default_rng(0)
        x = rng.random((1, 120, 5), dtype=np.float32)
        # Fresh windows for the cache-miss case: more than the cache holds, so every call misses.
        windows = itertools.cycle([rng.random((1, 120, 5), dtype=np.float32) for _ in range(2048)])
        session = OnnxSession(model, intra_op_threads=intra_op_threads)
        contenders: dict[str, Callable[[], object]] = {"OnnxSession.run": lambda: session.run(x)}

        def runner_for(cache: bool) -> OnnxRunner:
            config = PredictionConfig(
                model_registry_path=str(root),
                intra_op_threads=intra_op_threads,
                prediction_cache_enabled=cache,
                prediction_cache_max_size=1000,
            )
            return PredictionModelRegistry(config).get_default_runner()

        uncached, cached = runner_for(False), runner_for(True)
        contenders["predict, cache off"] = lambda: uncached.predict(x)
        contenders["predict, built-in cache hit (default config)"] = lambda: cached.predict(x)
        contenders["OnnxSession.run, fresh windows"] = lambda: session.run(next(windows))
        contenders["predict, built-in cache miss (default config), fresh windows"] = lambda: (
            cached.predict(next(windows))
        )
        samples = interleaved(contenders, calls)
        base_p50 = summary(samples["OnnxSession.run"])[0]
        for label, values in samples.items():
            p50, p99, _ = summary(values)
            rows.append(f"| {label} | {p50:.2f} | {p99:.2f} | {p50 - base_p50:+.2f} µs |")
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--types", type=int, default=4)
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument(
        "--intra-op-threads",
        type=int,
        default=None,
        help="threads per session (default: ONNX Runtime's default)",
    )
    parser.add_argument(
        "--only", choices=("scan", "reload", "predict"), help="run one table (default: all)"
    )
    args = parser.parse_args()
    if args.only in (None, "scan", "reload"):
        with tempfile.TemporaryDirectory(prefix="atb-bench-registry-") as folder:
            root = Path(folder)
            generate(root, args.symbols, args.types, args.versions)
            if args.only in (None, "scan"):
                print("\n".join(scan_table(root, args.repeats)), flush=True)
                print()
            if args.only in (None, "reload"):
                table = reload_table(root, args.repeats, args.intra_op_threads)
                print("\n".join(table), flush=True)
                print()
    if args.only in (None, "predict"):
        print(f"predict with intra_op_threads={args.intra_op_threads} (None: default threading)")
        print("\n".join(predict_table(args.calls, args.intra_op_threads)))


if __name__ == "__main__":
    main()
