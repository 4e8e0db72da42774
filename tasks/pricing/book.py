"""Prices for savings estimates: the bundled price book, and the AWS Pricing API with a disk cache.

Every answer is a ``Decimal`` in USD or ``None`` when the price is unknown; an unknown price is
never guessed as 0 (a finding then says its savings are unknown).
"""

from __future__ import annotations

import json
import logging
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from tasks.pricing import book_data as data

log = logging.getLogger(__name__)

HOURS_PER_MONTH = Decimal(data.HOURS_PER_MONTH)

#: Pricing API "location" names of the regions (the API filters by name, not by code).
REGION_LOCATIONS: dict[str, str] = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-west-2": "EU (London)",
    "eu-west-3": "EU (Paris)",
    "eu-central-1": "EU (Frankfurt)",
    "eu-north-1": "EU (Stockholm)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ca-central-1": "Canada (Central)",
    "sa-east-1": "South America (Sao Paulo)",
}

#: RDS engine names as DescribeDBInstances reports them -> the price book's engine family.
RDS_ENGINE_FAMILY: dict[str, str] = {
    "mysql": "mysql",
    "mariadb": "mariadb",
    "postgres": "postgres",
    "aurora-mysql": "aurora-mysql",
    "aurora-postgresql": "aurora-postgresql",
}


def _dec(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


class Prices(Protocol):
    """What the checks ask of a price source (USD; ``None`` = unknown)."""

    source: str

    def ec2_instance_hour(self, region: str, instance_type: str) -> Decimal | None: ...
    def ebs_gb_month(self, region: str, volume_type: str) -> Decimal | None: ...
    def ebs_iops_month(self, region: str, volume_type: str) -> Decimal | None: ...
    def ebs_gp3_throughput_month(self, region: str) -> Decimal | None: ...
    def snapshot_gb_month(self, region: str) -> Decimal | None: ...
    def eip_hour(self, region: str) -> Decimal | None: ...
    def nat_gateway_hour(self, region: str) -> Decimal | None: ...
    def lb_hour(self, region: str, kind: str) -> Decimal | None: ...
    def rds_instance_hour(
        self, region: str, db_class: str, engine: str, multi_az: bool
    ) -> Decimal | None: ...
    def rds_storage_gb_month(self, region: str, storage_type: str) -> Decimal | None: ...
    def s3_standard_gb_month(self, region: str) -> Decimal | None: ...


class BundledPrices:
    """The dated price book shipped with the code (see ``tasks.pricing.book_data``).

    Example:
        >>> BundledPrices().eip_hour("us-east-1")
        Decimal('0.005')
        >>> BundledPrices().ec2_instance_hour("us-east-1", "x99.mega") is None
        True
    """

    source = f"bundled price book ({data.AS_OF})"
    as_of = data.AS_OF

    def ec2_instance_hour(self, region: str, instance_type: str) -> Decimal | None:
        return _dec(data.EC2_INSTANCE_HOUR.get(region, {}).get(instance_type))

    def ebs_gb_month(self, region: str, volume_type: str) -> Decimal | None:
        return _dec(data.EBS_GB_MONTH.get(region, {}).get(volume_type))

    def ebs_iops_month(self, region: str, volume_type: str) -> Decimal | None:
        return _dec(data.EBS_IOPS_MONTH.get(region, {}).get(volume_type))

    def ebs_gp3_throughput_month(self, region: str) -> Decimal | None:
        return _dec(data.EBS_GP3_THROUGHPUT_MONTH.get(region))

    def snapshot_gb_month(self, region: str) -> Decimal | None:
        return _dec(data.SNAPSHOT_GB_MONTH.get(region))

    def eip_hour(self, region: str) -> Decimal | None:
        return _dec(data.EIP_HOUR.get(region))

    def nat_gateway_hour(self, region: str) -> Decimal | None:
        return _dec(data.NAT_GATEWAY_HOUR.get(region))

    def lb_hour(self, region: str, kind: str) -> Decimal | None:
        return _dec(data.LB_HOUR.get(region, {}).get(kind))

    def rds_instance_hour(
        self, region: str, db_class: str, engine: str, multi_az: bool
    ) -> Decimal | None:
        family = RDS_ENGINE_FAMILY.get(engine, engine)
        single = _dec(data.RDS_INSTANCE_HOUR.get(region, {}).get(family, {}).get(db_class))
        if single is None:
            return None
        return single * 2 if multi_az else single

    def rds_storage_gb_month(self, region: str, storage_type: str) -> Decimal | None:
        return _dec(data.RDS_STORAGE_GB_MONTH.get(region, {}).get(storage_type))

    def s3_standard_gb_month(self, region: str) -> Decimal | None:
        return _dec(data.S3_STANDARD_GB_MONTH.get(region))


def parse_on_demand_price(price_list_item: str | dict[str, Any]) -> Decimal | None:
    """The USD on-demand unit price of one Pricing API ``PriceList`` entry.

    Args:
        price_list_item: one element of ``GetProducts``' ``PriceList`` (a JSON string).

    Returns:
        The first non-zero USD price per unit, or None when the entry has none.

    Example:
        >>> item = {"terms": {"OnDemand": {"x": {"priceDimensions": {"y": {
        ...     "pricePerUnit": {"USD": "0.0416000000"}}}}}}}
        >>> parse_on_demand_price(item)
        Decimal('0.0416000000')
    """
    item = json.loads(price_list_item) if isinstance(price_list_item, str) else price_list_item
    for term in item.get("terms", {}).get("OnDemand", {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if usd is not None and Decimal(usd) > 0:
                return Decimal(usd)
    return None


class PricingApiPrices:
    """The AWS Pricing API (``pricing`` in us-east-1) when reachable, answers cached on disk.

    Instance prices (EC2 and RDS) come from the API because they vary the most; everything else,
    and every question the API cannot answer, falls back to ``fallback`` (the bundled book).  The
    first connection or permission failure marks the API unreachable for this object's life, so
    an offline scan costs one failed call, not one per resource.

    Args:
        client_factory: returns a ``pricing`` boto3 client (called lazily, once).
        cache_path: JSON file of earlier answers (created if missing).
        fallback: where to look when the API has no answer.

    Example:
        >>> prices = PricingApiPrices(lambda: None, Path("/tmp/x.json"))  # doctest: +SKIP
    """

    def __init__(
        self,
        client_factory: Any,
        cache_path: Path,
        fallback: Prices | None = None,
    ) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self.cache_path = cache_path
        self.fallback: Prices = fallback or BundledPrices()
        self.source = f"AWS Pricing API (cached at {cache_path}), else {self.fallback.source}"
        self._lock = threading.Lock()
        self._reachable = True
        self._cache: dict[str, str | None] = self._load_cache()

    def _load_cache(self) -> dict[str, str | None]:
        try:
            loaded = json.loads(self.cache_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.warning("ignoring unreadable pricing cache %s: %s", self.cache_path, error)
            return {}
        return {str(k): (None if v is None else str(v)) for k, v in loaded.items()}

    def _save_cache(self) -> None:
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._cache, indent=1, sort_keys=True))
        tmp.replace(self.cache_path)

    def _lookup(self, service_code: str, filters: dict[str, str]) -> Decimal | None:
        key = service_code + "|" + "|".join(f"{k}={v}" for k, v in sorted(filters.items()))
        with self._lock:
            if key in self._cache:
                return _dec(self._cache[key])
            if not self._reachable:
                return None
            try:
                if self._client is None:
                    self._client = self._client_factory()
                response = self._client.get_products(
                    ServiceCode=service_code,
                    Filters=[
                        {"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in filters.items()
                    ],
                    MaxResults=10,
                )
            except Exception as error:  # any failure means "not reachable": fall back, say why
                log.info("AWS Pricing API not reachable (%s); using the bundled price book", error)
                self._reachable = False
                return None
            price = None
            for item in response.get("PriceList", []):
                price = parse_on_demand_price(item)
                if price is not None:
                    break
            self._cache[key] = None if price is None else str(price)
            self._save_cache()
            return price

    def ec2_instance_hour(self, region: str, instance_type: str) -> Decimal | None:
        location = REGION_LOCATIONS.get(region)
        price = None
        if location:
            price = self._lookup(
                "AmazonEC2",
                {
                    "instanceType": instance_type,
                    "location": location,
                    "operatingSystem": "Linux",
                    "tenancy": "Shared",
                    "preInstalledSw": "NA",
                    "capacitystatus": "Used",
                },
            )
        if price is not None:
            return price
        return self.fallback.ec2_instance_hour(region, instance_type)

    def rds_instance_hour(
        self, region: str, db_class: str, engine: str, multi_az: bool
    ) -> Decimal | None:
        engine_names = {"mysql": "MySQL", "mariadb": "MariaDB", "postgres": "PostgreSQL"}
        location = REGION_LOCATIONS.get(region)
        price = None
        if location and engine in engine_names:
            price = self._lookup(
                "AmazonRDS",
                {
                    "instanceType": db_class,
                    "location": location,
                    "databaseEngine": engine_names[engine],
                    "deploymentOption": "Multi-AZ" if multi_az else "Single-AZ",
                },
            )
        if price is not None:
            return price
        return self.fallback.rds_instance_hour(region, db_class, engine, multi_az)

    def ebs_gb_month(self, region: str, volume_type: str) -> Decimal | None:
        return self.fallback.ebs_gb_month(region, volume_type)

    def ebs_iops_month(self, region: str, volume_type: str) -> Decimal | None:
        return self.fallback.ebs_iops_month(region, volume_type)

    def ebs_gp3_throughput_month(self, region: str) -> Decimal | None:
        return self.fallback.ebs_gp3_throughput_month(region)

    def snapshot_gb_month(self, region: str) -> Decimal | None:
        return self.fallback.snapshot_gb_month(region)

    def eip_hour(self, region: str) -> Decimal | None:
        return self.fallback.eip_hour(region)

    def nat_gateway_hour(self, region: str) -> Decimal | None:
        return self.fallback.nat_gateway_hour(region)

    def lb_hour(self, region: str, kind: str) -> Decimal | None:
        return self.fallback.lb_hour(region, kind)

    def rds_storage_gb_month(self, region: str, storage_type: str) -> Decimal | None:
        return self.fallback.rds_storage_gb_month(region, storage_type)

    def s3_standard_gb_month(self, region: str) -> Decimal | None:
        return self.fallback.s3_standard_gb_month(region)


def monthly(hourly: Decimal | None) -> Decimal | None:
    """An hourly price as a monthly one (730 h), or None when unknown.

    Example:
        >>> monthly(Decimal("0.005"))
        Decimal('3.650')
    """
    return None if hourly is None else hourly * HOURS_PER_MONTH


def ebs_volume_month(
    prices: Prices,
    region: str,
    volume_type: str,
    size_gib: int,
    iops: int | None = None,
    throughput_mibps: int | None = None,
) -> Decimal | None:
    """What one EBS volume costs a month: storage plus provisioned IOPS and throughput.

    gp3 includes 3,000 IOPS and 125 MiB/s; io1/io2 charge every provisioned IOPS.

    Example:
        >>> ebs_volume_month(BundledPrices(), "us-east-1", "gp3", 100, 4000, 125)
        Decimal('13.000')
    """
    per_gb = prices.ebs_gb_month(region, volume_type)
    if per_gb is None:
        return None
    total = per_gb * size_gib
    if volume_type == "gp3":
        extra_iops = max(0, (iops or 3000) - 3000)
        extra_throughput = max(0, (throughput_mibps or 125) - 125)
        if extra_iops:
            iops_price = prices.ebs_iops_month(region, "gp3")
            if iops_price is None:
                return None
            total += iops_price * extra_iops
        if extra_throughput:
            tp_price = prices.ebs_gp3_throughput_month(region)
            if tp_price is None:
                return None
            total += tp_price * extra_throughput
    elif volume_type in {"io1", "io2"} and iops:
        iops_price = prices.ebs_iops_month(region, volume_type)
        if iops_price is None:
            return None
        total += iops_price * iops
    return total
