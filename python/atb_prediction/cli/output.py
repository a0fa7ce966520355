"""Where the command line writes: results on stdout, errors and progress on stderr.

Scripts read stdout (one JSON document with ``--json``), so nothing else ever goes there;
errors are one line on stderr, and colour and the progress bar appear only on a terminal.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from atb_prediction.cli.tables import Style
from atb_prediction.progress import ProgressBar, is_terminal

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "JSON_SCHEMA",
    "CommandError",
    "Console",
]

EXIT_OK = 0
"""The command succeeded."""
EXIT_FAILED = 1
"""A check failed, or the action was refused or could not be carried out."""
EXIT_USAGE = 2
"""The command line was malformed (argparse's own exit status for usage errors)."""

_DEFAULT_WIDTH = 80

JSON_SCHEMA = 1
"""Version of the layout of the JSON documents; raised when a field changes meaning or goes."""


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None``, containers rebuilt."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


class CommandError(Exception):
    """A command cannot go on: ``main`` prints the message as one line and exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def _wants_colour(stream: TextIO) -> bool:
    """https://no-color.org and ``FORCE_COLOR``, else only on a terminal that is not dumb."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return is_terminal(stream) and os.environ.get("TERM") != "dumb"


@dataclass
class Console:
    """The streams a command writes to, with the width and colour decided once."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    prog: str = "atb"
    """Prefix of error lines, e.g. ``atb models promote``."""
    wrote_json: bool = field(default=False, init=False)
    """Whether the command's one JSON document was written (an error adds none then)."""

    @property
    def style(self) -> Style:
        """Colour for stdout: on only when stdout is a terminal."""
        return Style(colour=_wants_colour(self.stdout))

    @property
    def width(self) -> int:
        """80 columns, or the terminal's width when stdout is a terminal."""
        if is_terminal(self.stdout):
            return max(40, shutil.get_terminal_size((_DEFAULT_WIDTH, 24)).columns)
        return _DEFAULT_WIDTH

    def print(self, text: str = "") -> None:
        """Write one or more lines of human output to stdout."""
        self.stdout.write(text + "\n")

    def json(self, document: Any) -> None:
        """Write ``document`` as the command's one JSON document on stdout.

        NaN and infinities (real metadata holds ``"mape": Infinity``) become ``null``: they are
        not JSON, and strict parsers such as ``jq`` reject them. Every document starts with
        ``"schema": 1``, the version of the documents' layout: scripts can check it.
        """
        if isinstance(document, dict):
            document = {"schema": JSON_SCHEMA, **document}
        text = json.dumps(_finite(document), indent=2, ensure_ascii=False, allow_nan=False)
        self.stdout.write(text)
        self.stdout.write("\n")
        self.wrote_json = True

    def json_error(self, kind: str, message: str) -> None:
        """The one JSON document of a command that failed, ``{"error": {"type", "message"}}``,
        unless the command already wrote its document (a refusal with its evidence)."""
        if not self.wrote_json:
            self.json({"error": {"type": kind, "message": " ".join(message.split())}})

    def error(self, message: str) -> None:
        """Write ``message`` to stderr as one line prefixed with the command's name."""
        flat = " ".join(message.split())
        self.stderr.write(f"{self.prog}: error: {flat}\n")

    def note(self, message: str) -> None:
        """Write an informational line to stderr (never mixed into JSON on stdout)."""
        self.stderr.write(message + "\n")

    def progress(self, label: str) -> ProgressBar:
        """A progress bar on stderr, drawn only when stderr is a terminal."""
        return ProgressBar(label, self.stderr)
