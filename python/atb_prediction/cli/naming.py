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

from atb_prediction._core import format_key, is_folder_name, registry_folders, split_key
from atb_prediction.cli.output import EXIT_FAILED, EXIT_USAGE, CommandError
from atb_prediction.models.exceptions import PredictionError

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


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelName:
    """A model (and maybe one version of it) as a command named it, in a key's order."""

    symbol: str
    timeframe: str | None = None
    model_type: str
    version: str | None = None

    def __str__(self) -> str:
        return format_key(self.symbol, self.timeframe or "*", self.model_type, self.version)


def parse_model(words: list[str], form: Form) -> ModelName:
    """Read a model name from a command's ``MODEL`` words: one key, or the positional words.

    Raises:
        CommandError: neither form (exit status 2, a usage error).
    """
    expected = f"{_KEYS[form]} or {' '.join(_WORDS[form])}"
    if len(words) == 1 and ":" in words[0]:
        try:
            parts = split_key(words[0])
        except ValueError:
            parts = []
        if len(parts) != len(_KEYS[form].split(":")):
            raise CommandError(f"{words[0]!r} is not a key {_KEYS[form]}", EXIT_USAGE)
        symbol, timeframe, model_type, *version = parts
        return ModelName(
            symbol=symbol,
            timeframe=timeframe,
            model_type=model_type,
            version=version[0] if version else None,
        )
    if len(words) != len(_WORDS[form]) or not all(words):
        raise CommandError(f"expected {expected}, got {' '.join(words)!r}", EXIT_USAGE)
    if form == "timeframe":
        return ModelName(symbol=words[0], timeframe=words[1], model_type=words[2])
    if form == "version":
        return ModelName(symbol=words[0], model_type=words[1], version=words[2])
    return ModelName(symbol=words[0], model_type=words[1])


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


def _folders(root: str, *names: str) -> tuple[list[str], dict[str, str]]:
    """The folders of ``root/NAMES...`` the registry serves, and why each refused one is not
    (the core's layout: the scan lists them the same way); nothing when it cannot be listed."""
    try:
        served, refused = registry_folders(Path(root, *names), root)
    except PredictionError:
        return [], {}
    return served, dict(refused)


def _require_folder(root: str, name: str, what: str, *parents: str) -> None:
    """Raise a :class:`CommandError` unless ``root/PARENTS.../NAME`` is a folder the registry
    serves, naming the scan's reason for one it refuses, else the closest existing names."""
    served, refused = _folders(root, *parents)
    if name in served:
        return
    where = "/".join((*parents, name))
    if name in refused:
        raise CommandError(f"{where} in {root} is refused: {refused[name]}", EXIT_FAILED)
    raise CommandError(f"no {what} in {root}; {did_you_mean(name, served)}", EXIT_FAILED)


def require_existing(root: str, name: ModelName, index: RegistryIndex | None = None) -> None:
    """Check that the symbol, model type, version (and, given ``index``, timeframe) exist.

    Raises:
        CommandError: the first part that does not exist, with the closest existing names, or
            that the registry refuses, with its reason.
    """
    if not all(
        is_folder_name(part) for part in (name.symbol, name.model_type, name.version or "x")
    ):
        return  # not a folder name at all: promotion refuses it, naming the rule
    _require_folder(root, name.symbol, f"symbol {name.symbol!r}")
    _require_folder(
        root, name.model_type, f"model type {name.model_type!r} for {name.symbol}", name.symbol
    )
    if name.version is not None:
        _require_folder(
            root,
            name.version,
            f"version {name.version!r} of {name.symbol}/{name.model_type}",
            name.symbol,
            name.model_type,
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
