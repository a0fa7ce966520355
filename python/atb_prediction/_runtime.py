"""Locating the ONNX Runtime shared library that the ``onnxruntime`` wheel ships.

The Rust core loads ONNX Runtime dynamically. The library is found without importing the
``onnxruntime`` Python module (which is slow to import and loads a second copy of the runtime's
Python bindings): ``importlib.util.find_spec`` gives the package folder, and the library sits in
``onnxruntime/capi/``. ``ORT_DYLIB_PATH`` overrides the search.

``find_spec`` answers from ``sys.modules`` when the module is there, so a stub put at
``sys.modules["onnxruntime"]`` (upstream's test configuration does this) makes it raise or give
a spec without a location; the package folder is then searched for on ``sys.path`` and in the
site-packages folders instead.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import site
import sys
from collections.abc import Iterator
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

    searched: list[str] = []
    candidates: list[tuple[tuple[int, ...], Path]] = []
    for locations in _package_locations():
        for location in locations:
            capi = location / "capi"
            searched.append(str(capi))
            if not capi.is_dir():
                continue
            for entry in capi.iterdir():
                version = _version_of(entry.name)
                if version is not None and entry.is_file():
                    candidates.append((version, entry.resolve()))
        if candidates:
            break
    if not searched:
        raise RuntimeLibraryError(
            "the onnxruntime package is not installed (looked for it with "
            "importlib.util.find_spec and on sys.path); install it with "
            "`pip install 'onnxruntime>=1.27'` or set ORT_DYLIB_PATH to libonnxruntime"
        )
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


def _package_locations() -> Iterator[list[Path]]:
    """Candidate folders of the installed ``onnxruntime`` package, best source first, found
    without importing it."""
    try:
        spec = importlib.util.find_spec("onnxruntime")
    except (ImportError, ValueError):  # a stub in sys.modules with no or a broken __spec__
        spec = None
    if spec is not None and spec.submodule_search_locations:
        yield [Path(location) for location in spec.submodule_search_locations]
    # The path-based finder never looks at sys.modules.
    spec = importlib.machinery.PathFinder.find_spec("onnxruntime")
    if spec is not None and spec.submodule_search_locations:
        yield [Path(location) for location in spec.submodule_search_locations]
    found = [path for path in _site_folders() if path.is_dir()]
    if found:
        yield found


def _site_folders() -> Iterator[Path]:
    """``onnxruntime`` under each site-packages folder, for when ``sys.path`` was trimmed."""
    folders = [*site.getsitepackages(), site.getusersitepackages(), *sys.path]
    for folder in dict.fromkeys(folders):
        if folder:
            yield Path(folder) / "onnxruntime"
