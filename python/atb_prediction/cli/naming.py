"""How a command names a model: the key ``list`` prints, or the older positional words.

Every ``atb models`` command that takes one model accepts its key
``SYMBOL:TIMEFRAME:MODEL_TYPE[:VERSION]`` as well as the words it always took (``compare
SYMBOL TIMEFRAME MODEL_TYPE``, ``promote SYMBOL MODEL_TYPE VERSION``, ``history SYMBOL
MODEL_TYPE``). A name that matches nothing gets the closest existing names
(:func:`difflib.get_close_matches`), else the list of what exists.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from atb_prediction.cli.output import EXIT_FAILED, EXIT_USAGE, CommandError

if TYPE_CHECKING:
    from atb_prediction import RegistryIndex

__all__ = ["Form", "ModelName", "did_you_mean", "parse_model", "require_existing"]

Form = Literal["timeframe", "type", "version"]
"""What a command names: a model with its timeframe (``compare``), a model type (``history``,
``rollback``), or one version (``promote``)."""

_WORDS: dict[Form, tuple[str, ...]] = {
    "timeframe": ("SYMBOL", "TIMEFRAME", "MODEL_TYPE"),
    "type": ("SYMBOL", "MODEL_TYPE"),
    "version": ("SYMBOL", "MODEL_TYPE", "VERSION"),
}
_KEYS: dict[Form, str] = {
    "timeframe": "SYMBOL:TIMEFRAME:MODEL_TYPE",
    "type": "SYMBOL:TIMEFRAME:MODEL_TYPE",
    "version": "SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION",
}
_MAX_LISTED = 12


@dataclass(frozen=True, slots=True)
class ModelName:
    """A model (and maybe one version of it) as a command named it."""

    symbol: str
    model_type: str
    timeframe: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        parts = [self.symbol, self.timeframe or "*", self.model_type]
        return ":".join([*parts, self.version] if self.version else parts)


def parse_model(words: list[str], form: Form) -> ModelName:
    """Read a model name from a command's ``MODEL`` words: one key, or the positional words.

    Raises:
        CommandError: neither form (exit status 2, a usage error).
    """
    expected = f"{_KEYS[form]} or {' '.join(_WORDS[form])}"
    if len(words) == 1 and ":" in words[0]:
        parts = words[0].split(":")
        if len(parts) != len(_KEYS[form].split(":")) or not all(parts):
            raise CommandError(f"{words[0]!r} is not a key {_KEYS[form]}", EXIT_USAGE)
        if form == "version":
            return ModelName(parts[0], parts[2], timeframe=parts[1], version=parts[3])
        return ModelName(parts[0], parts[2], timeframe=parts[1])
    if len(words) != len(_WORDS[form]) or not all(words):
        raise CommandError(f"expected {expected}, got {' '.join(words)!r}", EXIT_USAGE)
    if form == "timeframe":
        return ModelName(words[0], words[2], timeframe=words[1])
    if form == "version":
        return ModelName(words[0], words[1], version=words[2])
    return ModelName(words[0], words[1])


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``did you mean X?`` for the closest choices, else the choices there are."""
    options = sorted(set(choices))
    close = difflib.get_close_matches(name, options, n=3)
    if close:
        return f"did you mean {' or '.join(close)}?"
    if not options:
        return "there are none"
    listed = ", ".join(options[:_MAX_LISTED])
    more = f" and {len(options) - _MAX_LISTED} more" if len(options) > _MAX_LISTED else ""
    return f"there are: {listed}{more}"


def _folders(directory: Path) -> list[str]:
    """Names of the visible sub-folders of ``directory`` (``latest`` is a pointer, not one)."""
    try:
        entries = list(directory.iterdir())
    except OSError:
        return []
    return [
        e.name
        for e in entries
        if e.is_dir() and not e.is_symlink() and not e.name.startswith(".") and e.name != "latest"
    ]


def _plain(part: str) -> bool:
    return not part.startswith(".") and "/" not in part and "\\" not in part and "\0" not in part


def require_existing(root: str, name: ModelName, index: RegistryIndex | None = None) -> None:
    """Check that the symbol, model type, version (and, given ``index``, timeframe) exist.

    Raises:
        CommandError: the first part that does not exist, with the closest existing names.
    """
    if not all(_plain(part) for part in (name.symbol, name.model_type, name.version or "x")):
        return  # not a folder name at all: promotion refuses it, naming the rule
    base = Path(root)
    symbols = _folders(base)
    if name.symbol not in symbols:
        raise CommandError(
            f"no symbol {name.symbol!r} in {root}; {did_you_mean(name.symbol, symbols)}",
            EXIT_FAILED,
        )
    types = _folders(base / name.symbol)
    if name.model_type not in types:
        raise CommandError(
            f"no model type {name.model_type!r} for {name.symbol} in {root}; "
            f"{did_you_mean(name.model_type, types)}"
        )
    if name.version is not None:
        versions = _folders(base / name.symbol / name.model_type)
        if name.version not in versions:
            raise CommandError(
                f"no version {name.version!r} of {name.symbol}/{name.model_type} in {root}; "
                f"{did_you_mean(name.version, versions)}"
            )
    if name.timeframe is not None and index is not None:
        records = [
            r for r in index.versions if (r.symbol, r.model_type) == (name.symbol, name.model_type)
        ]
        if name.version is not None:
            records = [r for r in records if r.version_id == name.version]
        timeframes = {r.timeframe for r in records}
        if timeframes and name.timeframe not in timeframes:
            what = f"{name.symbol}/{name.model_type}" + (f"/{name.version}" if name.version else "")
            raise CommandError(
                f"{what} has no timeframe {name.timeframe!r}; "
                f"{did_you_mean(name.timeframe, timeframes)}"
            )
