"""What a version must satisfy before it is promoted, and what promoting it adds to it.

Kept apart from the mechanics (lock, journal, swap) so that the rules can grow without touching
them: today a validation check (by default the full ``atb models validate`` of the version) and
the integrity manifest, which a promotion writes when the version has none and checks when it
has one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from atb_prediction.promotion.exceptions import PromotionRefusedError, ValidationFailedError

__all__ = [
    "CheckFunction",
    "default_check",
    "refuse_problems",
    "require_valid",
    "seal_or_verify",
]

CheckFunction = Callable[[Path, str, str, str], list[str]]
"""``check(root, symbol, model_type, version) -> problems``; no problems lets a promotion go on."""


def default_check(root: Path, symbol: str, model_type: str, version: str) -> list[str]:
    """The full validation of :func:`atb_prediction.models.validation.check_version`."""
    # Imported here: validation pulls in the registry scanner, which a history read doesn't need.
    from atb_prediction.models.validation import check_version

    return check_version(root, symbol, model_type, version).problems


def require_valid(
    check: CheckFunction | None, root: Path, symbol: str, model_type: str, version: str
) -> None:
    """Run ``check``; raise :class:`ValidationFailedError` naming its problems, if any."""
    if check is None:
        return
    refuse_problems(check(root, symbol, model_type, version), symbol, model_type, version)


def refuse_problems(problems: list[str], symbol: str, model_type: str, version: str) -> None:
    """Raise :class:`ValidationFailedError` naming ``problems``, if there are any."""
    if problems:
        raise ValidationFailedError(
            f"refusing to promote {symbol}/{model_type}/{version}: it fails validation: "
            + "; ".join(problems)
            + " (use --force to promote anyway)",
            problems,
        )


def seal_or_verify(
    root: Path,
    version_dir: Path,
    *,
    force: bool,
    evaluated: tuple[str, str] | None = None,
    seal: bool = True,
) -> None:
    """Under the promotion's lock: hash the version's files once, check that the model is the
    one evaluated, then seal an unsealed version (write ``manifest.json``) or check a sealed one
    against its manifest.

    Args:
        evaluated: ``(file name, sha256)`` of the model bytes validation and the gate ran on;
            the file on disk must still hold them, so that the manifest written and the
            evidence journaled are of the bytes promoted.
        seal: Write or check the manifest (else only the evaluated digest is checked).

    Raises:
        PromotionRefusedError: the model changed since it was evaluated, naming both digests
            (``force`` does not override: the evidence would not be of these bytes).
        ValidationFailedError: a sealed version's files changed since sealing, unless ``force``
            (then it is sealed again, and the promotion is journaled as forced).
    """
    from atb_prediction._core import check_seal

    if evaluated is None and not seal:
        return
    hashed = check_seal(version_dir, root)
    if evaluated is not None:
        name, digest = evaluated
        actual = hashed.digests.get(name)
        if actual != digest:
            now = f"sha256 {actual}" if actual is not None else "no such file"
            raise PromotionRefusedError(
                f"refusing to promote {version_dir}: {name} changed after it was evaluated: "
                f"{now} on disk, sha256 {digest} evaluated; evaluate it again"
            )
    if not seal:
        return
    changes = hashed.changes
    if changes and not force:
        raise ValidationFailedError(
            f"refusing to promote {version_dir}: its files differ from manifest.json: "
            + "; ".join(changes)
            + " (use --force to promote and seal it again)",
            changes,
        )
    if changes is None or changes:
        hashed.write()
