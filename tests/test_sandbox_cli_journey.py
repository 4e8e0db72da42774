"""The newcomer's journey: `eval "$(finops sandbox env)"` is all the configuration needed.

Each command runs as its own `finops` process in an empty folder, with no FINOPS_ or AWS_ variable
but what `finops sandbox env` printed (evaluated by a real shell), pointed at the session's Prefect
server the way a user's PREFECT_API_URL would point at theirs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugins.sandbox import SandboxHandle

FINOPS = [sys.executable, "-m", "finops"]


def _shell_env(sandbox: SandboxHandle, api_url: str) -> dict[str, str]:
    """The environment after `eval "$(finops sandbox env)"` in a shell with nothing set."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FINOPS_", "AWS_", "PREFECT_")) and k != "PYTHONPATH"
    }
    base |= {"PREFECT_API_URL": api_url, "PREFECT_HOME": os.environ.get("PREFECT_HOME", "")}
    env_cmd = " ".join([*FINOPS, "sandbox", "env", "--state-file", str(sandbox.state_path)])
    printed = subprocess.run(
        ["bash", "-c", f'eval "$({env_cmd})" && env -0'],
        env=base,
        capture_output=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    pairs = (item.split("=", 1) for item in printed.stdout.decode().split("\0") if "=" in item)
    return dict(pairs)


@pytest.mark.slow
def test_sandbox_env_alone_serves_every_command(
    sandbox: SandboxHandle, prefect_harness: None, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL

    env = _shell_env(sandbox, str(PREFECT_API_URL.value()))
    assert env["AWS_ENDPOINT_URL"] == sandbox.endpoint_url
    assert env["FINOPS_COSTS__EXPORT_URL"].startswith("s3://")
    assert "AWS_PROFILE" not in env

    def finops(*args: str) -> str:
        result = subprocess.run(
            [*FINOPS, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"finops {' '.join(args)}: {result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr
        return result.stdout

    exported = finops("ingest", "--source", "export")
    assert exported.startswith("export: ") and " rows over " in exported
    costs = finops("costs")
    assert "Amazon Elastic Compute Cloud" in costs or "EC2" in costs
    explorer = finops("ingest", "--source", "ce", "--start", "2026-01-01", "--end", "2026-01-07")
    assert explorer.startswith("ce: ") and "Cost Explorer requests" in explorer
    assert "anomal" in finops("anomalies").lower()
    findings = json.loads(finops("scan", "--format", "json"))
    flagged = {
        r["resource_id"]
        for r in sandbox.ground_truth["resources"]
        if any(r.get("expected", {}).values())
    }
    assert {f["resource_id"] for f in findings} <= flagged and findings
    assert {f["region"] for f in findings} == set(sandbox.regions)
    listed = finops("findings", "--status", "open")
    assert all(f["fingerprint"][:12] in listed for f in findings)
