"""Locating the ONNX Runtime shared library that the ``onnxruntime`` wheel ships.

The Rust core loads ONNX Runtime dynamically. The library is found without importing the
``onnxruntime`` Python module (which is slow to import and loads a second copy of the runtime's
Python bindings): ``importlib.util.find_spec`` gives the package folder, and the library sits in
``onnxruntime/capi/``. ``ORT_DYLIB_PATH`` overrides the search.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

from atb_prediction.models.exceptions import RuntimeLibraryError

#: The oldest ONNX Runtime the core's ``ort`` bindings (``api-27``) can drive.
MINIMUM_VERSION = (1, 27)

_LIBRARY_PATTERN = re.compile(
    r"^libonnxruntime\.so\.(\d+)\.(\d+)\.(\d+)$|^libonnxruntime\.(\d+)\.(\d+)\.(\d+)\.dylib$|^onnxruntime\.dll$"
)


def _version_of(name: str) -> tuple[int, ...] | None:
    match = _LIBRARY_PATTERN.match(name)
    if match is None:
        return None
    numbers = [group for group in match.groups() if group is not None]
    return tuple(int(number) for number in numbers) if numbers else (999,)


def find_library() -> str:
    """Return the absolute path of the ONNX Runtime library to load.

    Raises:
        RuntimeLibraryError: when ``ORT_DYLIB_PATH`` names no file, when the ``onnxruntime``
            package is not installed, or when it ships no library of a supported version.
    """
    override = os.environ.get("ORT_DYLIB_PATH")
    if override:
        path = Path(override).expanduser()
        if not path.is_absolute():
            raise RuntimeLibraryError(f"ORT_DYLIB_PATH must be an absolute path, got {override!r}")
        if not path.is_file():
            raise RuntimeLibraryError(f"ORT_DYLIB_PATH={override!r} names no file")
        return str(path)

    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeLibraryError(
            "the onnxruntime package is not installed (looked for it with "
            "importlib.util.find_spec); install it with `pip install 'onnxruntime>=1.27'` "
            "or set ORT_DYLIB_PATH to libonnxruntime"
        )
    searched: list[str] = []
    candidates: list[tuple[tuple[int, ...], Path]] = []
    for location in spec.submodule_search_locations:
        capi = Path(location) / "capi"
        searched.append(str(capi))
        if not capi.is_dir():
            continue
        for entry in capi.iterdir():
            version = _version_of(entry.name)
            if version is not None and entry.is_file():
                candidates.append((version, entry.resolve()))
    if not candidates:
        raise RuntimeLibraryError(
            f"no libonnxruntime shared library found in {', '.join(searched)}; "
            "reinstall onnxruntime or set ORT_DYLIB_PATH"
        )
    version, path = max(candidates)
    if version[:2] < MINIMUM_VERSION:
        found = ".".join(str(part) for part in version)
        raise RuntimeLibraryError(
            f"{path} is ONNX Runtime {found}, but atb-prediction needs >= "
            f"{MINIMUM_VERSION[0]}.{MINIMUM_VERSION[1]}; upgrade with `pip install -U onnxruntime`"
        )
    return str(path)
