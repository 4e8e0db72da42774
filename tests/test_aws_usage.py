"""The tool's own AWS bill: requests counted per service and operation, retries included, priced."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from tasks.aws.session import AwsAccess, Target, boto_config, fan_out
from tasks.aws.usage import RequestCounter, athena_billed_bytes, count_requests, price_of
from tasks.settings import AwsSettings
from tests.plugins.sandbox import SandboxHandle


class _FlakyCostExplorer:
    """A loopback Cost Explorer that answers the first ``failures`` requests with HTTP 500."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.received.append(self.headers.get("X-Amz-Target", ""))
                if len(outer.received) <= outer.failures:
                    status = 500
                    body: dict[str, Any] = {"__type": "InternalServerError", "message": "boom"}
                else:
                    status = 200
                    body = {"ResultsByTime": [], "DimensionValueAttributes": []}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def flaky_ce() -> Iterator[_FlakyCostExplorer]:
    server = _FlakyCostExplorer(failures=2)
    try:
        yield server
    finally:
        server.close()


def _get_costs(client: Any) -> None:
    client.get_cost_and_usage(
        TimePeriod={"Start": "2026-11-01", "End": "2026-11-02"},
        Granularity="DAILY",
        Metrics=["UnblendedCost"],
    )


def test_retries_are_counted_and_billed(flaky_ce: _FlakyCostExplorer) -> None:
    client = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("ce", endpoint_url=flaky_ce.url, config=boto_config(AwsSettings(max_attempts=5)))
    counter = RequestCounter().attach(client)

    _get_costs(client)

    # the server saw three attempts (two 500s, then the answer); so did the counter and the bill
    assert len(flaky_ce.received) == 3
    assert counter.counts() == {("cost-explorer", "GetCostAndUsage"): 3}
    assert counter.cost_usd() == {"cost-explorer": 0.03, "total": 0.03}


def test_count_requests_sees_every_access_client_across_threads(sandbox_env: SandboxHandle) -> None:
    access = AwsAccess(AwsSettings(regions=sandbox_env.regions))
    members = sandbox_env.member_accounts
    before = access.client("ec2", access.caller_account_id, "us-east-1")
    before.describe_regions()  # made and used before the context: not counted

    with count_requests() as counter:
        before.describe_volumes()
        for account in members:  # role sessions first, one AssumeRole each
            access.session(account)
        outcome = fan_out(
            lambda t: access.client("ec2", t.account_id, t.region).describe_volumes(),
            [Target(account, region) for account in members for region in sandbox_env.regions],
            max_concurrency=4,
        )
    access.client("ec2", members[0], "us-east-1").describe_volumes()  # after: not counted

    assert outcome.ok
    targets = len(members) * len(sandbox_env.regions)
    counts = counter.counts()
    assert counts[("ec2", "DescribeVolumes")] == 1 + targets
    assert counts[("sts", "AssumeRole")] == len(members)
    assert ("ec2", "DescribeRegions") not in counts
    assert counter.cost_usd() == {"ec2": 0.0, "sts": 0.0, "total": 0.0}


def test_an_attached_session_counts_only_its_own_clients(sandbox: SandboxHandle) -> None:
    counted = sandbox.session()
    counter = RequestCounter().attach(counted)
    ours = counted.client("s3", endpoint_url=sandbox.endpoint_url, config=boto_config())
    other = sandbox.client("s3")

    ours.list_buckets()
    ours.list_buckets()
    other.list_buckets()

    assert counter.counts() == {("s3", "ListBuckets"): 2}
    assert counter.cost_usd()["s3"] == pytest.approx(2 * 0.005 / 1000)


def test_prices_follow_the_public_price_list() -> None:
    counter = RequestCounter()
    counter.record("cost-explorer", "GetCostAndUsage", 12)
    counter.record("cloudwatch", "GetMetricData", 2, metrics=2500)
    counter.record("pricing", "GetProducts", 40)
    counter.record("athena", "StartQueryExecution", 3)

    cost = counter.cost_usd(athena_bytes_scanned=athena_billed_bytes(0) * 3)

    assert cost["cost-explorer"] == pytest.approx(0.12)
    assert cost["cloudwatch"] == pytest.approx(0.025)  # per 1,000 metrics, not per request
    assert cost["pricing"] == 0.0
    assert cost["athena"] == pytest.approx(5 * 30e6 / 1e12)  # 10 MB minimum a query
    assert cost["total"] == pytest.approx(0.12 + 0.025 + 5 * 30e6 / 1e12)
    assert price_of("ec2", "DescribeInstances") is None
    rows = counter.as_rows()
    assert {row["operation"]: row["requests"] for row in rows}["GetMetricData"] == 2


def test_get_metric_data_metrics_are_counted_from_the_call(sandbox: SandboxHandle) -> None:
    cloudwatch = sandbox.session().client(
        "cloudwatch", endpoint_url=sandbox.endpoint_url, config=boto_config()
    )
    counter = RequestCounter().attach(cloudwatch)
    queries = [
        {
            "Id": f"m{i}",
            "MetricStat": {
                "Metric": {"Namespace": "AWS/EC2", "MetricName": "CPUUtilization"},
                "Period": 3600,
                "Stat": "Average",
            },
        }
        for i in range(3)
    ]
    cloudwatch.get_metric_data(
        MetricDataQueries=queries,
        StartTime="2026-11-01T00:00:00Z",
        EndTime="2026-11-02T00:00:00Z",
    )

    assert counter.counts() == {("cloudwatch", "GetMetricData"): 1}
    assert counter.metrics() == {("cloudwatch", "GetMetricData"): 3}
    assert counter.cost_usd()["cloudwatch"] == pytest.approx(0.00003)
