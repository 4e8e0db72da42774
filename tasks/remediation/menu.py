"""Which remediation actions each check offers, and which one is proposed by default (pure).

A finding's ``recommended_actions`` (set by its check, in its order of preference) narrows the
menu when the check's first choice can be carried out here; when it cannot (``rds-idle``
recommends ``snapshot_and_delete`` first, which this package does not do), the recommendations
are not usable and the whole menu is offered.  The first entry that is neither ``skip`` nor
explicit-only is the default the approval form proposes.  Actions that
destroy without a way back (``terminate``) are explicit-only: they run only when a person picked
that very action, never as a default.

Example:
    >>> menu_for("ebs-unattached", [])
    ('snapshot_and_delete', 'delete', 'tag_for_later', 'skip')
"""

from __future__ import annotations

from collections.abc import Sequence

SKIP = "skip"

#: Actions offered per check, safest first.  The first non-skip, non-explicit one is the default.
ACTION_MENUS: dict[str, tuple[str, ...]] = {
    "ec2-idle": ("stop", "stop_with_image", "tag_for_later", "terminate", SKIP),
    "ec2-stopped": ("tag_for_later", "terminate", SKIP),
    "ebs-unattached": ("snapshot_and_delete", "delete", "tag_for_later", SKIP),
    "ebs-gp2": ("modify_to_gp3", SKIP),
    "ebs-idle": ("tag_for_later", SKIP),
    "snapshot-stale": ("delete_snapshot", "tag_for_later", SKIP),
    "eip-unassociated": ("release", SKIP),
    "elb-idle": ("tag_for_later", SKIP),
    "nat-idle": ("tag_for_later", SKIP),
    "rds-idle": ("tag_for_later", "stop_db_instance", SKIP),
    "s3-stale-multipart": ("add_abort_multipart_rule", SKIP),
}

#: Actions that are never proposed by default; a person must choose them by name.
EXPLICIT_ONLY: frozenset[str] = frozenset({"terminate"})

#: What ``tag_for_later`` does when the mark falls due (None: the mark only tells the owner).
FOLLOW_UP: dict[str, str | None] = {
    "ec2-idle": "stop",
    "ec2-stopped": None,
    "ebs-unattached": "snapshot_and_delete",
    "ebs-idle": None,
    "snapshot-stale": "delete_snapshot",
    "elb-idle": None,
    "nat-idle": None,
    "rds-idle": "stop_db_instance",
}

#: What the approver should know about an action before choosing it (shown in the preview).
ACTION_NOTES: dict[str, str] = {
    "stop_db_instance": "RDS starts a stopped DB instance again by itself after 7 days; the "
    "saving lasts a week unless it is stopped again or removed.",
    "tag_for_later": "tags the resource `finops:action-due=<action>@<date>`; when due, a later "
    "run carries out the action (or, with `review`, offers the finding again), and removes the "
    "tag if the resource is used again first.",
}


#: Names the checks use for an action this package implements under another name.
ALIASES: dict[tuple[str, str], str] = {
    ("ec2-idle", "snapshot_and_terminate"): "terminate",  # terminate images the instance first
    ("ec2-stopped", "snapshot_and_terminate"): "terminate",
    ("s3-stale-multipart", "abort_uploads_and_add_lifecycle_rule"): "add_abort_multipart_rule",
    ("snapshot-stale", "delete"): "delete_snapshot",
    ("rds-idle", "stop"): "stop_db_instance",
}


def menu_for(check: str, recommended: Sequence[str]) -> tuple[str, ...]:
    """The actions a finding of ``check`` may be approved for, in menu order.

    Args:
        check: the finding's check name.
        recommended: the finding's ``recommended_actions``, the check's preference first; when
            its first choice (under its own name or an alias) is on the check's menu, only the
            recommended actions the menu knows are offered, plus ``skip``; otherwise the check's
            whole menu is offered.

    Returns:
        The menu; ``('skip',)`` when nothing can be done automatically.

    Example:
        >>> menu_for("ec2-idle", ["stop", "terminate"])
        ('stop', 'terminate', 'skip')
        >>> menu_for("rds-idle", ["snapshot_and_delete", "stop", "skip"])
        ('tag_for_later', 'stop_db_instance', 'skip')
    """
    menu = ACTION_MENUS.get(check, (SKIP,))
    wanted = [ALIASES.get((check, a), a) for a in recommended if a != SKIP]
    if wanted and wanted[0] in menu:
        return (*(a for a in menu if a in set(wanted) and a != SKIP), SKIP)
    return menu


def default_action(check: str, recommended: Sequence[str]) -> str:
    """The action the form proposes for a finding: safe, never explicit-only; ``skip`` if none.

    Example:
        >>> default_action("ec2-stopped", [])
        'tag_for_later'
    """
    for action in menu_for(check, recommended):
        if action != SKIP and action not in EXPLICIT_ONLY:
            return action
    return SKIP


def is_actionable(check: str, recommended: Sequence[str]) -> bool:
    """Whether the menu holds anything besides ``skip``.

    Example:
        >>> is_actionable("unknown-check", [])
        False
    """
    return any(a != SKIP for a in menu_for(check, recommended))
