"""Benchmark of code ownership and the code path on the sandbox: who owns what, and one PR.

Starts a sandbox (the default test organisation: 3 accounts x 2 regions), then measures what
the product does:

1. recognition: the Terraform state read from the sandbox's S3 (``tasks.iac.state``) and every
   resource's live tags give an owner; precision and recall against the ground truth's ``iac``;
2. the scan: every check over every account x region (the scanner the flow runs), its findings
   annotated with their owners (the flow's ``annotate-code-ownership`` step): precision and
   recall of the owners on the findings, and the step's time;
3. the code path: one pull request for every Terraform-owned finding, against a copy of the
   sandbox's Git repository and a local server speaking GitHub's REST API
   (``tests/plugins/github.py``): wall time, files changed, and whether the edited files format
   (tools/hclfmt) and parse (python-hcl2).

Figures are printed and appended to bench/RESULTS.md with the machine, its load and the date.

Usage::

    .venv/bin/python bench/bench_iac.py
    .venv/bin/python bench/bench_iac.py --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import load_average, machine, record  # noqa: E402
from sandbox.context import SandboxSize  # noqa: E402
from sandbox.state import start_server, stop_server, wait_ready  # noqa: E402
from tasks.aws.session import AwsAccess, fan_out  # noqa: E402
from tasks.iac.ownership import Ownership, owner_of  # noqa: E402
from tasks.iac.pull_request import CodePath  # noqa: E402
from tasks.iac.state import annotate, load_ownership  # noqa: E402
from tasks.idle.checks import select_checks  # noqa: E402
from tasks.idle.registry import resolve_params  # noqa: E402
from tasks.idle.scan import IdleScanner  # noqa: E402
from tasks.pricing.book import BundledPrices  # noqa: E402
from tasks.settings import IacSettings, load_settings  # noqa: E402
from tests.plugins.github import TOKEN, start_github  # noqa: E402


def scores(found: set[Any], truth: set[Any]) -> tuple[float, float]:
    """(precision, recall); 1.0 for an empty side with nothing wrong."""
    hit = len(found & truth)
    return (hit / len(found) if found else 1.0, hit / len(truth) if truth else 1.0)


def live_tags(access: AwsAccess, accounts: list[str], regions: list[str]) -> dict[str, Any]:
    tags: dict[str, dict[str, str]] = {}
    for account in accounts:
        for region in regions:
            ec2 = access.client("ec2", account, region)
            for page in ec2.get_paginator("describe_tags").paginate():
                for tag in page["Tags"]:
                    tags.setdefault(tag["ResourceId"], {})[tag["Key"]] = tag["Value"]
    return tags


def run(workdir: Path, seed: int) -> dict[str, Any]:
    size = SandboxSize()
    state_path = workdir / "sandbox" / "state.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.pop("AWS_PROFILE", None)
    process = start_server(state_path, seed, size.as_dict(), env=env)
    try:
        state = wait_ready(state_path, process, timeout_s=1200)
        truth = json.loads(Path(state.ground_truth_path).read_text())
        os.environ.update(
            AWS_ENDPOINT_URL=state.endpoint_url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
        )
        os.environ.pop("AWS_PROFILE", None)
        iac = truth["iac"]
        owned = {(r["account_id"], r["resource_id"]): r for r in iac["owned"]}
        settings = load_settings()
        access = AwsAccess(settings.aws)
        accounts, regions = truth["accounts"], truth["regions"]

        started = time.perf_counter()
        terraform = load_ownership(access.client("s3", accounts[0], "us-east-1"), iac["state_urls"])
        read_s = time.perf_counter() - started
        tags = live_tags(access, accounts, regions)
        recognised = set()
        for record_ in truth["resources"]:
            live = tags.get(record_["resource_id"], record_["tags"])
            if owner_of(record_["arn"], record_["resource_id"], live, terraform):
                recognised.add((record_["account_id"], record_["resource_id"]))
        recognition = scores(recognised, set(owned))

        checks = select_checks(None)
        scanner = IdleScanner(
            access,
            checks,
            resolve_params(checks, {}),
            BundledPrices(),
            settings.idle,
            datetime.now(UTC),
        )
        started = time.perf_counter()
        out = fan_out(scanner.scan_target, access.targets(accounts, regions), 4)
        scan_s = time.perf_counter() - started
        findings = [f for scan in out.results.values() for f in scan.findings]
        started = time.perf_counter()
        annotated = annotate(findings, terraform)
        annotate_s = time.perf_counter() - started
        said = {(f.account_id, f.resource_id) for f in annotated if f.evidence["iac"]}
        truth_on_findings = {(f.account_id, f.resource_id) for f in annotated} & set(owned)
        on_findings = scores(said, truth_on_findings)
        right_address = sum(
            1
            for f in annotated
            if f.evidence["iac"]
            and f.evidence["iac"]["address"] == owned[(f.account_id, f.resource_id)]["address"]
        )

        remote = workdir / "remote.git"
        shutil.copytree(iac["repo"]["path"], remote)
        fake, server = start_github(remote)
        try:
            os.environ["GITHUB_TOKEN"] = TOKEN
            path = CodePath(
                IacSettings(
                    repo_url=str(remote),
                    repo_path=iac["repo"]["dir"],
                    github_api_url=fake.base_url,
                    github_repo=fake.repo,
                ),
                workdir / "data",
                "http://127.0.0.1:4200",
            )
            items = []
            for finding in annotated:
                code = finding.evidence["iac"]
                if code and code["kind"] == "terraform":
                    items.append((finding, Ownership.model_validate(code)))
            started = time.perf_counter()
            outcomes = path.propose("bench-run", "Bench Approver", items, dry_run=False)
            pr_s = time.perf_counter() - started
        finally:
            server.shutdown()
            server.server_close()
        review = workdir / "review"
        branch = "finops/bench-run"
        subprocess.run(["git", "clone", "-q", "-b", branch, str(remote), str(review)], check=True)
        changed = subprocess.run(
            ["git", "-C", str(review), "diff", "--name-only", "origin/main", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        node = shutil.which("node")
        fmt_ok = (
            node is not None
            and subprocess.run(
                [node, str(ROOT / "tools/hclfmt/check.js"), str(review)], capture_output=True
            ).returncode
            == 0
        )
        import hcl2

        for name in changed:
            hcl2.loads((review / name).read_text())
        results: dict[str, int] = {}
        for outcome in outcomes.values():
            results[outcome.result] = results.get(outcome.result, 0) + 1
        return {
            "resources": len(truth["resources"]),
            "owned": len(owned),
            "terraform": sum(1 for r in owned.values() if r["owner"] == "terraform"),
            "cloudformation": sum(1 for r in owned.values() if r["owner"] == "cloudformation"),
            "recognition": recognition,
            "state_read_s": read_s,
            "findings": len(findings),
            "owned_findings": len(truth_on_findings),
            "on_findings": on_findings,
            "right_address": right_address,
            "scan_s": scan_s,
            "annotate_s": annotate_s,
            "pr_items": len(items),
            "pr_results": results,
            "pulls": len(fake.pulls),
            "pr_s": pr_s,
            "changed_files": len(changed),
            "formatted": fmt_ok,
        }
    finally:
        stop_server(state_path)
        process.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    load = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-iac-") as scratch:
        figures = run(Path(scratch), args.seed)
    rec_p, rec_r = figures["recognition"]
    fin_p, fin_r = figures["on_findings"]
    text = (
        f"\n## bench_iac: code ownership and the pull request ({datetime.now(UTC):%Y-%m-%d})\n\n"
        f"Machine: {machine()}; load before: {load}; after: {load_average()}. Sandbox seed "
        f"{args.seed}, 3 accounts x 2 regions, {figures['resources']} resources, of which "
        f"{figures['owned']} are owned by code ({figures['terraform']} Terraform, "
        f"{figures['cloudformation']} CloudFormation).\n\n"
        "| figure | value |\n|---|---:|\n"
        f"| recognition over every resource: precision / recall | {rec_p:.3f} / {rec_r:.3f} |\n"
        f"| state read from S3 and indexed | {figures['state_read_s'] * 1000:.0f} ms |\n"
        f"| scan (every check, 6 targets) | {figures['scan_s']:.1f} s, "
        f"{figures['findings']} findings |\n"
        f"| owners on findings: precision / recall ({figures['owned_findings']} owned) "
        f"| {fin_p:.3f} / {fin_r:.3f} |\n"
        f"| owners with the ground truth's address | {figures['right_address']} |\n"
        f"| annotate-code-ownership step | {figures['annotate_s'] * 1000:.1f} ms |\n"
        f"| one pull request for {figures['pr_items']} Terraform-owned findings "
        f"| {figures['pr_s']:.2f} s ({figures['pulls']} PR, {figures['changed_files']} files) |\n"
        f"| outcomes | {json.dumps(figures['pr_results'])} |\n"
        f"| edited files formatted (hclfmt) and parsed (python-hcl2) | {figures['formatted']} |\n"
    )
    print(text)
    if not args.no_write:
        record(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
