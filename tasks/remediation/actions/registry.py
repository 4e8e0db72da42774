"""The one action registry: every remediation action, registered beside its function.

An action declares its name, the resource types it applies to (as checks name them, e.g.
``ec2:volume``), the states it may start from (the engine checks them once, before the action
runs: a resource already in one of ``done_states`` counts as done, one outside ``valid_states``
is skipped with the reason), its IAM permissions (the Terraform remediation policy is compared
with :func:`required_permissions`), whether it can be undone or takes a backup first, and
whether only an explicit choice by name may run it.  Checks' menus name only these actions
(:func:`validate_menu`, called when ``tasks.idle.checks`` loads).

Pure: no boto3.  Importing ``tasks.remediation.actions`` registers every action.

Example:
    >>> from tasks.remediation.actions import ACTIONS
    >>> ACTIONS["terminate"].explicit_only, "stop" in safe_actions()
    (True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tasks.findings.model import Finding

#: Tag written on backups so a rerun finds the backup it made before a crash.
BACKUP_TAG = "finops:backup-of"
#: Tag that marks a resource for a later action: value ``<action>@<YYYY-MM-DD>``.
MARK_TAG = "finops:action-due"
SKIP = "skip"


class Skip(Exception):
    """The resource changed since detection (or is protected): leave it, say why."""


class AlreadyDone(Exception):
    """The resource is already in the state the action would leave it in."""


class Finished(Exception):
    """An earlier attempt already finished the action; ``outcome`` says what it did."""

    def __init__(self, outcome: ActionOutcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


@dataclass
class ActionContext:
    """What an action needs: clients, the finding, the mode, and a place for checkpoints.

    Attributes:
        finding: the finding as detected.
        client: ``client(service)`` returns a boto3 client for the finding's account and region.
        dry_run: send writes with ``DryRun=True`` (or only read, where the API has no dry run).
        protected_tag: ``(key, value)`` of the tag that forbids remediation.
        checkpoints: intermediate results of an earlier attempt (backup ids).
        save_checkpoint: persists one checkpoint as soon as it exists.
        mark_days: days until a ``tag_for_later`` mark falls due.
        busy_cpu_pct: an instance whose hourly CPU average went above this since detection is
            busy again and is skipped.
        now: the action time (UTC).
    """

    finding: Finding
    client: Callable[[str], Any]
    dry_run: bool = True
    protected_tag: tuple[str, str] = ("finops:protected", "true")
    checkpoints: dict[str, Any] = field(default_factory=dict)
    save_checkpoint: Callable[[str, Any], None] = lambda name, value: None
    mark_days: int = 7
    busy_cpu_pct: float = 10.0
    follow_up: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    request_ids: list[str] = field(default_factory=list)
    proven: list[str] = field(default_factory=list)

    def checkpoint(self, name: str, value: Any) -> None:
        self.checkpoints[name] = value
        self.save_checkpoint(name, value)


@dataclass
class ActionOutcome:
    """What an action did: ``succeeded`` (or ``dry_run``), with before/after and backups."""

    result: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    backup_ids: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    due_at: datetime | None = None


#: ``read(ctx)``: the resource now, as ``{"state": ..., "tags": {...}, ...}``; AlreadyDone if gone.
Read = Callable[[ActionContext], dict[str, Any]]
#: ``apply(ctx, before)``: act on a resource whose state the engine has checked.
Apply = Callable[[ActionContext, dict[str, Any]], ActionOutcome]


@dataclass(frozen=True)
class ActionSpec:
    """A registered action (see the module docstring)."""

    name: str
    apply: Apply
    read: Read
    noun: str
    resource_types: tuple[str, ...]
    valid_states: frozenset[str]
    done_states: frozenset[str]
    permissions: tuple[str, ...]
    description: str
    reversible: bool = False
    backup: bool = False
    explicit_only: bool = False
    note: str = ""
    #: Resource-id prefixes this action works on; ``checks``: checks whose findings it applies
    #: to whatever their resource id looks like (load balancers and DB instances are named).
    resource_prefixes: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    #: Says why a state is not a valid start (default: the state's name).
    explain: Callable[[dict[str, Any]], str] | None = None

    def applies_to(self, finding: Finding) -> bool:
        """Whether this action can be carried out on the finding's resource.

        Example:
            >>> ACTIONS["stop"].applies_to(finding)  # doctest: +SKIP
            True
        """
        return finding.check in self.checks or finding.resource_id.startswith(
            self.resource_prefixes
        )

    @property
    def safe(self) -> bool:
        """Reversible, or done with a backup first, and not explicit-only (what the demo may
        approve on its own)."""
        return (self.reversible or self.backup) and not self.explicit_only


ACTIONS: dict[str, ActionSpec] = {}


def register_action(
    name: str,
    *,
    read: Read,
    noun: str,
    resource_types: Iterable[str],
    permissions: Iterable[str],
    description: str,
    valid_states: Iterable[str] = (),
    done_states: Iterable[str] = (),
    reversible: bool = False,
    backup: bool = False,
    explicit_only: bool = False,
    note: str = "",
    resource_prefixes: Iterable[str] = (),
    checks: Iterable[str] = (),
    explain: Callable[[dict[str, Any]], str] | None = None,
) -> Callable[[Apply], Apply]:
    """Register an action function (decorator); empty ``valid_states`` means any state."""

    def decorate(apply: Apply) -> Apply:
        if name in ACTIONS or name == SKIP:
            raise ValueError(f"action {name!r} is registered twice (or is 'skip')")
        perms = tuple(sorted(set(permissions)))
        if not perms:
            raise ValueError(f"action {name!r}: declare the IAM permissions it needs")
        ACTIONS[name] = ActionSpec(
            name=name,
            apply=apply,
            read=read,
            noun=noun,
            resource_types=tuple(resource_types),
            valid_states=frozenset(valid_states),
            done_states=frozenset(done_states),
            permissions=perms,
            description=description,
            reversible=reversible,
            backup=backup,
            explicit_only=explicit_only,
            note=note,
            resource_prefixes=tuple(resource_prefixes),
            checks=tuple(checks),
            explain=explain,
        )
        return apply

    return decorate


def safe_actions() -> frozenset[str]:
    """Names of the actions that are reversible or take a backup first (never explicit-only).

    Example:
        >>> from tasks.remediation.actions import ACTIONS
        >>> sorted(safe_actions())  # doctest: +NORMALIZE_WHITESPACE
        ['add_abort_multipart_rule', 'modify_to_gp3', 'snapshot_and_delete', 'stop',
         'stop_db_instance', 'stop_with_image', 'tag_for_later']
    """
    return frozenset(n for n, spec in ACTIONS.items() if spec.safe)


def explicit_actions() -> frozenset[str]:
    """Names of the actions only an explicit choice by name may run (``terminate``)."""
    return frozenset(n for n, spec in ACTIONS.items() if spec.explicit_only)


def required_permissions() -> list[str]:
    """Every IAM action the remediation actions call, sorted (the Terraform policy's list).

    Example:
        >>> from tasks.remediation.actions import ACTIONS
        >>> "ec2:DeleteVolume" in required_permissions()
        True
    """
    return sorted({p for spec in ACTIONS.values() for p in spec.permissions})


def validate_menu(check: str, resource_type: str, menu: Sequence[str]) -> None:
    """Refuse a check's menu unless it names registered actions for its type, ending with skip.

    Raises:
        ValueError: one line naming the check and the wrong action.
    """
    if not menu or menu[-1] != SKIP:
        raise ValueError(f"check {check!r}: its action menu {list(menu)} must end with 'skip'")
    for name in menu[:-1]:
        spec = ACTIONS.get(name)
        if spec is None:
            raise ValueError(
                f"check {check!r} offers {name!r}, which is not a registered action; "
                f"choose from {', '.join(sorted(ACTIONS))}"
            )
        if resource_type not in spec.resource_types:
            raise ValueError(
                f"check {check!r} offers {name!r} for {resource_type}, but {name!r} applies "
                f"to {', '.join(spec.resource_types)}"
            )
