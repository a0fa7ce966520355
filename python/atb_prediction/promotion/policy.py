"""What a version must satisfy before it is promoted, and what promoting it adds to it.

Kept apart from the mechanics (lock, journal, swap) so that the rules can grow without touching
them: today a validation check (by default the full ``atb models validate`` of the version) and
the integrity manifest, which a promotion writes when the version has none and checks when it
has one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from atb_prediction.promotion.exceptions import ValidationFailedError

__all__ = ["CheckFunction", "default_check", "require_valid", "seal_or_verify"]

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
    problems = check(root, symbol, model_type, version)
    if problems:
        raise ValidationFailedError(
            f"refusing to promote {symbol}/{model_type}/{version}: it fails validation: "
            + "; ".join(problems)
            + " (use --force to promote anyway)",
            problems,
        )


def seal_or_verify(root: Path, version_dir: Path, *, force: bool) -> None:
    """Seal an unsealed version (write ``manifest.json``); check a sealed one against it.

    Raises:
        ValidationFailedError: a sealed version's files changed since sealing, unless ``force``
            (then it is sealed again, and the promotion is journaled as forced).
    """
    from atb_prediction._core import seal_bundle, verify_bundle

    changes = verify_bundle(version_dir, root)
    if changes and not force:
        raise ValidationFailedError(
            f"refusing to promote {version_dir}: its files differ from manifest.json: "
            + "; ".join(changes)
            + " (use --force to promote and seal it again)",
            changes,
        )
    if changes is None or changes:
        seal_bundle(version_dir, root)
