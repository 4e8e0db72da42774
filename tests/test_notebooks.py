"""The evaluation notebook: committed without outputs, and executed on a real pipeline run.

The pipeline runs against the session sandbox into a temporary data dir: ``finops-daily``
(ingest with the quality gate, anomalies, idle scan, report into the outbox), then a small live
remediation approved by name (a volume created for it is deleted; another, protected after
detection, is skipped).  papermill executes ``notebooks/evaluation.ipynb`` with the stores as
parameters; the test checks that it drew its figures and that its key numbers are the stores'.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import nbformat
import pytest

from finops.demo import ROOT
from tasks.anomalies.backtest import monitor_id_of
from tasks.costs.store import CostStore
from tasks.findings.model import Finding
from tasks.findings.store import FindingsStore
from tests.plugins.sandbox import SandboxHandle

NOTEBOOK = ROOT / "notebooks" / "evaluation.ipynb"
APPROVER = "Eva Notebook"


def test_committed_notebook_has_no_outputs_and_a_parameters_cell() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert code_cells, "the notebook has no code"
    for cell in code_cells:
        assert cell.outputs == [], f"committed with outputs: {cell.source[:60]!r}"
        assert cell.execution_count is None
    tagged = [c for c in code_cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for name in ("cost_store_url", "findings_url", "audit_log_url", "start", "end"):
        assert f"{name} = " in tagged[0].source


def small_remediation(box: SandboxHandle, findings_url: str) -> dict[str, Any]:
    """Two volumes created now, offered for approval: one deleted, one protected meanwhile."""
    from tasks.remediation.tasks import apply_approval, select_candidates
    from tasks.settings import load_settings

    account, region = box.accounts[1], box.regions[0]
    ec2 = box.client("ec2", account, region)
    volumes = [
        ec2.create_volume(AvailabilityZone=f"{region}a", Size=20, VolumeType="gp2")["VolumeId"]
        for _ in range(2)
    ]
    try:
        findings = [
            Finding(
                check="ebs-unattached",
                account_id=account,
                region=region,
                resource_id=volume,
                resource_arn=f"arn:aws:ec2:{region}:{account}:volume/{volume}",
                resource_type="ebs-volume",
                monthly_savings_usd=Decimal("1.60"),
                detected_at=datetime.now(UTC),
            )
            for volume in volumes
        ]
        store = FindingsStore(findings_url)
        store.record_scan(findings)
        # After detection, before the approval is carried out: one volume gets protected.
        ec2.create_tags(Resources=[volumes[1]], Tags=[{"Key": "finops:protected", "Value": "true"}])
        candidates = select_candidates(store, [f.fingerprint for f in findings])
        values = {
            "decision": "approve",
            "findings": [c.label for c in candidates],
            "actions": [c.action_label("delete") for c in candidates],
            "approver": APPROVER,
            "comment": "notebook test",
        }
        status, approver, results = apply_approval.fn(
            values, candidates, "notebook-test", False, load_settings()
        )
        assert (status, approver) == ("approved", APPROVER)
    finally:
        # The session sandbox stays as seeded, whatever happened: remove what is left.
        left = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": volumes}])
        for volume in left["Volumes"]:
            ec2.delete_volume(VolumeId=volume["VolumeId"])
    return {r.resource_id: r.result for r in results}


def evaluation_summary(executed: Any) -> dict[str, Any]:
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "") if output.get("output_type") == "stream" else ""
            for line in text.splitlines():
                if line.startswith("EVALUATION "):
                    return dict(json.loads(line.removeprefix("EVALUATION ")))
    raise AssertionError("the notebook printed no EVALUATION summary")


def test_evaluation_notebook_on_a_sandbox_pipeline_run(
    sandbox_env: SandboxHandle,
    prefect_harness: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import papermill

    from flows.finops_daily import finops_daily

    data_dir = tmp_path / "state"
    monkeypatch.setenv("FINOPS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("FINOPS_AWS__REGIONS", json.dumps(list(sandbox_env.regions)))
    daily = finops_daily(request_approval_run=False)
    assert daily.failures == {}
    findings_url = f"sqlite:///{data_dir / 'findings.db'}"
    results = small_remediation(sandbox_env, findings_url)
    assert sorted(results.values()) == ["skipped", "succeeded"]

    cost_store_url = str(data_dir / "costs")
    audit_log_url = str(data_dir / "audit.jsonl")
    end = daily.day
    start = end - timedelta(days=119)
    executed_path = tmp_path / "evaluation.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(executed_path),
        parameters={
            "cost_store_url": cost_store_url,
            "findings_url": findings_url,
            "audit_log_url": audit_log_url,
            "start": start.isoformat(),
            "end": end.isoformat(),
        },
        kernel_name="python3",
        cwd=str(ROOT),
        progress_bar=False,
        execution_timeout=300,
    )
    executed = nbformat.read(executed_path, as_version=4)
    figures = [
        o for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    # Spend trend, budget burn, savings, latency.
    assert len(figures) == 4
    summary = evaluation_summary(executed)

    # Spend: the cost store's own sum over the range, to the cent.
    spent = CostStore(cost_store_url).query(
        "select sum(effective_cost) as usd from costs "
        f"where charge_date between '{start}' and '{end}'"
    )
    expected_spend = Decimal(str(float(spent["usd"].iloc[0]))).quantize(Decimal("0.01"))
    assert Decimal(summary["spend_usd"]) == expected_spend
    daily_spend = CostStore(cost_store_url).query(
        "select charge_date, sum(effective_cost) as usd from costs "
        f"where charge_date between '{start}' and '{end}' group by 1"
    )
    assert summary["days_over_budget"] == int((daily_spend["usd"] > 1000).sum())

    # Every anomaly injected in the range (above the alert threshold) is marked on its monitor.
    injected = [
        a
        for a in sandbox_env.ground_truth["anomalies"]
        if start <= date.fromisoformat(str(a["start"])) <= end
        and abs(float(a["impact_usd"])) >= 100
        and a["kind"] != "drop"
    ]
    assert injected, "the sandbox injects anomalies into the evaluated range"
    marked = [(m, date.fromisoformat(d)) for m, d in summary["anomaly_starts"]]
    for truth in injected:
        wanted, began = monitor_id_of(truth), date.fromisoformat(str(truth["start"]))
        assert any(m == wanted and abs((d - began).days) <= 1 for m, d in marked), truth
    assert summary["anomalies"] == len(marked)

    # Savings: the findings store's sums, by check and in total.
    stored = FindingsStore(findings_url).list()
    assert summary["findings"] == len(stored)
    assert Decimal(summary["savings_found_usd_per_month"]) == sum(
        (s.finding.monthly_savings_usd or Decimal(0) for s in stored), Decimal(0)
    )
    by_check: dict[str, Decimal] = {}
    for s in stored:
        by_check[s.finding.check] = by_check.get(s.finding.check, Decimal(0)) + (
            s.finding.monthly_savings_usd or Decimal(0)
        )
    assert {k: Decimal(v) for k, v in summary["savings_by_check_usd_per_month"].items()} == by_check

    # Remediation: one done, one skipped by the safety re-check, none failed.
    assert (
        summary["actions_attempted"],
        summary["actions_succeeded"],
        summary["actions_skipped"],
        summary["actions_failed"],
        summary["success_rate"],
    ) == (2, 1, 1, 0, 1.0)

    # Every finding of the scan reached the day's digest; the latency is measured for each.
    assert daily.scan is not None
    scanned = len(daily.scan.findings)
    assert summary["notifications_timed"] >= scanned > 0
    assert all(v >= 0 for v in summary["median_latency_s"].values())
