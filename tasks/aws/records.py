"""Typed resource records and metric frames: what the describe adapters produce and the rules read.

Records are frozen dataclasses (slots, cheap at 10k resources) holding only what a check needs.
A ``MetricFrame`` maps (resource id, metric key) to a daily ``MetricSeries``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Tags = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Instance:
    """An EC2 instance (DescribeInstances)."""

    account_id: str
    region: str
    instance_id: str
    instance_type: str
    state: str
    launch_time: datetime | None
    state_transition_reason: str = ""
    tags: Tags = field(default_factory=dict)
    volume_ids: tuple[str, ...] = ()

    @property
    def arn(self) -> str:
        return f"arn:aws:ec2:{self.region}:{self.account_id}:instance/{self.instance_id}"


@dataclass(frozen=True, slots=True)
class Volume:
    """An EBS volume (DescribeVolumes)."""

    account_id: str
    region: str
    volume_id: str
    volume_type: str
    size_gib: int
    state: str
    create_time: datetime | None
    iops: int | None = None
    throughput_mibps: int | None = None
    attached_instance_ids: tuple[str, ...] = ()
    snapshot_id: str = ""
    tags: Tags = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:ec2:{self.region}:{self.account_id}:volume/{self.volume_id}"

    @property
    def attached(self) -> bool:
        return bool(self.attached_instance_ids)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An EBS snapshot owned by the account (DescribeSnapshots OwnerIds=self)."""

    account_id: str
    region: str
    snapshot_id: str
    volume_id: str
    volume_size_gib: int
    start_time: datetime | None
    state: str = "completed"
    description: str = ""
    tags: Tags = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:ec2:{self.region}::snapshot/{self.snapshot_id}"


@dataclass(frozen=True, slots=True)
class Image:
    """An AMI owned by the account and the snapshots behind it (DescribeImages Owners=self)."""

    account_id: str
    region: str
    image_id: str
    state: str
    snapshot_ids: tuple[str, ...] = ()
    creation_date: datetime | None = None
    tags: Tags = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Address:
    """An Elastic IP address (DescribeAddresses)."""

    account_id: str
    region: str
    allocation_id: str
    public_ip: str
    association_id: str = ""
    instance_id: str = ""
    network_interface_id: str = ""
    tags: Tags = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:ec2:{self.region}:{self.account_id}:elastic-ip/{self.allocation_id}"


LoadBalancerKind = Literal["application", "network", "gateway", "classic"]


@dataclass(frozen=True, slots=True)
class LoadBalancer:
    """An ALB, NLB or Classic load balancer with its target health.

    ``healthy_targets`` is None when the load balancer has no target group or registered
    instances to ask about (then only traffic decides).
    """

    account_id: str
    region: str
    name: str
    arn: str
    kind: LoadBalancerKind
    created: datetime | None
    healthy_targets: int | None = None
    registered_targets: int | None = None
    tags: Tags = field(default_factory=dict)

    @property
    def resource_id(self) -> str:
        return self.name

    @property
    def metric_dimension(self) -> tuple[str, str]:
        """The CloudWatch dimension naming this load balancer."""
        if self.kind == "classic":
            return ("LoadBalancerName", self.name)
        # "app/name/id" or "net/name/id": the ARN after "loadbalancer/"
        return ("LoadBalancer", self.arn.split(":loadbalancer/", 1)[-1])


@dataclass(frozen=True, slots=True)
class NatGateway:
    """A NAT gateway (DescribeNatGateways)."""

    account_id: str
    region: str
    nat_gateway_id: str
    state: str
    create_time: datetime | None
    vpc_id: str = ""
    tags: Tags = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:ec2:{self.region}:{self.account_id}:natgateway/{self.nat_gateway_id}"


@dataclass(frozen=True, slots=True)
class DbInstance:
    """An RDS DB instance (DescribeDBInstances)."""

    account_id: str
    region: str
    db_instance_id: str
    arn: str
    db_class: str
    engine: str
    status: str
    multi_az: bool = False
    allocated_storage_gib: int = 0
    storage_type: str = "gp2"
    create_time: datetime | None = None
    tags: Tags = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MultipartUpload:
    """An incomplete multipart upload and the bytes its parts hold."""

    key: str
    upload_id: str
    initiated: datetime
    parts_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Bucket:
    """An S3 bucket in a region, whether a lifecycle rule aborts incomplete uploads, its uploads."""

    account_id: str
    region: str
    name: str
    aborts_incomplete_uploads: bool
    uploads: tuple[MultipartUpload, ...] = ()
    tags: Tags = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.name}"


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """Datapoints of one metric statistic, oldest first (timestamps tz-aware UTC)."""

    timestamps: tuple[datetime, ...] = ()
    values: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.values)

    def total(self) -> float:
        return float(sum(self.values))


#: (resource id, metric key such as "cpu_avg") -> daily series.
MetricFrame = dict[tuple[str, str], MetricSeries]


@dataclass(frozen=True, slots=True)
class MetricRequest:
    """One CloudWatch metric statistic a check wants for one resource."""

    resource_id: str
    key: str
    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    unit: str | None = None


@dataclass
class Inventory:
    """Everything described in one account and region for the checks being run."""

    account_id: str
    region: str
    instances: list[Instance] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    addresses: list[Address] = field(default_factory=list)
    load_balancers: list[LoadBalancer] = field(default_factory=list)
    nat_gateways: list[NatGateway] = field(default_factory=list)
    db_instances: list[DbInstance] = field(default_factory=list)
    buckets: list[Bucket] = field(default_factory=list)

    def resource_count(self) -> int:
        return sum(
            len(items)
            for items in (
                self.instances,
                self.volumes,
                self.snapshots,
                self.images,
                self.addresses,
                self.load_balancers,
                self.nat_gateways,
                self.db_instances,
                self.buckets,
            )
        )
