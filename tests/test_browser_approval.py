"""The approval as a person gives it: headless Chromium fills the Prefect UI's Resume form.

A real ``prefect server start`` (its own home and SQLite database, on a free loopback port, started
with the demo's own helpers) serves the UI; the ``remediate-findings`` flow runs live (not dry-run)
in a subprocess against it and a fresh sandbox organisation, and pauses for approval.  Playwright
drives Debian's ``/usr/bin/chromium`` (never a downloaded browser): it opens the run's page, clicks
Resume, reads the dollars at stake and the protected finding listed apart (not offered), picks
*approve*, two of the three findings by the account/region/resource/check their labels show, types
the approver's name and a comment, and submits.  The test then checks in the sandbox that exactly
those two resources changed and that the audit log names the approver.  On failure the page's
screenshot and HTML, and the flow's and server's logs, are saved under
``test-artifacts/browser-approval/``.

Found while writing it: in headless Chromium a mouse click on a select of the Resume dialog does
not open its options (the pop-over closes again at once); the keyboard (focus, ArrowDown) opens it,
as it does for a keyboard user, and the options are then clicked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from finops.demo import ROOT, _kill_group, _spawn, _wait_http, free_port, prefect_env
from tasks.findings.model import Finding, FindingStatus
from tasks.findings.store import FindingsStore
from tasks.money import usd
from tasks.remediation.audit import AuditLog
from tests.plugins.remediation import AwsWorld
from tests.plugins.sandbox import SandboxHandle

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "browser-approval"
#: Flags for a quiet, offline, throw-away browser (headless comes from ``headless=True``).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REGION = "us-east-1"
APPROVER = "Ana Lima"
COMMENT = "approved in the browser, ticket FIN-7"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install chromium"
    ),
]


@dataclass
class PrefectServer:
    """A ``prefect server start`` subprocess (API and UI) with its own home and database."""

    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"

    def wait_ready(self) -> None:
        # Slow on a busy 2-core machine: migrations of a new SQLite database, then the UI build.
        _wait_http(f"{self.api_url}/health", self.process, self.log, 300)
        _wait_http(f"{self.ui_url}/", self.process, self.log, 60)

    def paused_runs(self) -> list[dict[str, Any]]:
        response = httpx.post(
            f"{self.api_url}/flow_runs/filter",
            json={"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}},
            timeout=30,
        )
        response.raise_for_status()
        return list(response.json())

    def flow_run(self, run_id: str) -> dict[str, Any]:
        response = httpx.get(f"{self.api_url}/flow_runs/{run_id}", timeout=30)
        response.raise_for_status()
        return dict(response.json())


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[PrefectServer]:
    """Spawn the server (not yet waited for, so the sandbox can seed meanwhile); stop it after."""
    port = free_port()
    env = prefect_env(tmp_path / "prefect", f"http://127.0.0.1:{port}/api")
    log = tmp_path / "prefect-server.log"
    command = [sys.executable, "-m", "prefect", "server", "start"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    process = _spawn(command, {**os.environ, **env}, log)
    try:
        yield PrefectServer(port, env, process, log)
    finally:
        _kill_group(process.pid)
        process.wait(timeout=30)


def flow_env(server: PrefectServer, box: SandboxHandle, data_dir: Path) -> dict[str, str]:
    """The environment of the flow process: the test's Prefect server, the sandbox, a data dir."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_ENDPOINT_URL") and k not in {"AWS_PROFILE", "FINOPS_DATA_DIR"}
    }
    env.pop("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", None)
    env.update(server.env)
    env.update(box.env)
    env.update(
        {
            "FINOPS_DATA_DIR": str(data_dir),
            "FINOPS_AWS__ACCOUNTS": json.dumps(box.accounts),
            "FINOPS_AWS__REGIONS": json.dumps([REGION]),
            "FINOPS_REMEDIATION__APPROVAL_POLL_S": "1",
            "FINOPS_NOTIFY__PREFECT_UI_URL": server.ui_url,
        }
    )
    return env


FLOW_SCRIPT = (
    "import json\n"
    "from flows.remediate_findings import remediate_findings\n"
    "summary = remediate_findings(dry_run=False, wait_mode='pause', approval_timeout_s=1200)\n"
    "print('SUMMARY ' + summary.model_dump_json())\n"
)


def wait_until_paused(server: PrefectServer, flow: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if flow.poll() is not None:
            raise AssertionError(f"the flow ended ({flow.returncode}) before pausing; see {log}")
        runs = server.paused_runs()
        if runs:
            return str(runs[0]["id"])
        time.sleep(0.5)
    raise AssertionError(f"no remediate-findings run paused for approval; see {log}")


def approve_in_browser(
    page: Any, url: str, chosen: list[Finding], n_offered: int, at_stake: str, kept: Finding
) -> None:
    """What the approver does on the run's page: Resume, read the totals, fill the form, Submit.

    Findings are picked by what a person reads in the option: account/region, resource, check
    and monthly dollars (not by a fingerprint).
    """
    # Not "networkidle": the UI polls the API for as long as the page is open.
    page.goto(url, wait_until="load", timeout=120_000)
    page.get_by_role("button", name="Resume", exact=True).click(timeout=120_000)
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(f"Remediation approval: {n_offered} findings").wait_for(timeout=60_000)
    text = dialog.inner_text()
    assert "LIVE" in text
    # What is at stake is shown before submit: the headline and the total line of the preview.
    assert f"{n_offered} findings, {at_stake} per month (USD) at stake" in text
    assert re.search(rf"total\s+{n_offered}\s+{re.escape(at_stake)}", text), text
    # The protected resource is listed apart, with why, and is not offered.
    assert "protected by tag finops:protected=true" in text
    assert kept.resource_id in text[text.index("Protected") :]

    def field(title: str) -> Any:
        label = page.locator(".schema-form-property__label", has_text=title)
        return dialog.locator(".schema-form-property").filter(has=label)

    def open_select(title: str) -> None:
        # Keyboard, not a click: see the module docstring.
        field(title).locator("button.p-select-button__control").focus()
        page.keyboard.press("ArrowDown")
        page.get_by_role("listbox").wait_for(timeout=30_000)

    # Nothing is approved by default: the form starts on 'reject' with no finding chosen.
    assert field("Decision").locator(".p-select-button__value").inner_text() == "reject"
    open_select("Decision")
    page.get_by_role("option", name="approve", exact=True).click()
    assert field("Decision").locator(".p-select-button__value").inner_text() == "approve"

    open_select("Findings to include")
    options = page.get_by_role("option")
    assert options.count() == n_offered
    assert options.filter(has_text=kept.resource_id).count() == 0
    for finding in chosen:
        visible = f"{finding.account_id}/{finding.region} {finding.resource_id} {finding.check} → "
        option = options.filter(has_text=visible)
        assert option.count() == 1, [options.nth(i).inner_text() for i in range(options.count())]
        assert f"{usd(finding.monthly_savings_usd or 0)}/mo" in option.inner_text()
        option.click()
    page.keyboard.press("Escape")
    field("Approver").locator("textarea, input").first.fill(APPROVER)
    field("Comment").locator("textarea, input").first.fill(COMMENT)
    page.get_by_role("button", name="Submit", exact=True).click()
    dialog.wait_for(state="hidden", timeout=60_000)


def save_artifacts(name: str, page: Any, logs: list[Path]) -> None:
    """Screenshot and HTML of the page, and the logs, for a person to see what went wrong."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if page is not None:
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            (ARTIFACTS / f"{name}.html").write_text(page.content(), encoding="utf-8")
        except Exception as error:  # the browser itself may be what failed; keep the logs
            (ARTIFACTS / f"{name}.page-error.txt").write_text(repr(error), encoding="utf-8")
    for log in logs:
        if log.exists():
            shutil.copy(log, ARTIFACTS / f"{name}.{log.name}")


def volume(box: SandboxHandle, account_id: str, volume_id: str) -> dict[str, Any] | None:
    ec2 = box.client("ec2", account_id, REGION)
    found = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume_id]}])
    return found["Volumes"][0] if found["Volumes"] else None


def test_approve_a_subset_in_the_prefect_ui_with_a_real_browser(
    prefect_server: PrefectServer,
    fresh_sandbox: Callable[..., SandboxHandle],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import sync_playwright

    box = fresh_sandbox(accounts=2, regions=(REGION,), instances=6, volumes=12, cost_days=30)
    member = box.accounts[1]
    world = AwsWorld(box.endpoint_url, account_id=member, ground_truth=box.ground_truth)
    old_volume = world.pick("unattached-old", "ebs-unattached")
    gp2 = world.pick("gp2-500", "ebs-gp2")
    address = world.pick("unassociated", "eip-unassociated")
    approved: list[Finding] = [old_volume, gp2]
    # A protected resource (as the scan stores it: tagged, only skip recommended) is not offered.
    kept = old_volume.model_copy(
        update={
            "resource_id": "vol-0protected00000",
            "tags": {"finops:protected": "true"},
            "recommended_actions": ["skip"],
            "monthly_savings_usd": Decimal("469.77"),
        }
    )
    data_dir = tmp_path / "finops"
    data_dir.mkdir()
    store = FindingsStore(f"sqlite:///{data_dir / 'findings.db'}")
    store.record_scan([*approved, address, kept])
    offered = [*approved, address]
    at_stake = usd(sum((f.monthly_savings_usd or Decimal(0) for f in offered), Decimal(0)))

    prefect_server.wait_ready()
    flow_log = tmp_path / "flow.log"
    flow = _spawn(
        [sys.executable, "-c", FLOW_SCRIPT], flow_env(prefect_server, box, data_dir), flow_log
    )
    page = None
    try:
        run_id = wait_until_paused(prefect_server, flow, flow_log)
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1400},
            )
            try:
                page = context.new_page()
                approve_in_browser(
                    page,
                    f"{prefect_server.ui_url}/runs/flow-run/{run_id}",
                    approved,
                    n_offered=3,
                    at_stake=at_stake,
                    kept=kept,
                )
            except BaseException:
                save_artifacts("approval-form", page, [flow_log, prefect_server.log])
                raise
            finally:
                context.close()
        flow.wait(timeout=300)
    except BaseException:
        save_artifacts("approval-run", None, [flow_log, prefect_server.log])
        raise
    finally:
        if flow.poll() is None:
            _kill_group(flow.pid)

    output = flow_log.read_text(encoding="utf-8")
    assert flow.returncode == 0, output[-3000:]
    (line,) = [x for x in output.splitlines() if x.startswith("SUMMARY ")]
    summary = json.loads(line.removeprefix("SUMMARY "))
    assert (summary["status"], summary["approver"], summary["dry_run"]) == (
        "approved",
        APPROVER,
        False,
    )
    assert (summary["attempted"], summary["succeeded"], summary["failed"]) == (2, 2, 0)
    assert prefect_server.flow_run(run_id)["state"]["type"] == "COMPLETED"

    # Exactly the approved resources changed, each by its default action.
    assert volume(box, member, old_volume.resource_id) is None
    ec2 = box.client("ec2", member, REGION)
    backups = ec2.describe_snapshots(
        OwnerIds=["self"],
        Filters=[{"Name": "tag:finops:backup-of", "Values": [old_volume.resource_id]}],
    )["Snapshots"]
    assert len(backups) == 1
    gp2_now = volume(box, member, gp2.resource_id)
    assert gp2_now is not None and gp2_now["VolumeType"] == "gp3"
    addresses = ec2.describe_addresses(
        Filters=[{"Name": "allocation-id", "Values": [address.resource_id]}]
    )["Addresses"]
    assert len(addresses) == 1, "the finding left out of the form must not be acted on"

    audit = AuditLog(str(data_dir / "audit.jsonl")).read()
    approvals = [r for r in audit if r.kind == "approval"]
    assert [(a.approver, a.decision, a.comment) for a in approvals] == [
        (APPROVER, "approved", COMMENT)
    ]
    acted = {r.fingerprint: r for r in audit if r.kind == "action"}
    assert set(acted) == {f.fingerprint for f in approved}
    for record in acted.values():
        assert (record.approver, record.result, record.dry_run) == (APPROVER, "succeeded", False)
    assert acted[old_volume.fingerprint].action == "snapshot_and_delete"
    assert acted[gp2.fingerprint].action == "modify_to_gp3"
    for finding in approved:
        assert store.get(finding.fingerprint).status is FindingStatus.REMEDIATED
    assert store.get(address.fingerprint).status is FindingStatus.OPEN
