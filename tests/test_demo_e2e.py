"""`finops demo --auto-approve` end to end, as a new user runs it: its summary matches the truth."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_auto_approved_demo_matches_the_sandbox_ground_truth(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FINOPS_", "PREFECT_"))}
    env.update(FINOPS_DATA_DIR=str(tmp_path / ".finops"), DEMO_AUTO_APPROVE="1")
    result = subprocess.run(
        [sys.executable, "-m", "finops", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]

    anomalies = re.search(r"Anomalies: (\d+) of (\d+) injected anomalies found", output)
    assert anomalies is not None, output
    assert int(anomalies[2]) > 0 and anomalies[1] == anomalies[2]

    flagged = re.search(r"(\d+) of (\d+) flagged resources found", output)
    assert flagged is not None, output
    assert int(flagged[2]) > 0 and flagged[1] == flagged[2]
    assert "not flagged" not in output

    approved = re.search(r"Approved (\d+) of (\d+) findings waiting", output)
    remediation = re.search(
        r"Remediation \(approved, approver demo-auto-approver, dry run False\): "
        r"(\d+) attempted, (\d+) succeeded, (\d+) skipped, (\d+) failed",
        output,
    )
    assert approved is not None and remediation is not None, output
    assert int(approved[1]) > 0
    assert remediation[1] == approved[1]
    assert remediation[4] == "0"
    # Every approved action is done, unless its resource was busy again when it was re-checked
    # (a bursty instance whose daily burst fell since detection): a skip with that reason only.
    assert int(remediation[2]) + int(remediation[3]) == int(remediation[1])
    skips = re.findall(r"^  skipped +(\d+): (.*)$", output, flags=re.MULTILINE)
    assert sum(int(count) for count, _ in skips) == int(remediation[3]), output
    assert all("busy again" in reason for _, reason in skips), skips

    # The console said what finops-daily was doing while it ran, and the approval hint is a
    # command a new shell can run: this environment's finops by full path, the API URL in front.
    assert re.search(r"ingest-costs completed after \d+\.\d s", output), output
    hint = re.search(
        r"^    PREFECT_API_URL=(http://127\.0\.0\.1:\d+/api) \S+ (\S+) approve ", output, re.M
    )
    assert hint is not None, output
    assert os.access(hint[2], os.X_OK), hint[0]

    # Everything the demo started is stopped, and the audit log names the approver.
    assert "stopped:" in output
    assert not (tmp_path / ".finops" / "demo" / "demo.json").exists()
    audit = (tmp_path / ".finops" / "audit.jsonl").read_text()
    assert '"approver":"demo-auto-approver"' in audit.replace(" ", "")
