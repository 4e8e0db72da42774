"""Which remediation actions a finding offers, and which one is proposed by default (pure).

A finding's ``recommended_actions`` are its check's menu, declared on the check's registration
(``tasks.idle.rules_*``), safest first, ending with ``skip``, naming only registered actions
valid for the check's resource type (``tasks.remediation.actions``, checked when
``tasks.idle.checks`` loads).  The approval form offers exactly those, in that order; names that
are not on the check's menu (a finding stored by an older scan) are not offered, and a finding
that recommends nothing offers its check's whole menu.  The first entry
that is neither ``skip`` nor explicit-only is the default the form proposes.  Actions that
destroy without a way back (``terminate``) are explicit-only: they run only when a person picked
that very action, never as a default.  There is no second vocabulary and no alias table.
A protected resource (tag ``finops:protected=true``, or the scan's ``evidence["protected"]``:
:func:`protected_reason`) is offered ``skip`` alone, whatever it recommends.  A resource owned by
code (``code_owner``: ``terraform`` or ``cloudformation``, from :mod:`tasks.iac.ownership`) is
never changed through the API: it is offered ``open_pull_request`` (Terraform, when the check
has an HCL edit: :data:`tasks.iac.edits.CODE_EDITS`, or offers ``resize``), ``tag_for_later``
when its check offers it, and ``skip``.

Example:
    >>> menu_for("ebs-unattached", ["snapshot_and_delete", "delete", "tag_for_later", "skip"])
    ('snapshot_and_delete', 'delete', 'tag_for_later', 'skip')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tasks.iac.edits import CODE_EDITS
from tasks.iac.ownership import OPEN_PULL_REQUEST
from tasks.idle.checks import CHECKS
from tasks.remediation.actions.registry import ACTIONS, SKIP

#: What ``tag_for_later`` does when the mark falls due, per check that offers it (declared on
#: the check's registration; None: the mark only tells the owner).
FOLLOW_UP: dict[str, str | None] = {
    name: check.follow_up for name, check in CHECKS.items() if "tag_for_later" in check.actions
}


#: The tag that forbids changing a resource (the scan's default, ``FINOPS_IDLE__PROTECTED_TAG``).
PROTECTED_TAG = ("finops:protected", "true")


def protected_reason(
    tags: Mapping[str, str],
    evidence: Mapping[str, Any],
    recommended: Sequence[str] = (SKIP,),
    tag: tuple[str, str] = PROTECTED_TAG,
) -> str:
    """Why a finding's resource may not be changed, or "" when it may.

    The scan marks a protected resource (the configured tag) with ``evidence["protected"]`` and
    recommends only ``skip``; any stored finding that carries the tag is protected too, whatever
    it recommends (a finding made by hand or by an older scan), so the form never offers it a
    changing action.  The engine's re-check reads the resource's tags again before any change and
    skips one tagged since detection.  ``recommended`` is kept for callers; it no longer decides.

    Example:
        >>> protected_reason({"finops:protected": "TRUE"}, {}, ["skip"])
        'protected by tag finops:protected=true'
        >>> protected_reason({"finops:protected": "true"}, {}, ["snapshot_and_delete"])
        'protected by tag finops:protected=true'
        >>> protected_reason({}, {"protected": True}, ["skip"])
        'protected (the scan found its protected tag)'
        >>> protected_reason({"finops:protected": "false"}, {})
        ''
    """
    key, value = tag
    tagged = tags.get(key, "").lower() == value.lower()
    scanned = evidence.get("protected") is True
    if tagged:
        return f"protected by tag {key}={value}"
    if scanned:
        return "protected (the scan found its protected tag)"
    return ""


def menu_for(
    check: str, recommended: Sequence[str], protected: bool = False, code_owner: str = ""
) -> tuple[str, ...]:
    """The actions a finding of ``check`` may be approved for: its recommended ones that are on
    the check's menu (registered actions), in the finding's order, then ``skip``; a protected
    resource's menu is ``skip`` alone; a code-owned one's is the code path (see the module).

    Example:
        >>> menu_for("ec2-idle", ["stop", "terminate"])
        ('stop', 'terminate', 'skip')
        >>> menu_for("rds-idle", ["snapshot_and_delete", "stop", "skip"])  # not RDS actions
        ('skip',)
        >>> menu_for("made-up-check", ["nonsense"])
        ('skip',)
        >>> menu_for("ebs-unattached", [])  # recommends nothing: the check's whole menu
        ('snapshot_and_delete', 'delete', 'tag_for_later', 'skip')
        >>> menu_for("ebs-unattached", ["snapshot_and_delete"], protected=True)
        ('skip',)
        >>> menu_for("ebs-unattached", ["snapshot_and_delete"], code_owner="terraform")
        ('open_pull_request', 'tag_for_later', 'skip')
        >>> menu_for("ebs-gp2", ["modify_to_gp3"], code_owner="cloudformation")
        ('skip',)
    """
    if protected:
        return (SKIP,)
    if code_owner:
        check_menu = CHECKS[check].actions if check in CHECKS else ()
        # a resize is an instance type change in code (the finding's evidence names the type)
        editable = check in CODE_EDITS or "resize" in check_menu
        code = (OPEN_PULL_REQUEST,) if code_owner == "terraform" and editable else ()
        later = ("tag_for_later",) if "tag_for_later" in check_menu else ()
        return (*code, *later, SKIP)
    check_menu = CHECKS[check].actions if check in CHECKS else ()
    # A finding that recommends nothing (built by hand, or imported) offers its check's menu.
    chosen = recommended if any(a != SKIP for a in recommended) else check_menu
    return (*(a for a in chosen if a != SKIP and a in check_menu and a in ACTIONS), SKIP)


def default_action(
    check: str, recommended: Sequence[str], protected: bool = False, code_owner: str = ""
) -> str:
    """The action the form proposes: the first on the menu that is not explicit-only; else skip
    (always skip for a protected resource; the pull request for a Terraform-owned one).

    Example:
        >>> default_action("ec2-stopped", ["tag_for_later", "terminate", "skip"])
        'tag_for_later'
        >>> default_action("ec2-idle", ["stop"], protected=True)
        'skip'
    """
    for action in menu_for(check, recommended, protected, code_owner):
        if action == OPEN_PULL_REQUEST:
            return action
        if action != SKIP and not ACTIONS[action].explicit_only:
            return action
    return SKIP


def is_actionable(check: str, recommended: Sequence[str], code_owner: str = "") -> bool:
    """Whether the menu holds anything besides ``skip``.

    Example:
        >>> is_actionable("unknown-check", [])
        False
    """
    return any(a != SKIP for a in menu_for(check, recommended, code_owner=code_owner))


__all__ = [
    "FOLLOW_UP",
    "OPEN_PULL_REQUEST",
    "PROTECTED_TAG",
    "SKIP",
    "default_action",
    "is_actionable",
    "menu_for",
    "protected_reason",
]
