"""The remediation actions, one module per resource, and their registry.

Every action follows one shape (after Cloud Custodian's actions):

1. ``read``: the resource now.  A resource that is gone counts as "already done".
2. The engine (``tasks.remediation.engine.carry_out``) checks, once for every action, the
   protected tag and the action's valid starting states; a resource already in the end state is
   "already done", which counts as success.
3. ``apply``: re-check what changed since detection (busy again, attached again), then act.  In
   dry-run (the default) each write is sent with ``DryRun=True`` where the API has it: AWS
   answers ``DryRunOperation`` when the call *would* succeed, which also proves the role has
   the permission.  S3, Elastic Load Balancing (tags) and RDS (tags, ``StopDBInstance``) have no
   dry run: there the dry run reads the resource, reports ``dry_run`` with what it would write,
   and writes nothing.  Backup ids (snapshot, image) are saved as checkpoints the moment AWS
   returns them, so a rerun after a crash reuses them rather than taking a second backup.

Importing this package registers every action in :data:`ACTIONS`.
"""

from __future__ import annotations

from tasks.aws.common import error_code
from tasks.remediation.actions.ebs import (
    apply_delete_snapshot,
    apply_delete_volume,
    apply_modify_to_gp3,
    apply_snapshot_and_delete_volume,
    gp3_target,
)
from tasks.remediation.actions.ec2 import (
    apply_stop_instance,
    apply_stop_with_image,
    apply_terminate_instance,
)
from tasks.remediation.actions.network import apply_release_address
from tasks.remediation.actions.rds import RDS_AUTO_START_DAYS, apply_stop_db_instance
from tasks.remediation.actions.registry import (
    ACTIONS,
    BACKUP_TAG,
    MARK_TAG,
    SKIP,
    ActionContext,
    ActionOutcome,
    ActionSpec,
    AlreadyDone,
    Finished,
    Skip,
    explicit_actions,
    register_action,
    required_permissions,
    safe_actions,
    validate_menu,
)
from tasks.remediation.actions.resize import apply_modify_volume, apply_resize
from tasks.remediation.actions.s3 import ABORT_RULE_ID, apply_abort_multipart_rule
from tasks.remediation.actions.tagging import (
    EC2_TAGGABLE,
    TAGGABLE_CHECKS,
    apply_tag_for_later,
    remove_mark,
)

__all__ = [
    "ABORT_RULE_ID",
    "ACTIONS",
    "BACKUP_TAG",
    "EC2_TAGGABLE",
    "MARK_TAG",
    "RDS_AUTO_START_DAYS",
    "SKIP",
    "TAGGABLE_CHECKS",
    "ActionContext",
    "ActionOutcome",
    "ActionSpec",
    "AlreadyDone",
    "Finished",
    "Skip",
    "apply_abort_multipart_rule",
    "apply_delete_snapshot",
    "apply_delete_volume",
    "apply_modify_to_gp3",
    "apply_modify_volume",
    "apply_release_address",
    "apply_resize",
    "apply_snapshot_and_delete_volume",
    "apply_stop_db_instance",
    "apply_stop_instance",
    "apply_stop_with_image",
    "apply_tag_for_later",
    "apply_terminate_instance",
    "error_code",
    "explicit_actions",
    "gp3_target",
    "register_action",
    "remove_mark",
    "required_permissions",
    "safe_actions",
    "validate_menu",
]
