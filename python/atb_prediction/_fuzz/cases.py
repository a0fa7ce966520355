"""Fuzz cases: a small generated registry and the mutations applied to its files.

A case is plain JSON (``{"mutations": [...]}``), so a saved case rebuilds the same registry on
any machine: the base registry is generated from fixed seeds, and each mutation records its
file, kind and every random choice it made.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

__all__ = ["BASE_FILES", "Mutation", "apply", "build_base", "build_case", "random_mutation"]

Mutation = dict[str, Any]

SYMBOLS = ("BTCUSDT", "ETHUSDT")
VERSIONS = ("2025-01-01_1h_v1", "2025-01-02_1h_v1")
MODEL_TYPE = "basic"

BASE_FILES = [
    f"{symbol}/{MODEL_TYPE}/{version}/{name}"
    for symbol in SYMBOLS
    for version in VERSIONS
    for name in ("model.onnx", "metadata.json", "feature_schema.json", "metrics.json")
]

_JSON_VALUES = [
    "NaN",
    "-NaN",
    "4NaN",
    "NaN.5",
    "Infinity",
    "-Infinity",
    "1e999",
    "-0",
    "9007199254740993",
    "18446744073709551616",
    '"\\ud800"',
    '""',
    "null",
    "true",
    "[]",
    "{}",
    "[" * 200 + "]" * 200,
    '"' + "x" * 5000 + '"',
    "-1",
    "0",
    "1",
    "3.5",
]
_SPECIAL_KINDS = ("fifo", "link_out", "link_dev_zero", "folder", "empty", "dangling")


def _model_script() -> Any:
    """``scripts/make_demo_models.py`` of the checkout the fuzzer runs from (it uses the ``onnx``
    package, a development dependency, like the fuzzer itself)."""
    import importlib.util

    path = Path(__file__).resolve().parents[3] / "scripts" / "make_demo_models.py"
    spec = importlib.util.spec_from_file_location("make_demo_models", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{path}: the fuzzer runs from a source checkout")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_base(root: Path) -> None:
    """Write the base registry: two symbols, two versions each, real ONNX models."""
    linear_sequence_model = _model_script().linear_sequence_model

    for s, symbol in enumerate(SYMBOLS):
        for v, version in enumerate(VERSIONS):
            bundle = root / symbol / MODEL_TYPE / version
            bundle.mkdir(parents=True)
            (bundle / "model.onnx").write_bytes(linear_sequence_model(4, 3, seed=10 * s + v))
            metadata = {
                "symbol": symbol,
                "model_type": MODEL_TYPE,
                "timeframe": "1h",
                "version_id": version,
                "sequence_length": 4,
                "feature_names": ["close", "volume", "rsi"],
                "normalization_params": {"close": {"mean": 1.0, "std": 2.0}},
                "created_at": f"{version[:10]}T00:00:00+00:00",
            }
            (bundle / "metadata.json").write_text(json.dumps(metadata, indent=1))
            schema = {"sequence_length": 4, "features": [{"name": n} for n in ("c", "v", "r")]}
            (bundle / "feature_schema.json").write_text(json.dumps(schema, indent=1))
            (bundle / "metrics.json").write_text(json.dumps({"mse": 0.5, "accuracy": 0.9}))
        os.symlink(VERSIONS[-1], root / symbol / MODEL_TYPE / "latest")


def random_mutation(rng: random.Random, root: Path) -> Mutation:
    """One mutation of a random base file, with all its random choices recorded."""
    name = rng.choice(BASE_FILES)
    size = (root / name).stat().st_size if (root / name).is_file() else 0
    roll = rng.random()
    if roll < 0.05:
        return {"file": name, "kind": rng.choice(_SPECIAL_KINDS)}
    if name.endswith(".json") and roll < 0.55:
        text = (root / name).read_text(errors="replace")
        colons = [i for i, c in enumerate(text) if c == ":"]
        at = rng.choice(colons) + 1 if colons else 0
        end = at
        while end < len(text) and text[end] not in ",}]\n":
            end += 1
        return {
            "file": name,
            "kind": "json_value",
            "at": at,
            "end": end,
            "value": rng.choice(_JSON_VALUES),
        }
    if roll < 0.75 and size:
        offset = rng.randrange(size)
        return {"file": name, "kind": "flip", "offset": offset, "mask": rng.randrange(1, 256)}
    if roll < 0.85 and size:
        return {"file": name, "kind": "truncate", "length": rng.randrange(size)}
    if roll < 0.95:
        offset = rng.randrange(size + 1)
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        return {"file": name, "kind": "insert", "offset": offset, "hex": data.hex()}
    return {"file": name, "kind": "varint", "offset": rng.randrange(max(size, 1))}


def apply(root: Path, mutation: Mutation, outside: Path) -> None:
    """Apply one mutation to the registry at ``root`` (``outside`` is a folder beyond it)."""
    path = root / mutation["file"]
    kind = mutation["kind"]
    if kind in _SPECIAL_KINDS:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif os.path.lexists(path):
            path.unlink()
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "link_out":
            secret = outside / path.name
            secret.write_text('{"secret": "OUTSIDE"}')
            os.symlink(secret, path)
        elif kind == "link_dev_zero":
            os.symlink("/dev/zero", path)
        elif kind == "folder":
            path.mkdir()
        elif kind == "empty":
            path.write_bytes(b"")
        else:
            os.symlink(path.name + ".missing", path)
        return
    if not path.is_file() or path.is_symlink():
        return
    data = bytearray(path.read_bytes())
    if kind == "json_value":
        text = data.decode("utf-8", errors="replace")
        text = text[: mutation["at"]] + " " + mutation["value"] + text[mutation["end"] :]
        data = bytearray(text.encode())
    elif kind == "flip" and mutation["offset"] < len(data):
        data[mutation["offset"]] ^= mutation["mask"]
    elif kind == "truncate":
        del data[mutation["length"] :]
    elif kind == "insert":
        data[mutation["offset"] : mutation["offset"]] = bytes.fromhex(mutation["hex"])
    elif kind == "varint" and mutation["offset"] < len(data):
        # A huge varint where a length or a dimension may be: probes size handling.
        data[mutation["offset"] : mutation["offset"] + 1] = b"\xff" * 9 + b"\x01"
    path.write_bytes(bytes(data))


def build_case(folder: Path, mutations: list[Mutation], base: Path | None = None) -> Path:
    """Build the base registry under ``folder`` (a copy of ``base`` when one was built already)
    and apply ``mutations``; return its root."""
    root = folder / "registry"
    outside = folder / "outside"
    outside.mkdir(parents=True, exist_ok=True)
    if base is None:
        build_base(root)
    else:
        shutil.copytree(base, root, symlinks=True)
    for mutation in mutations:
        apply(root, mutation, outside)
    return root
