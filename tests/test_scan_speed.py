"""The scan's own cost: what the sandbox answers so that a scan pays only for its real work.

The sandbox answers the Pricing API from the bundled book (moto has none; every scan paid a 500
and its retries before falling back), the findings store writes a scan in bulk with the same
lifecycle as before, and the scan's AWS requests are counted by operation with their cost.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tasks.aws.session import AwsAccess
from tasks.idle.tasks import make_prices
from tasks.pricing.book import BundledPrices
from tasks.settings import load_settings
from tests.plugins.sandbox import SandboxHandle


def test_sandbox_pricing_api_answers_the_book_prices_through_boto3(
    sandbox_env: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path))
    settings = load_settings()
    prices = make_prices(settings, AwsAccess(settings.aws))
    book = BundledPrices()
    for region, instance_type in [("us-east-1", "t3.micro"), ("eu-west-1", "m5.large")]:
        expected = book.ec2_instance_hour(region, instance_type)
        assert expected is not None
        assert prices.ec2_instance_hour(region, instance_type) == expected
    assert prices.rds_instance_hour("us-east-1", "db.t3.micro", "postgres", True) == (
        book.rds_instance_hour("us-east-1", "db.t3.micro", "postgres", True)
    )
    # answered by the API (cached on disk), not by the fallback after a failure
    cached = json.loads((tmp_path / "pricing-cache.json").read_text())
    asked = [
        book.ec2_instance_hour("us-east-1", "t3.micro"),
        book.ec2_instance_hour("eu-west-1", "m5.large"),
        book.rds_instance_hour("us-east-1", "db.t3.micro", "postgres", True),
    ]
    assert sorted(Decimal(v) for v in cached.values() if v) == sorted(p for p in asked if p)
    assert None not in asked
    pricing = sandbox_env.client("pricing")
    empty = pricing.get_products(
        ServiceCode="AmazonEC2",
        Filters=[
            {"Type": "TERM_MATCH", "Field": "instanceType", "Value": "x99.mega"},
            {"Type": "TERM_MATCH", "Field": "location", "Value": "US East (N. Virginia)"},
        ],
    )
    assert empty["PriceList"] == []
    with pytest.raises(pricing.exceptions.ClientError):
        pricing.get_products(ServiceCode="")
