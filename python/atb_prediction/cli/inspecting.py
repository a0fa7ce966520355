"""``atb models inspect KEY``: everything about one version, from tensors to checksums."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atb_prediction.cli.arguments import ParserParts, SubParsers
from atb_prediction.cli.output import EXIT_OK, Console
from atb_prediction.cli.registry_access import open_index, require_runtime, resolve_key
from atb_prediction.cli.tables import Cell, Column, render_table
from atb_prediction.models.exceptions import PredictionError

if TYPE_CHECKING:
    from atb_prediction import BundleRecord

__all__ = ["add_parsers", "inspect_document", "run_inspect"]


def add_parsers(models: SubParsers, parts: ParserParts) -> None:
    """Registers ``atb models inspect``."""
    parser = parts.add(
        models,
        "inspect",
        help="inputs, outputs, metadata, files and sha256 of one version",
        description="Shows one version: model inputs and outputs with shapes and dtypes, "
        "metadata, feature schema, problems found, file sizes and the model's sha256. "
        "A KEY without VERSION means the production version.",
    )
    parts.key_argument(parser, "key", None)
    parser.set_defaults(command="models inspect", run=run_inspect)


_CHUNK = 1 << 20


def sha256_of(path: str) -> str | None:
    """Hex SHA-256 of a regular file, read in chunks so a large model is not held in memory
    twice; ``None`` for anything else (a FIFO, a device), which is opened without blocking and
    never read: the problems then say why the model cannot load."""
    import stat

    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        digest = hashlib.sha256()
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _size(path: Path) -> int:
    """A file's size, or the total size of a folder's files (``saved_model/``)."""
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            total += (Path(folder) / name).lstat().st_size
    return total


def human_size(size: int) -> str:
    """``1234567`` -> ``1.2 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _tensor_json(tensor: Any) -> dict[str, Any]:
    return {"name": tensor.name, "dtype": str(tensor.dtype), "shape": list(tensor.shape)}


def inspect_document(record: BundleRecord) -> dict[str, Any]:
    """The JSON document of ``atb models inspect``."""
    from atb_prediction import OnnxSession
    from atb_prediction.models.validation import validate_version  # imports numpy: only here

    directory = Path(record.directory)
    files = [
        {"name": entry.name + ("/" if entry.is_dir() else ""), "size": _size(entry)}
        for entry in sorted(directory.iterdir(), key=lambda p: p.name)
    ]
    document: dict[str, Any] = {
        "key": record.key,
        "symbol": record.symbol,
        "timeframe": record.timeframe,
        "model_type": record.model_type,
        "version": record.version_id,
        "production": record.is_production,
        "directory": os.fspath(record.directory),
        "model_path": os.fspath(record.model_path),
        "sha256": sha256_of(os.fspath(record.model_path)),
        "inputs": [],
        "outputs": [],
        "onnx_metadata": {},
        "providers": [],
        "metadata": record.metadata,
        "feature_schema": record.feature_schema,
        "metrics": record.metrics,
        "files": files,
    }
    try:
        session = OnnxSession(record.model_path, warmup=False, intra_op_threads=1)
    except PredictionError:
        pass  # validate_version below reports why, in the problems
    else:
        document["inputs"] = [_tensor_json(t) for t in session.inputs]
        document["outputs"] = [_tensor_json(t) for t in session.outputs]
        document["onnx_metadata"] = dict(session.metadata)
        document["providers"] = list(session.providers)
    report = validate_version(record)
    document["problems"] = report.problems
    document["valid"] = report.ok
    return document


def _shape(shape: list[int | None]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _print(console: Console, doc: dict[str, Any]) -> None:
    style = console.style
    width = console.width
    title = doc["key"] + (" (production)" if doc["production"] else "")
    console.print(style("bold", title))
    fields = [
        ["directory", doc["directory"]],
        ["model", Path(doc["model_path"]).name],
        ["sha256", doc["sha256"] or "- (not a regular file)"],
        ["created_at", str(doc["metadata"].get("created_at", "-"))],
        ["providers", ", ".join(doc["providers"]) or "-"],
    ]
    console.print(
        render_table([Column(""), Column("", wrap=True)], fields, width=width, header=False)
    )

    for label in ("inputs", "outputs"):
        console.print()
        console.print(style("bold", label.capitalize()))
        rows: list[list[Cell | str]] = [
            [t["name"], t["dtype"], _shape(t["shape"])] for t in doc[label]
        ]
        if rows:
            columns = [Column("NAME"), Column("DTYPE"), Column("SHAPE")]
            console.print(render_table(columns, rows, width=width, style=style))
        else:
            console.print("(model did not open)")

    console.print()
    console.print(style("bold", "Files"))
    console.print(
        render_table(
            [Column("NAME"), Column("SIZE", align="right")],
            [[f["name"], human_size(f["size"])] for f in doc["files"]],
            width=width,
            style=style,
        )
    )

    for label, key in (
        ("Metadata (metadata.json)", "metadata"),
        ("Feature schema (feature_schema.json)", "feature_schema"),
        ("Metrics (metrics.json)", "metrics"),
        ("ONNX metadata", "onnx_metadata"),
    ):
        value = doc[key]
        console.print()
        console.print(style("bold", label))
        if not value:
            console.print("(none)")
            continue
        rows = [
            [name, json.dumps(item, ensure_ascii=False) if not isinstance(item, str) else item]
            for name, item in value.items()
        ]
        console.print(
            render_table([Column(""), Column("", wrap=True)], rows, width=width, header=False)
        )

    console.print()
    console.print(style("bold", "Problems"))
    if doc["problems"]:
        for problem in doc["problems"]:
            text = textwrap.fill(
                f"- {problem}", width=width, subsequent_indent="  ", break_on_hyphens=False
            )
            console.print(style("fail", text))
    else:
        console.print(style("green", "none: the model opens, shapes agree, output is finite"))


def run_inspect(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb models inspect``; exit status 0 even when the version has problems (it is a
    report; ``validate`` is the check)."""
    index = open_index(args.registry)
    record = resolve_key(index, args.key)
    require_runtime()
    document = inspect_document(record)
    if args.json:
        console.json(document)
    else:
        _print(console, document)
    return EXIT_OK
