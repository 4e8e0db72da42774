"""The AWS Price List API (``pricing:GetProducts``) answered from the bundled price book.

moto has no Pricing API: without this module every scan against the sandbox paid a 500 answer
and its retries (about 4 s) before falling back to the book.  The answers carry the book's
on-demand prices in the Price List's own shape (``PriceList`` of JSON strings with
``terms.OnDemand.*.priceDimensions.*.pricePerUnit.USD``), so the scan's ``PricingApiPrices``
parses them exactly as it parses AWS's, and savings agree with the ground truth (priced from the
same book).  Only the attributes the product filters on are answered (EC2 Linux shared-tenancy
and RDS instance hours); any other product matches nothing, as a filter with no match does on
AWS.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sandbox.services import SandboxService, ServiceRequest
from tasks.pricing.book import REGION_LOCATIONS, BundledPrices

if TYPE_CHECKING:
    from sandbox.seed import Seeded

_REGIONS = {location: region for region, location in REGION_LOCATIONS.items()}
_RDS_ENGINES = {"MySQL": "mysql", "MariaDB": "mariadb", "PostgreSQL": "postgres"}


def _filters(body: dict[str, Any]) -> dict[str, str]:
    return {str(f.get("Field")): str(f.get("Value")) for f in body.get("Filters") or []}


def price_for(service_code: str, filters: dict[str, str]) -> Decimal | None:
    """The book's on-demand hourly price for a GetProducts filter, or None when nothing matches.

    Example:
        >>> price_for("AmazonEC2", {"instanceType": "t3.micro",
        ...     "location": "US East (N. Virginia)", "operatingSystem": "Linux"})
        Decimal('0.0104')
        >>> price_for("AmazonEC2", {"instanceType": "t3.micro", "operatingSystem": "Windows",
        ...     "location": "US East (N. Virginia)"}) is None
        True
    """
    book = BundledPrices()
    region = _REGIONS.get(filters.get("location", ""))
    if region is None or "instanceType" not in filters:
        return None
    if service_code == "AmazonEC2":
        if filters.get("operatingSystem", "Linux") != "Linux":
            return None
        if filters.get("tenancy", "Shared") != "Shared":
            return None
        return book.ec2_instance_hour(region, filters["instanceType"])
    if service_code == "AmazonRDS":
        engine = _RDS_ENGINES.get(filters.get("databaseEngine", ""))
        if engine is None:
            return None
        multi_az = filters.get("deploymentOption", "Single-AZ") == "Multi-AZ"
        return book.rds_instance_hour(region, filters["instanceType"], engine, multi_az)
    return None


def price_list_item(service_code: str, filters: dict[str, str], usd: Decimal) -> str:
    """One ``PriceList`` entry (a JSON string) as the Price List API writes it."""
    key = service_code + "|" + "|".join(f"{k}={v}" for k, v in sorted(filters.items()))
    sku = "SANDBOX" + hashlib.sha256(key.encode()).hexdigest()[:12].upper()
    return json.dumps(
        {
            "product": {"productFamily": "Compute Instance", "sku": sku, "attributes": filters},
            "serviceCode": service_code,
            "terms": {
                "OnDemand": {
                    f"{sku}.JRTCKXETXF": {
                        "sku": sku,
                        "offerTermCode": "JRTCKXETXF",
                        "priceDimensions": {
                            f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                                "unit": "Hrs",
                                "pricePerUnit": {"USD": f"{usd:.10f}"},
                                "description": "sandbox on-demand price (bundled book)",
                            }
                        },
                    }
                }
            },
            "version": "sandbox",
        }
    )


def handle(request: ServiceRequest) -> tuple[int, dict[str, Any]]:
    """Answer one GetProducts request: every match in one page (the book has at most one)."""
    body = dict(request.body)
    service_code = str(body.get("ServiceCode") or "")
    if not service_code:
        return 400, {"__type": "InvalidParameterException", "Message": "ServiceCode is required"}
    filters = _filters(body)
    usd = price_for(service_code, filters)
    items = [] if usd is None else [price_list_item(service_code, filters, usd)]
    return 200, {"FormatVersion": "aws_v1", "PriceList": items}


def build(seeded: Seeded) -> SandboxService:
    """The Pricing API service (needs nothing from the seeded world: prices are the book's)."""
    del seeded
    return SandboxService(
        name="pricing",
        signing_name="pricing",
        operations=frozenset({"GetProducts"}),
        handle=handle,
        protocol="json",
        json_version="1.1",
    )
