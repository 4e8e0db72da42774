"""The ``ebs-rightsize`` check: Compute Optimizer's EBS volume recommendations as findings.

An attached volume whose type, IOPS or throughput is provisioned above its use (Compute
Optimizer's ``NotOptimized``) gets one finding proposing the rank-1 configuration, with the
optimiser's savings (after discounts where it states them).  Only Compute Optimizer speaks here:
an account that is not enrolled gets no EBS finding (its note says how to opt in).

Pure: no boto3, no Prefect.
"""

from __future__ import annotations

from tasks.aws.records import Inventory, MetricFrame
from tasks.idle.registry import REGISTRY, CheckParams, CheckResult, RuleContext, register
from tasks.rightsizing.model import CO, AdvisedContext, OptimizerAdvice

CHECK = "ebs-rightsize"


class EbsRightsizeParams(CheckParams):
    """Parameters of ``ebs-rightsize`` (none yet: Compute Optimizer's own look-back applies).

    Example (finops.toml):
        [idle.params.ebs-rightsize]
    """


@register(
    CHECK,
    family="ebs-rightsize",
    resource_type="ec2:volume",
    params=EbsRightsizeParams,
    needs=["volumes"],
    actions=["modify_volume", "skip"],
    permissions=[
        "ec2:DescribeVolumes",
        "compute-optimizer:GetEBSVolumeRecommendations",
        "compute-optimizer:GetEnrollmentStatus",
        "compute-optimizer:GetEnrollmentStatusesForOrganization",
    ],
)
def ebs_rightsize(
    inventory: Inventory, metrics: MetricFrame, params: EbsRightsizeParams, ctx: RuleContext
) -> CheckResult:
    """Attached EBS volumes provisioned above their use, as Compute Optimizer judges them.

    Example (finops.toml):
        [idle.params.ebs-rightsize]
    """
    check = REGISTRY[CHECK]
    advice = ctx.advice if isinstance(ctx, AdvisedContext) else OptimizerAdvice()
    result = CheckResult()
    for volume in inventory.volumes:
        if ctx.excluded(volume.tags):
            continue
        rec = advice.volumes.get((volume.account_id, volume.region, volume.volume_id))
        if rec is None or not rec.saves:
            continue
        target = rec.recommended
        result.findings.append(
            ctx.finding(
                check,
                resource_id=volume.volume_id,
                resource_arn=f"arn:aws:ec2:{volume.region}:{volume.account_id}:volume/"
                f"{volume.volume_id}",
                resource_type=check.resource_type,
                tags=volume.tags,
                monthly_savings_usd=rec.monthly_savings_usd,
                evidence={
                    "volume_type": volume.volume_type,
                    "size_gib": volume.size_gib,
                    "iops": volume.iops,
                    "throughput_mibps": volume.throughput_mibps,
                    "recommended": target,
                    "finding": rec.finding,
                    "sources": {CO: {"recommended": target, "finding": rec.finding}},
                    "savings_basis": f"{CO}, {rec.savings_basis}",
                },
                title=f"EBS {volume.volume_type} {volume.volume_id}: "
                f"{target.get('volume_type')} at {target.get('iops')} IOPS",
            )
        )
    return result
