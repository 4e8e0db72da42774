"""The IAM actions the code declares, collected per policy the Terraform grants.

Each capability declares what its adapters call, next to the code (``IAM_PERMISSIONS`` or a
registry); this module only gathers them.  ``infra/modules/iam`` grants exactly these sets, and
``tests/test_infra_iam.py`` compares the two: nothing the code needs is missing, nothing unused
is granted.

* ``scan``: read-only AWS APIs across the organisation (idle checks, Cost Explorer, Budgets,
  account and region discovery, prices).
* ``pipeline``: the project's own resources (cost-store and audit buckets, the SNS summary,
  the Bedrock day summary, reading the data export).
* ``remediation``: the approved actions, which Terraform conditions on tags.
"""

from __future__ import annotations

from tasks.anomalies import aws_cad, budget
from tasks.commitments import aws as commitments
from tasks.costs import athena, cost_explorer, export, store
from tasks.iac import state as iac_state
from tasks.idle.checks import IAM_READ_PERMISSIONS
from tasks.notify import bedrock, sns
from tasks.remediation import audit
from tasks.remediation.actions import required_permissions

POLICIES = ("scan", "pipeline", "remediation")

#: The buckets and the topic are SSE-KMS encrypted (infra/), so every S3 read and write and
#: every SNS publish the pipeline makes also uses the project key on the caller's behalf.
KMS_FOR_ENCRYPTED_STORES: tuple[str, ...] = ("kms:Decrypt", "kms:GenerateDataKey")


def declared_permissions() -> dict[str, frozenset[str]]:
    """The IAM actions per policy, as the code declares them.

    Example:
        >>> "ec2:DescribeVolumes" in declared_permissions()["scan"]
        True
    """
    return {
        "scan": frozenset(
            IAM_READ_PERMISSIONS
            | set(cost_explorer.IAM_PERMISSIONS)
            | set(budget.IAM_PERMISSIONS)
            | set(aws_cad.READ_PERMISSIONS)
            # commitments.PURCHASE_PERMISSIONS stay out: buying is opt-in and granted by hand
            | set(commitments.IAM_PERMISSIONS)
        ),
        "pipeline": frozenset(
            set(store.IAM_PERMISSIONS)
            | set(audit.IAM_PERMISSIONS)
            | set(export.IAM_PERMISSIONS)
            | set(athena.IAM_PERMISSIONS)
            | set(aws_cad.FEEDBACK_PERMISSIONS)
            | set(iac_state.IAM_PERMISSIONS)
            | set(sns.IAM_PERMISSIONS)
            | set(bedrock.IAM_PERMISSIONS)
            | set(KMS_FOR_ENCRYPTED_STORES)
        ),
        "remediation": frozenset(required_permissions()),
    }


def is_read_only(action: str) -> bool:
    """Whether an IAM action only reads (by AWS's verb naming).

    Example:
        >>> is_read_only("ec2:DescribeVolumes"), is_read_only("ec2:DeleteVolume")
        (True, False)
    """
    verb = action.split(":", 1)[1]
    # sts:AssumeRole only obtains the member role's (read-only) credentials.
    return action == "sts:AssumeRole" or verb.startswith(("Describe", "Get", "List", "View"))
