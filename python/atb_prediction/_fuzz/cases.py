"""Fuzz cases: a small generated registry and the mutations applied to its files.

A case is plain JSON (``{"mutations": [...]}``), so a saved case rebuilds the same registry on
any machine: the base registry is made from the demo models shipped with the package, and each
mutation records its file, kind and every random choice it made. A mutation of a model is
either of its bytes or of its protobuf structure (:mod:`.onnx_edits`: declared dims, element
types, initializers).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

from atb_prediction._core import LATEST
from atb_prediction._fuzz import onnx_edits

__all__ = [
    "BASE_FILES",
    "MODEL_FILES",
    "WINDOW",
    "Mutation",
    "apply",
    "build_base",
    "build_case",
    "random_mutation",
]

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

WINDOW = (4, 3)
"""(sequence length, features) of the base models: small, so that most bytes of a model are its
structure rather than weights."""

MODEL_FILES = [name for name in BASE_FILES if name.endswith(".onnx")]


def _base_model(number: int) -> bytes:
    """Basic demo model ``number`` (shipped with the package, so no ``onnx`` is needed) cut down
    to a ``WINDOW`` input: its weight keeps the first ``seq * features`` rows."""
    from atb_prediction.demo import DEMO_VERSIONS, _shipped_model

    basic = [version for version in DEMO_VERSIONS if version.model_type == MODEL_TYPE]
    data = _shipped_model(basic[number])
    sequence_length, features = WINDOW
    data = onnx_edits.set_dim(data, "input", 0, 1, sequence_length)
    data = onnx_edits.set_dim(data, "input", 0, 2, features)
    rows = sequence_length * features
    data = onnx_edits.set_dim(data, "initializer", 0, 0, rows)
    return onnx_edits.cut_initializer_data(data, 0, rows * 4)  # float32 weights


def build_base(root: Path) -> None:
    """Write the base registry: two symbols, two versions each, real ONNX models."""
    for s, symbol in enumerate(SYMBOLS):
        for v, version in enumerate(VERSIONS):
            bundle = root / symbol / MODEL_TYPE / version
            bundle.mkdir(parents=True)
            (bundle / "model.onnx").write_bytes(_base_model(2 * s + v))
            metadata = {
                "symbol": symbol,
                "model_type": MODEL_TYPE,
                "timeframe": "1h",
                "version_id": version,
                "sequence_length": WINDOW[0],
                "feature_names": ["close", "volume", "rsi"],
                "normalization_params": {"close": {"mean": 1.0, "std": 2.0}},
                "created_at": f"{version[:10]}T00:00:00+00:00",
            }
            (bundle / "metadata.json").write_text(json.dumps(metadata, indent=1))
            names = ("c", "v", "r")
            schema = {"sequence_length": WINDOW[0], "features": [{"name": n} for n in names]}
            (bundle / "feature_schema.json").write_text(json.dumps(schema, indent=1))
            (bundle / "metrics.json").write_text(json.dumps({"mse": 0.5, "accuracy": 0.9}))
        os.symlink(VERSIONS[-1], root / symbol / MODEL_TYPE / LATEST)


def random_mutation(rng: random.Random, root: Path) -> Mutation:
    """One mutation of a random base file, with all its random choices recorded."""
    roll = rng.random()
    if roll < 0.05:
        return {"file": rng.choice(BASE_FILES), "kind": rng.choice(_SPECIAL_KINDS)}
    if roll < 0.35:
        name = rng.choice(MODEL_FILES)
        return {"file": name, **onnx_edits.random_recipe(rng, (root / name).read_bytes())}
    name = rng.choice(BASE_FILES)
    size = (root / name).stat().st_size if (root / name).is_file() else 0
    if name.endswith(".json") and roll < 0.6:
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
    if roll < 0.77 and size:
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
    elif kind in onnx_edits.RECIPE_KINDS:
        data = bytearray(onnx_edits.apply_recipe(bytes(data), mutation))
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
