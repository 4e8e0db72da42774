"""`finops demo`: the whole journey on one machine, from an empty folder to an approved clean-up.

Starts a local Prefect server (SQLite) and the sandbox AWS organisation, registers prefect.yaml's
deployments (with the local overlay of ``deployments/local.py``) on a local process work pool and
starts a worker for it, runs ``finops-daily`` end to end, and leaves the remediation run waiting
for a person's approval in the Prefect UI (or approves the safe actions itself with
``DEMO_AUTO_APPROVE=1``).  Everything it starts is recorded in ``<data_dir>/demo/demo.json``
(and the demo itself in ``~/.finops/demos/``), so ``finops demo --stop`` (``make demo-stop``)
from any shell, or Ctrl-C, stops it; a second demo in the same folder moves the previous one's
data aside first.

By concern:

- ``processes``: the Prefect server, the sandbox, the worker, and the state file;
- ``admin``: Prefect administration (pool, deployments, runs, waiting for and giving approval);
- ``seams``: the one place the demo reads flow results and the safe actions;
- ``scoring``: anomalies found vs injected, findings vs the sandbox's flagged resources;
- ``summary``: the printed summary and stage times;
- ``run``: ``run_demo``, the stages in order.
"""

from __future__ import annotations

from finops.demo.admin import (
    AUTO_APPROVER,
    WORK_POOL,
    prefect_settings,
    register_deployments,
    safe_fingerprints,
    wait_for_final,
    wait_for_paused_run,
)
from finops.demo.errors import DemoError
from finops.demo.processes import (
    ROOT,
    DemoState,
    _kill_group,
    _spawn,
    _wait_http,
    demo_dir,
    free_port,
    prefect_env,
    state_file,
    stop_demo,
)
from finops.demo.run import run_demo
from finops.demo.scoring import anomaly_backtest, findings_vs_truth
from finops.demo.seams import run_result, safe_actions
from finops.demo.summary import summarise, timing_lines

__all__ = [
    "AUTO_APPROVER",
    "ROOT",
    "WORK_POOL",
    "DemoError",
    "DemoState",
    "_kill_group",
    "_spawn",
    "_wait_http",
    "anomaly_backtest",
    "demo_dir",
    "findings_vs_truth",
    "free_port",
    "prefect_env",
    "prefect_settings",
    "register_deployments",
    "run_demo",
    "run_result",
    "safe_actions",
    "safe_fingerprints",
    "state_file",
    "stop_demo",
    "summarise",
    "timing_lines",
    "wait_for_final",
    "wait_for_paused_run",
]
