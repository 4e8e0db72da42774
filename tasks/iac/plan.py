"""``terraform plan`` on the edited branch, when it can run, and what it says.

:func:`run_plan` runs ``terraform init -input=false`` and ``terraform plan -out`` in the root
folder of the clone, then ``terraform show -json`` of the plan; :func:`summarize` counts what it
would add, change and destroy and names every destroy that no finding asked for (those block the
pull request).  Where no plan can run (the setting is off, no binary, providers that cannot be
installed, no credentials), :class:`PlanReport` says so plainly and why, and the pull request
carries that sentence instead of a summary.

Example:
    >>> plan = {"resource_changes": [{"address": "aws_ebs_volume.a",
    ...     "change": {"actions": ["delete"]}}]}
    >>> summarize(plan, {"aws_ebs_volume.a"}).text()
    'Plan: 0 to add, 0 to change, 1 to destroy.'
    >>> summarize(plan, set()).blocked
    ['aws_ebs_volume.a']
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class PlanReport:
    """A plan's counts (when one ran), or why none ran."""

    ran: bool
    add: int = 0
    change: int = 0
    destroy: int = 0
    #: destroys (or replacements) no finding named: they block the pull request
    blocked: list[str] = field(default_factory=list)
    why_not: str = ""

    def text(self) -> str:
        if not self.ran:
            return f"No plan ran: {self.why_not}."
        line = f"Plan: {self.add} to add, {self.change} to change, {self.destroy} to destroy."
        if self.blocked:
            line += f" Destroys not asked for: {', '.join(self.blocked)}."
        return line


def summarize(plan: Mapping[str, Any], allowed_destroy: set[str]) -> PlanReport:
    """Counts of a ``terraform show -json`` plan; a delete outside ``allowed_destroy`` blocks.

    A replacement (``["delete", "create"]``) counts as one add and one destroy, as Terraform's
    own summary does.
    """
    report = PlanReport(ran=True)
    for change in plan.get("resource_changes") or []:
        actions = list((change.get("change") or {}).get("actions") or [])
        address = str(change.get("address", ""))
        if "create" in actions:
            report.add += 1
        if "delete" in actions:
            report.destroy += 1
            if address not in allowed_destroy:
                report.blocked.append(address)
        if actions == ["update"]:
            report.change += 1
    return report


def _first_error(output: str) -> str:
    for line in output.splitlines():
        line = line.strip(" │╷╵")
        if line.startswith("Error:"):
            return line
    return (output.strip().splitlines() or ["no output"])[-1][:200]


def run_plan(
    binary: str, root: Path, allowed_destroy: set[str], timeout_s: float = 600
) -> PlanReport:
    """Plan the configuration in ``root``; never raises for a plan that cannot run."""
    exe = shutil.which(binary)
    if exe is None:
        return PlanReport(ran=False, why_not=f"no terraform binary ({binary!r} is not on PATH)")
    env_args = {"cwd": root, "capture_output": True, "text": True, "timeout": timeout_s}
    steps = [
        ("terraform init", [exe, "init", "-input=false", "-no-color"]),
        ("terraform plan", [exe, "plan", "-input=false", "-no-color", "-out=finops.tfplan"]),
    ]
    try:
        for name, command in steps:
            done = subprocess.run(command, check=False, **env_args)  # type: ignore[call-overload]
            if done.returncode != 0:
                why = _first_error(done.stderr + done.stdout)
                return PlanReport(ran=False, why_not=f"{name} failed: {why}")
        shown = subprocess.run([exe, "show", "-json", "finops.tfplan"], check=False, **env_args)  # type: ignore[call-overload]
    except subprocess.TimeoutExpired:
        return PlanReport(ran=False, why_not=f"terraform did not finish in {timeout_s:g} s")
    if shown.returncode != 0:
        return PlanReport(ran=False, why_not=f"terraform show failed: {_first_error(shown.stderr)}")
    return summarize(json.loads(shown.stdout), allowed_destroy)


__all__ = ["PlanReport", "run_plan", "summarize"]
