"""``promote``, ``rollback`` and ``history``: the lock, the write-ahead journal and the swap put
together, with the policy checked first."""

from __future__ import annotations

import getpass
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atb_prediction.promotion import _steps, journal
from atb_prediction.promotion.exceptions import PromotionRefusedError
from atb_prediction.promotion.files import (
    JOURNAL_NAME,
    check_name,
    model_type_dir,
    registry_folder,
)
from atb_prediction.promotion.gate import GateLike, refusal
from atb_prediction.promotion.journal import Action, PromotionRecord
from atb_prediction.promotion.lock import locked
from atb_prediction.promotion.policy import (
    CheckFunction,
    default_check,
    refuse_problems,
    seal_or_verify,
)
from atb_prediction.promotion.swap import (
    read_pointer,
    remove_stale_temporaries,
    swap_latest,
    temporary_path,
)

if TYPE_CHECKING:
    from atb_prediction._core import LoadedBundle, RegistryIndex

__all__ = [
    "Candidate",
    "PromotionResult",
    "current_version",
    "evaluate_candidate",
    "history",
    "promote",
    "rollback",
    "rollback_target",
    "run_gate",
]


@dataclass(frozen=True, slots=True)
class PromotionResult:
    """What :func:`promote` or :func:`rollback` did."""

    record: PromotionRecord
    """The journal line written, or the one that would have been written when nothing changed."""
    changed: bool
    """False when the version already was production (nothing switched, nothing journaled)."""


def current_version(root: str | os.PathLike[str], symbol: str, model_type: str) -> str | None:
    """The version ``SYMBOL/MODEL_TYPE/latest`` names, or ``None`` when there is no ``latest``.

    Raises:
        PromotionRefusedError: ``latest`` is a real directory or an unreadable pointer file.
    """
    return read_pointer(model_type_dir(root, symbol, model_type))[0]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # A container user without a passwd entry and without USER/LOGNAME set.
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


_ANY = object()


@dataclass(frozen=True)
class Candidate:
    """A version as a promotion evaluates it: opened once, through the command's index."""

    bundle: LoadedBundle | None
    """The bundle validation ran on and a gate sweeps; ``None`` when nothing needed it opened
    (a forced promotion without a gate, a custom check) or it does not open."""
    problems: list[str]
    """Why it fails validation (empty when valid, or when validation was skipped)."""
    index: RegistryIndex | None
    """The scan it was opened through, for the production version to be opened from too."""

    @property
    def evaluated(self) -> tuple[str, str] | None:
        """``(model file name, sha256)`` of the bytes evaluated, which the file must still hold
        under the promotion's lock; ``None`` when nothing was evaluated."""
        if self.bundle is None:
            return None
        return Path(self.bundle.model_path).name, self.bundle.model_sha256


def evaluate_candidate(
    root: str | os.PathLike[str],
    symbol: str,
    model_type: str,
    version: str,
    *,
    check: CheckFunction | None = default_check,
    force: bool = False,
    for_gate: bool = False,
    index: RegistryIndex | None = None,
) -> Candidate:
    """Open and validate ``version`` as :func:`promote` does, switching nothing.

    With the default check (and not ``force``), the version is opened once through ``index``
    (scanned from ``root`` when not given) and validated on that session; a gate (``for_gate``)
    needs it opened even when validation is skipped. A custom ``check`` is called as it is.

    Raises:
        ModelLoadError: ``for_gate`` and the version does not open (or the scan skipped it).
    """
    from atb_prediction.models.opening import open_versions
    from atb_prediction.models.scanning import scan_registry
    from atb_prediction.models.validation import check_opened

    validating = check is not None and not force
    if (validating and check is default_check) or for_gate:
        if index is None:
            index = scan_registry(os.fspath(root), only=(symbol, model_type))
    bundle: LoadedBundle | None = None
    problems: list[str] = []
    if validating and check is default_check:
        assert index is not None
        report, bundle = check_opened(index, symbol, model_type, version)
        problems = list(report.problems)
    elif validating:
        assert check is not None
        problems = check(Path(root), symbol, model_type, version)
    if for_gate and bundle is None and not problems:
        assert index is not None
        bundle = open_versions(index, symbol, model_type, [version])[0]
    return Candidate(bundle=bundle, problems=problems, index=index)


def run_gate(
    gate: GateLike, candidate: Candidate, symbol: str, model_type: str, production: str | None
) -> dict[str, Any]:
    """The gate's evidence for ``candidate`` against ``production``, each opened once through
    the candidate's index; the gate sweeps those bundles' bytes."""
    from atb_prediction.models.opening import open_versions

    assert candidate.bundle is not None and candidate.index is not None
    incumbent = None
    if production is not None and production != candidate.bundle.version_id:
        (incumbent,) = open_versions(candidate.index, symbol, model_type, [production])
    return gate.evaluate_bundles(candidate.bundle, incumbent)


def _promote(
    root: str | os.PathLike[str],
    symbol: str,
    model_type: str,
    version: str,
    *,
    action: Action,
    reason: str | None,
    force: bool,
    user: str | None,
    host: str | None,
    lock_timeout: float,
    seal: bool,
    evaluated: tuple[str, str] | None,
    expected_current: object = _ANY,
    gate: dict[str, Any] | None = None,
) -> PromotionResult:
    target = registry_folder(
        root, ("symbol", symbol), ("model type", model_type), ("version", version)
    )
    directory = target.parent
    real_root = Path(root).resolve()
    host = host if host is not None else socket.gethostname()
    user = user if user is not None else _default_user()
    with locked(directory, lock_timeout, host):
        _steps.reached("locked")
        remove_stale_temporaries(directory)
        previous, form = read_pointer(directory)
        journal.settle_intent(directory, previous)
        if expected_current is not _ANY and previous != expected_current:
            raise PromotionRefusedError(
                f"{symbol}/{model_type} changed while the {action} was prepared "
                f"(production is now {previous!r}); run it again"
            )
        record = PromotionRecord(
            time=_now(),
            action=action,
            symbol=symbol,
            model_type=model_type,
            from_version=previous,
            to_version=version,
            user=user,
            host=host,
            reason=reason,
            forced=force,
            id=secrets.token_hex(8),
            gate=gate,
        )
        # The line the reader would skip is refused before anything changes.
        journal.encode(record)
        seal_or_verify(real_root, target, force=force, evaluated=evaluated, seal=seal)
        if previous == version:
            if form == "file":
                # Same version, but store it as the symlink that upstream's loader follows.
                swap_latest(directory, version)
            return PromotionResult(record=record, changed=False)
        # Write-ahead: the intent is durable before the switch, so a kill after the switch
        # still leaves a record of it (see `journal`).
        journal.check_writable(directory)
        journal.write_intent(directory, record, temporary_path(directory))
        swap_latest(directory, version)
        journal.append(directory, record)
        journal.clear_intent(directory)
    return PromotionResult(record=record, changed=True)


def _check_request(
    root: str | os.PathLike[str], symbol: str, model_type: str, version: str, action: Action,
    reason: str | None,
) -> None:  # fmt: skip
    """What is refused before any work: unsafe names, a missing version, a ``latest`` that is a
    real directory, a reason longer than the journal can hold."""
    check_name("symbol", symbol)
    check_name("model type", model_type)
    check_name("version", version)
    target = registry_folder(
        root, ("symbol", symbol), ("model type", model_type), ("version", version)
    )
    # Read before validating: a `latest` directory is refused at once, not after a slow check.
    read_pointer(target.parent)
    journal.encode(
        PromotionRecord(
            time=_now(), action=action, symbol=symbol, model_type=model_type,
            from_version=None, to_version=version, user="", host="", reason=reason,
            forced=False,
        )
    )  # fmt: skip


def promote(
    root: str | os.PathLike[str],
    symbol: str,
    model_type: str,
    version: str,
    *,
    reason: str | None = None,
    force: bool = False,
    user: str | None = None,
    host: str | None = None,
    lock_timeout: float = 30.0,
    check: CheckFunction | None = default_check,
    seal: bool = True,
    gate: GateLike | None = None,
    index: RegistryIndex | None = None,
) -> PromotionResult:
    """Make ``version`` the production version of ``SYMBOL/MODEL_TYPE``.

    The version must exist and, unless ``force``, pass ``check`` (by default the full
    validation of :func:`atb_prediction.models.validation.check_opened`, on the version opened
    once through ``index``). ``latest`` is then switched atomically under the model type's lock
    and the change is journaled (write-ahead: the intent is fsynced before the switch).
    Promoting the current production version changes nothing and writes no journal line.

    Whatever evaluated the version (validation, a gate) ran on the bytes read once: under the
    lock, the model file must still hold those bytes (their sha256), and the manifest sealed
    records them; a file replaced in between is refused, naming both digests.

    Args:
        root: The registry root.
        symbol: Symbol folder, e.g. ``BTCUSDT``.
        model_type: Model-type folder, e.g. ``basic``.
        version: Version folder to promote.
        reason: Free text for the journal.
        force: Skip validation and accept a changed sealed bundle (recorded in the journal).
        user: Who promotes; defaults to the login name.
        host: Where from; defaults to the host name.
        lock_timeout: Seconds to wait for a concurrent promotion to finish.
        check: Validation hook; ``None`` skips validation without marking the record forced.
        seal: Write the version's ``manifest.json`` when it has none, and refuse a version whose
            files differ from the one it has (unless ``force``).
        gate: Evidence to win first, usually an :class:`atb_prediction.backtest.Gate`: the
            version and the current production, each opened once through ``index``, are swept
            over its bars and compared, and unless the gate passes the promotion is refused
            (``force`` overrides). The evidence goes into the journal line (``record.gate``),
            passed or forced. Production must not change while the gate runs.
        index: The registry's scan, when the caller has one (else one is made when needed).

    Raises:
        VersionNotFoundError: the registry, model type or version does not exist.
        ValidationFailedError: the version fails validation, or its files differ from its
            manifest, and ``force`` is false.
        GateRefusedError: the gate refuses the version, and ``force`` is false
            (``error.evidence`` holds the evidence).
        PromotionRefusedError: ``latest`` is a real directory or not a pointer, a name is unsafe,
            the lock, journal or intent file is a planted symlink or not a regular file, the
            journal line would be longer than its reader takes, or the model changed after it
            was evaluated.
        LockTimeoutError: another promotion held the lock for ``lock_timeout`` seconds.
        OSError: the filesystem refused a write; ``latest`` is then unchanged or fully switched.
    """
    _check_request(root, symbol, model_type, version, "promote", reason)
    candidate = evaluate_candidate(
        root, symbol, model_type, version,
        check=check, force=force, for_gate=gate is not None, index=index,
    )  # fmt: skip
    if not force:
        refuse_problems(candidate.problems, symbol, model_type, version)
    evidence = None
    expected: object = _ANY
    if gate is not None:
        expected = current_version(root, symbol, model_type)
        incumbent = expected if isinstance(expected, str) else None
        evidence = run_gate(gate, candidate, symbol, model_type, incumbent)
        if not evidence["passed"] and not force:
            raise refusal(evidence)
    return _promote(
        root,
        symbol,
        model_type,
        version,
        action="promote",
        reason=reason,
        force=force,
        user=user,
        host=host,
        lock_timeout=lock_timeout,
        seal=seal,
        evaluated=candidate.evaluated,
        expected_current=expected,
        gate=evidence,
    )


def history(root: str | os.PathLike[str], symbol: str, model_type: str) -> list[PromotionRecord]:
    """The journal of ``SYMBOL/MODEL_TYPE``, oldest first; empty when nothing was promoted.

    A line that does not parse (cut short by a crash, edited by hand, absurdly long or nested)
    is skipped with one logged warning per file rather than hiding the rest of the history. A
    promotion killed after switching ``latest`` but before journaling is included (from its
    write-ahead intent), so no switch is missing.

    Raises:
        PromotionRefusedError: the journal is a symlink or not a regular file.
    """
    directory = model_type_dir(root, symbol, model_type)
    records = journal.read_journal(directory)
    intent = journal.read_intent(directory)
    if intent is None:
        return records
    return journal.reconciled(records, intent, read_pointer(directory)[0])


def rollback_target(root: str | os.PathLike[str], symbol: str, model_type: str) -> str:
    """The version a rollback of ``SYMBOL/MODEL_TYPE`` would promote: the one before the current.

    The journal is read as a stack: a promotion pushes the version it replaced, a rollback pops
    one, so successive rollbacks walk back through the history instead of toggling between two
    versions. When ``latest`` no longer names the journal's last target (changed by hand), that
    last target is the version before the current one.

    Raises:
        PromotionRefusedError: no earlier version is recorded.
    """
    directory = model_type_dir(root, symbol, model_type)
    current, _ = read_pointer(directory)
    records = history(root, symbol, model_type)
    if records and records[-1].to_version != current:
        candidate: str | None = records[-1].to_version
    else:
        stack: list[str | None] = []
        for record in records:
            if record.action == "rollback":
                if stack:
                    stack.pop()
            else:
                stack.append(record.from_version)
        candidate = stack[-1] if stack else None
    if candidate is None or candidate == current:
        raise PromotionRefusedError(
            f"nothing to roll back to: {directory / JOURNAL_NAME} records no version before "
            f"{current!r}"
        )
    return candidate


def rollback(
    root: str | os.PathLike[str],
    symbol: str,
    model_type: str,
    *,
    to: str | None = None,
    reason: str | None = None,
    force: bool = False,
    user: str | None = None,
    host: str | None = None,
    lock_timeout: float = 30.0,
    check: CheckFunction | None = default_check,
    seal: bool = True,
) -> PromotionResult:
    """Promote ``SYMBOL/MODEL_TYPE`` back to the version before the current one (or to ``to``).

    The target is :func:`rollback_target`; the switch goes through the same validation, lock,
    atomic rename and journal as :func:`promote`, with action ``rollback``. Should another
    promotion land between choosing the target and taking the lock, the rollback is refused
    rather than undoing the wrong change.

    Raises:
        PromotionRefusedError: nothing to roll back to, or the registry changed meanwhile; and
            everything :func:`promote` raises.
    """
    directory = model_type_dir(root, symbol, model_type)
    current, _ = read_pointer(directory)
    target = to if to is not None else rollback_target(root, symbol, model_type)
    _check_request(root, symbol, model_type, target, "rollback", reason)
    candidate = evaluate_candidate(root, symbol, model_type, target, check=check, force=force)
    if not force:
        refuse_problems(candidate.problems, symbol, model_type, target)
    return _promote(
        root,
        symbol,
        model_type,
        target,
        action="rollback",
        reason=reason,
        force=force,
        user=user,
        host=host,
        lock_timeout=lock_timeout,
        seal=seal,
        evaluated=candidate.evaluated,
        expected_current=current,
    )
