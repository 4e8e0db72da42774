"""The price book: bundled prices, unknown prices as None, the Pricing API with its disk cache."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from botocore.stub import Stubber

from tasks.pricing import book_data
from tasks.pricing.book import BundledPrices, PricingApiPrices, ebs_volume_month, monthly


def test_bundled_book_is_dated_and_answers_known_prices() -> None:
    prices = BundledPrices()
    assert book_data.AS_OF in prices.source and book_data.SOURCE
    assert prices.ec2_instance_hour("us-east-1", "t3.micro") == Decimal("0.0104")
    assert prices.ebs_gb_month("eu-west-1", "gp3") == Decimal("0.088")
    assert prices.snapshot_gb_month("us-east-1") == Decimal("0.05")
    assert monthly(prices.eip_hour("us-west-2")) == Decimal("3.650")
    assert prices.nat_gateway_hour("us-east-1") == Decimal("0.045")
    assert prices.lb_hour("eu-west-1", "classic") == Decimal("0.028")
    single = prices.rds_instance_hour("us-east-1", "db.m5.large", "mysql", False)
    assert prices.rds_instance_hour("us-east-1", "db.m5.large", "mysql", True) == 2 * single  # type: ignore[operator]


def test_unknown_prices_are_none_never_zero() -> None:
    prices = BundledPrices()
    assert prices.ec2_instance_hour("us-east-1", "u-24tb1.metal") is None
    assert prices.ec2_instance_hour("ap-east-1", "t3.micro") is None
    assert prices.rds_instance_hour("us-east-1", "db.m5.large", "oracle-ee", False) is None
    assert ebs_volume_month(prices, "me-south-1", "gp3", 10) is None
    assert monthly(None) is None


def test_provisioned_iops_and_throughput_are_priced() -> None:
    prices = BundledPrices()
    # io1: 100 GiB x $0.125 + 1,000 IOPS x $0.065
    assert ebs_volume_month(prices, "us-east-1", "io1", 100, 1000) == Decimal("77.500")
    # gp3: 3,000 IOPS and 125 MiB/s are free
    assert ebs_volume_month(prices, "us-east-1", "gp3", 100, 3000, 125) == Decimal("8.00")
    assert ebs_volume_month(prices, "us-east-1", "gp3", 100, 6000, 250) == Decimal("28.000")


def _price_item(usd: str) -> str:
    return json.dumps(
        {
            "product": {"attributes": {"instanceType": "m5.large"}},
            "terms": {
                "OnDemand": {
                    "T1": {"priceDimensions": {"D1": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}}}
                }
            },
        }
    )


def test_pricing_api_answers_are_cached_on_disk(tmp_path: Path) -> None:
    client = boto3.client("pricing", region_name="us-east-1")
    calls: list[int] = []
    with Stubber(client) as stubber:
        stubber.add_response(
            "get_products",
            {"PriceList": [_price_item("0.0970000000")], "FormatVersion": "aws_v1"},
            {
                "ServiceCode": "AmazonEC2",
                "Filters": [
                    {"Type": "TERM_MATCH", "Field": "instanceType", "Value": "m5.large"},
                    {"Type": "TERM_MATCH", "Field": "location", "Value": "US East (N. Virginia)"},
                    {"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "Linux"},
                    {"Type": "TERM_MATCH", "Field": "tenancy", "Value": "Shared"},
                    {"Type": "TERM_MATCH", "Field": "preInstalledSw", "Value": "NA"},
                    {"Type": "TERM_MATCH", "Field": "capacitystatus", "Value": "Used"},
                ],
                "MaxResults": 10,
            },
        )

        def factory() -> Any:
            calls.append(1)
            return client

        cache = tmp_path / "pricing-cache.json"
        api = PricingApiPrices(factory, cache)
        assert api.ec2_instance_hour("us-east-1", "m5.large") == Decimal("0.0970000000")
        assert api.ec2_instance_hour("us-east-1", "m5.large") == Decimal("0.0970000000")
        stubber.assert_no_pending_responses()
    assert calls == [1]
    assert "0.0970000000" in cache.read_text()

    def unreachable() -> Any:
        raise AssertionError("the cache must answer without calling the API")

    assert PricingApiPrices(unreachable, cache).ec2_instance_hour(
        "us-east-1", "m5.large"
    ) == Decimal("0.0970000000")


def test_unreachable_pricing_api_falls_back_to_the_book_after_one_try(tmp_path: Path) -> None:
    client = boto3.client("pricing", region_name="us-east-1")
    attempts: list[int] = []
    with Stubber(client) as stubber:
        stubber.add_client_error("get_products", "AccessDeniedException", "no pricing:GetProducts")

        def factory() -> Any:
            attempts.append(1)
            return client

        api = PricingApiPrices(factory, tmp_path / "cache.json")
        assert api.ec2_instance_hour("us-east-1", "t3.micro") == Decimal("0.0104")
        assert api.ec2_instance_hour("us-east-1", "t3.small") == Decimal("0.0208")
        assert api.ec2_instance_hour("us-east-1", "x9.mega") is None
        stubber.assert_no_pending_responses()
    assert attempts == [1]
