"""Backdating in moto's backend objects, so age-based checks judge real ages in the sandbox.

Moto stamps every creation and state change with the time of the API call (snapshot StartTime,
volume CreateTime, the reason text of a stopped instance); the sandbox is seeded in one go, so
without this every resource would be minutes old.  These helpers edit the backend objects of the
server's own process (the seeding runs in-process, see ``docs/sandbox-contract.md``).

Moto ignores ``OwnerIds`` of ``DescribeSnapshots``, so ``OwnerIds=["self"]`` (how every
snapshot check lists its own snapshots) would also return the snapshots of moto's public AMIs;
:func:`install_snapshot_owner_filter` applies it as AWS does.

Moto finds an instance by scanning every instance of the region (``get_instance``), and
``run_instances`` does so for each new instance, as ``attach_volume`` does for each volume: a
10,000-instance fleet then takes minutes to seed.  :func:`install_fast_lookups` answers the same
look-ups from an index (moto never removes an instance from its reservations, so the index only
grows); the answers and errors are moto's.

Moto loads about 1,300 public AMIs (each with a snapshot) into every account x region it
touches; the fleet runs its own AMIs and nothing in the project uses moto's, so
:func:`skip_public_amis` turns that off unless ``MOTO_EC2_LOAD_DEFAULT_AMIS`` says otherwise
(about 2 s of seeding per account x region, and smaller DescribeImages / DescribeSnapshots).

Moto also answers ``ListMultipartUploads`` with a fixed ``Initiated`` of 2010-11-10 for every
upload; :func:`install_s3_multipart_times` makes it report the real initiation time instead
(kept on each upload object), so that a stale upload is stale because of its age.
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime
from typing import Any

from moto.core.utils import utcnow
from moto.ec2.exceptions import InvalidInstanceIdError
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_block_store import EBSBackend
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.elb.models import elb_backends
from moto.elbv2.models import elbv2_backends
from moto.rds.models import rds_backends
from moto.s3 import models as s3_models
from moto.s3 import responses as s3_responses
from moto.s3.models import s3_backends


def skip_public_amis() -> None:
    """Stop loading moto's public AMIs into EC2 backends created from now on.

    An explicit ``MOTO_EC2_LOAD_DEFAULT_AMIS`` in the environment wins.
    """
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


def naive_utc(moment: datetime) -> datetime:
    """Moto keeps naive UTC datetimes; ours are tz-aware.

    Example:
        >>> naive_utc(datetime(2026, 1, 1, tzinfo=UTC)).tzinfo is None
        True
    """
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware UTC")
    return moment.astimezone(UTC).replace(tzinfo=None)


def ec2_backend(account_id: str, region: str) -> Any:
    """Moto's EC2 backend of one account x region."""
    return ec2_backends[account_id][region]


def set_instance_times(
    account_id: str,
    region: str,
    instance_ids: list[str],
    launched: datetime,
    stopped: datetime | None = None,
) -> None:
    """Backdate launch time and, for stopped instances, the stop recorded in the reason text.

    AWS reports when an instance was stopped only in ``StateTransitionReason``, as
    ``User initiated (YYYY-MM-DD HH:MM:SS GMT)``; that is what age checks parse.
    """
    backend = ec2_backend(account_id, region)
    for instance_id in instance_ids:
        instance = backend.get_instance(instance_id)
        instance.launch_time = naive_utc(launched)
        if stopped is not None:
            if instance.state != "stopped":
                raise ValueError(f"{instance_id} is {instance.state}, not stopped")
            when = stopped.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            instance._reason = f"User initiated ({when} GMT)"


def set_volume_created(account_id: str, region: str, volume_id: str, created: datetime) -> None:
    """Backdate a volume's CreateTime (and give it AWS's empty SnapshotId when it has none)."""
    volume = ec2_backend(account_id, region).get_volume(volume_id)
    volume.create_time = naive_utc(created)
    if volume.snapshot_id is None:
        volume.snapshot_id = ""  # AWS sends "" for a volume not made from a snapshot


def set_snapshot_started(account_id: str, region: str, snapshot_id: str, started: datetime) -> None:
    """Backdate a snapshot's StartTime."""
    ec2_backend(account_id, region).get_snapshot(snapshot_id).start_time = naive_utc(started)


def set_image_created(account_id: str, region: str, image_id: str, created: datetime) -> None:
    """Backdate an AMI's CreationDate."""
    ec2_backend(account_id, region).amis[image_id].creation_date = naive_utc(created)


def describe_image_like_aws(account_id: str, region: str, image_id: str) -> None:
    """Fill the attributes a RegisterImage'd AMI lacks in moto but has in AWS.

    Instances launched from the AMI take their architecture and virtualization type from it;
    the root device is ``/dev/xvda`` on EBS, as on Amazon Linux.
    """
    image = ec2_backend(account_id, region).amis[image_id]
    image.architecture = "x86_64"
    image.virtualization_type = "hvm"
    image.hypervisor = "xen"
    image.image_location = f"{account_id}/{image.name}"
    image.sriov_net_support = "simple"
    image.ena_support = True
    image.root_device_name = "/dev/xvda"
    image.root_device_type = "ebs"


def image_snapshot(account_id: str, region: str, image_id: str) -> tuple[str, str]:
    """(snapshot id, source volume id) of the snapshot moto created for an AMI's root device."""
    snapshot = ec2_backend(account_id, region).amis[image_id].ebs_snapshot
    return str(snapshot.id), str(snapshot.volume.id)


def set_nat_gateway_created(account_id: str, region: str, nat_id: str, created: datetime) -> None:
    """Backdate a NAT gateway's CreateTime."""
    ec2_backend(account_id, region).nat_gateways[nat_id]._created_at = naive_utc(created)


def set_load_balancer_created(
    account_id: str, region: str, created: datetime, arn: str | None = None, name: str | None = None
) -> None:
    """Backdate an ALB/NLB (by ARN) or a Classic load balancer (by name)."""
    if arn is not None:
        balancer = elbv2_backends[account_id][region].load_balancers[arn]
        balancer.created_time = naive_utc(created).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    elif name is not None:
        elb_backends[account_id][region].load_balancers[name].created_time = created.astimezone(UTC)
    else:
        raise ValueError("give the ARN of an ALB/NLB or the name of a Classic load balancer")


def set_db_instance_created(account_id: str, region: str, db_id: str, created: datetime) -> None:
    """Backdate an RDS instance's InstanceCreateTime."""
    database = rds_backends[account_id][region].databases[db_id]
    database.created = naive_utc(created)
    database.instance_create_time = database.created


def set_multipart_upload(
    account_id: str, bucket: str, upload_id: str, initiated: datetime, new_upload_id: str
) -> None:
    """Backdate an incomplete multipart upload and give it a deterministic id.

    Moto draws upload ids from ``os.urandom``; the ground truth must be the same for a seed.
    """
    backend = s3_backends[account_id]["aws"]
    uploads = backend.get_bucket(bucket).multiparts
    upload: Any = uploads.pop(upload_id)
    upload.id = new_upload_id
    upload.initiated = naive_utc(initiated)
    uploads[new_upload_id] = upload


# --------------------------------------------------------------------------------------------
# ListMultipartUploads with real initiation times
# --------------------------------------------------------------------------------------------

_MULTIPART_INIT: Any = s3_models.FakeMultipart.__init__


@functools.wraps(_MULTIPART_INIT)
def _multipart_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _MULTIPART_INIT(self, *args, **kwargs)
    self.initiated = utcnow()


def _initiated_text(upload: Any) -> str:
    initiated: datetime = getattr(upload, "initiated", None) or utcnow()
    return initiated.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def install_s3_multipart_times() -> None:
    """Make moto remember when each multipart upload started and report it (idempotent)."""
    s3_models.FakeMultipart.__init__ = _multipart_init  # type: ignore[method-assign]
    s3_responses.S3Response.list_multipart_uploads = _patched_list_uploads  # type: ignore[method-assign]


def _patched_list_uploads(self: Any) -> Any:
    """moto 5.2's ``list_multipart_uploads`` with the real ``Initiated`` of each upload."""
    from moto.core.responses import ActionResult

    multiparts = list(self.backend.list_multipart_uploads(self.bucket_name).values())
    if "prefix" in self.querystring:
        prefix = self.querystring.get("prefix", [None])[0]
        multiparts = [upload for upload in multiparts if upload.key_name.startswith(prefix)]
    uploads = [
        {
            "Key": upload.key_name,
            "UploadId": upload.id,
            "Initiator": {
                "ID": f"arn:aws:iam::{self.current_account}:user/finops-sandbox",
                "DisplayName": "finops-sandbox",
            },
            "Owner": {
                "ID": "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a",
                "DisplayName": "webfile",
            },
            "StorageClass": "STANDARD",
            "Initiated": _initiated_text(upload),
            "ChecksumAlgorithm": upload.metadata.get("x-amz-checksum-algorithm"),
            "ChecksumType": upload.metadata.get("x-amz-checksum-type"),
        }
        for upload in multiparts
    ]
    result = {
        "Bucket": self.bucket_name,
        "KeyMarker": "",
        "UploadIdMarker": "",
        "MaxUploads": 1000,
        "IsTruncated": False,
        "Uploads": uploads,
    }
    self.data["Action"] = "ListMultipartUploads"
    return self.serialized(ActionResult(result))


# --------------------------------------------------------------------------------------------
# DescribeSnapshots honours OwnerIds
# --------------------------------------------------------------------------------------------

_DESCRIBE_SNAPSHOTS: Any = ElasticBlockStore.describe_snapshots


def _describe_snapshots_by_owner(self: Any) -> Any:
    owners = self._get_param("OwnerIds", [])
    if not owners:
        return _DESCRIBE_SNAPSHOTS(self)
    from moto.core.responses import ActionResult

    wanted = {self.current_account if o == "self" else o for o in owners}
    snapshots = self.ec2_backend.describe_snapshots(
        snapshot_ids=self._get_param("SnapshotIds", []),
        filters=self._filters_from_querystring(),
    )
    return ActionResult({"Snapshots": [s for s in snapshots if s.owner_id in wanted]})


def install_snapshot_owner_filter() -> None:
    """Make ``DescribeSnapshots`` filter by ``OwnerIds`` (``self`` or account ids), idempotent."""
    ElasticBlockStore.describe_snapshots = _describe_snapshots_by_owner  # type: ignore[method-assign]


# --------------------------------------------------------------------------------------------
# Instance and volume look-ups by id without scanning the region
# --------------------------------------------------------------------------------------------

_INDEX_ATTR = "_finops_instance_index"
_DESCRIBE_VOLUMES: Any = EBSBackend.describe_volumes


def _indexed_get_instance(self: Any, instance_id: str) -> Any:
    index: dict[str, Any] = self.__dict__.setdefault(_INDEX_ATTR, {})
    found = index.get(instance_id)
    if found is not None:
        return found
    if self.reservations:
        # a new instance sits in the newest reservation (run_instances looks it up right away)
        newest = next(reversed(self.reservations.values()))
        index.update((i.id, i) for i in newest.instances)
        if instance_id in index:
            return index[instance_id]
        index.update((i.id, i) for i in self.all_instances())
        if instance_id in index:
            return index[instance_id]
    raise InvalidInstanceIdError(instance_id)


def _describe_volumes_by_id(
    self: Any, volume_ids: list[str] | None = None, filters: Any = None
) -> Any:
    if volume_ids and len(volume_ids) == 1 and not filters and volume_ids[0] in self.volumes:
        return [self.volumes[volume_ids[0]]]  # what the scan would find, in one look-up
    return _DESCRIBE_VOLUMES(self, volume_ids, filters)


def install_fast_lookups() -> None:
    """Index moto's instance and single-volume look-ups (same answers; idempotent)."""
    InstanceBackend.get_instance = _indexed_get_instance  # type: ignore[method-assign]
    EBSBackend.describe_volumes = _describe_volumes_by_id  # type: ignore[method-assign]
