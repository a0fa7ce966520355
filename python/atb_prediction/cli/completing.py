"""Shell completion with ``argcomplete``: commands and options, plus the registry's symbols, model
types, timeframes, versions and keys, read from the registry named on the command line so far.

``atb completion SHELL`` prints the script that a shell sources; the shell then runs ``atb`` with
``_ARGCOMPLETE`` set, and :func:`complete` answers, with the parser ``main`` builds, before any
command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from atb_prediction.cli.arguments import ParserParts, SubParsers
from atb_prediction.cli.output import EXIT_OK, Console
from atb_prediction.cli.registry_access import known_keys
from atb_prediction.config import registry_path

if TYPE_CHECKING:
    from atb_prediction import RegistryIndex

__all__ = ["add_parsers", "complete", "completers", "run_completion"]


def add_parsers(commands: SubParsers, parts: ParserParts) -> None:
    """Registers ``atb completion``."""
    parser = parts.add(
        commands,
        "completion",
        help="print the shell completion script for bash, zsh or fish",
        description="Prints a script that completes atb's commands, options, and the registry's "
        "symbols, model types, versions and keys. Install it with, for example:\n"
        '  bash: eval "$(atb completion bash)"   (in ~/.bashrc)\n'
        "  zsh:  atb completion zsh > ~/.zfunc/_atb   (with ~/.zfunc in $fpath)\n"
        "  fish: atb completion fish > ~/.config/fish/completions/atb.fish\n",
        global_options=False,
    )
    parser.add_argument("shell", choices=("bash", "zsh", "fish"), metavar="SHELL")
    parser.set_defaults(command="completion", run=run_completion)


def _index(parsed_args: argparse.Namespace) -> RegistryIndex | None:
    from atb_prediction.models.scanning import scan_registry

    try:
        return scan_registry(registry_path(getattr(parsed_args, "registry", None)))
    except Exception:  # completion must never fail loudly: offer nothing instead
        return None


def complete_key(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Keys for ``validate`` and ``inspect``."""
    index = _index(parsed_args)
    return [k for k in known_keys(index) if k.startswith(prefix)] if index else []


def complete_model(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """The next ``MODEL`` word: a key, or the symbol, timeframe, model type or version that
    the command's positional form expects at this position."""
    index = _index(parsed_args)
    if index is None:
        return []
    typed: list[str] = list(getattr(parsed_args, "model", None) or [])
    command = getattr(parsed_args, "command", "")
    records = list(index.versions)
    if not typed:
        words = {r.symbol for r in records}
        if ":" in prefix:
            words = set(known_keys(index))
        return sorted(w for w in words if w.startswith(prefix))
    records = [r for r in records if r.symbol == typed[0]]
    if command == "models compare":  # SYMBOL TIMEFRAME MODEL_TYPE
        if len(typed) == 1:
            words = {r.timeframe for r in records}
        else:
            words = {r.model_type for r in records if r.timeframe == typed[1]}
    elif len(typed) == 1:  # SYMBOL MODEL_TYPE [VERSION]
        words = {r.model_type for r in records}
    elif command == "models promote" and len(typed) == 2:
        words = {r.version_id for r in records if r.model_type == typed[1]}
    else:
        words = set()
    return sorted(w for w in words if w.startswith(prefix))


def completers() -> dict[str, Callable[..., Any]]:
    """The completers :func:`~atb_prediction.cli.parser.build_parser` attaches."""
    from argcomplete.completers import DirectoriesCompleter

    return {"path": DirectoriesCompleter(), "model": complete_model, "key": complete_key}


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request (``_ARGCOMPLETE`` is set) from ``parser`` (built
    with :func:`completers`) and exit."""
    import argcomplete

    argcomplete.autocomplete(parser, always_complete_options=False)


def run_completion(args: argparse.Namespace, console: Console) -> int:
    """Run ``atb completion SHELL``: print the completion script for that shell."""
    from argcomplete.shell_integration import shellcode

    console.print(shellcode(["atb"], shell=args.shell).rstrip("\n"))
    return EXIT_OK
