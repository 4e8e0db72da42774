"""The local (sandbox) deployments: prefect.yaml's own, with one small documented overlay.

``prefect.yaml`` is the one source of the deployments.  The local set, used by
``deployments/prefect.local.yaml`` (``prefect deploy --all --prefect-file ...``) and registered by
``finops demo``, is derived from it here and differs in exactly these things (the overlay):

- **work pool**: every deployment runs on the ``finops-local`` process pool, with no job
  variables (no image, cpu or memory: a process worker runs this checkout's code);
- **pull step**: ``set_working_directory`` to the checkout (``{{ $PWD }}`` in the file, the
  checkout's path for the demo) instead of the image's ``/opt/finops``;
- **schedules**: kept, all paused (``active: false``): the demo runs ``finops-daily`` itself, and a
  sandbox should not start work at 06:00;
- **tags**: ``sandbox`` added;
- **parameters**: ``PARAMETER_OVERLAY`` below, per deployment (the sandbox's remediation acts for
  real once a person approved, and pauses in its process instead of suspending).

Names, entrypoints, descriptions, the other parameters, concurrency limits and triggers are
prefect.yaml's.  After editing prefect.yaml run ``python -m deployments.local`` to regenerate
prefect.local.yaml; ``tests/test_deploy_prefect.py`` fails while the two are out of step.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "prefect.yaml"
LOCAL_YAML = ROOT / "deployments" / "prefect.local.yaml"

#: The local process work pool (``finops.demo`` registers on it, ``project.POOLS`` knows it).
LOCAL_POOL = "finops-local"
#: Added to every local deployment's tags.
LOCAL_TAG = "sandbox"
#: The pull step's directory in prefect.local.yaml: the folder ``prefect deploy`` ran in.
PWD = "{{ $PWD }}"
#: Parameters the sandbox sets over prefect.yaml's, by deployment name.
PARAMETER_OVERLAY: dict[str, dict[str, Any]] = {
    # The sandbox acts for real once a person approved; the run pauses in its process.
    "remediate-findings": {"dry_run": False, "wait_mode": "pause"},
}

_HEADER = """\
# GENERATED from ../prefect.yaml by `python -m deployments.local`: do not edit by hand.
#
# finops-flows deployments on the local `finops-local` process pool (the sandbox, one machine):
#
#   prefect work-pool create finops-local --type process
#   prefect deploy --all --prefect-file deployments/prefect.local.yaml   # from the project root
#   prefect worker start --pool finops-local
#
# The same deployments as prefect.yaml except for the overlay documented in
# deployments/local.py: the work pool, the pull step to the checkout, paused schedules, the
# `sandbox` tag and the sandbox's remediation parameters.  `finops demo` registers exactly these.
"""


def read_project(path: Path = PREFECT_YAML) -> dict[str, Any]:
    """A prefect.yaml as plain data (YAML anchors and merges resolved)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: not a mapping")
    return data


def overlay_deployment(entry: dict[str, Any]) -> dict[str, Any]:
    """One prefect.yaml deployment as the local pool runs it (see the module docstring).

    Example:
        >>> local = overlay_deployment({"name": "x", "tags": ["finops"],
        ...     "schedules": [{"cron": "0 6 * * *", "active": True}],
        ...     "work_pool": {"name": "ecs", "job_variables": {"cpu": 512}}})
        >>> local["work_pool"], local["tags"], local["schedules"][0]["active"]
        ({'name': 'finops-local', 'job_variables': {}}, ['finops', 'sandbox'], False)
    """
    local = copy.deepcopy(entry)
    local["work_pool"] = {"name": LOCAL_POOL, "job_variables": {}}
    tags = list(local.get("tags") or [])
    local["tags"] = [*tags, LOCAL_TAG] if LOCAL_TAG not in tags else tags
    if local.get("schedules"):
        local["schedules"] = [{**schedule, "active": False} for schedule in local["schedules"]]
    overlay = PARAMETER_OVERLAY.get(str(local.get("name")), {})
    if overlay:
        local["parameters"] = {**(local.get("parameters") or {}), **overlay}
    return local


def local_project(source: Path = PREFECT_YAML, directory: str = PWD) -> dict[str, Any]:
    """The local project file's contents, derived from prefect.yaml.

    Args:
        source: prefect.yaml.
        directory: the pull step's working directory (``{{ $PWD }}`` in the file; the
            checkout's path when the demo registers the deployments itself).
    """
    project = read_project(source)
    return {
        "name": f"{project.get('name', 'finops-flows')}-local",
        "prefect-version": project.get("prefect-version"),
        "build": None,
        "push": None,
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": directory}}],
        "deployments": [overlay_deployment(entry) for entry in project.get("deployments") or []],
    }


def local_deployments(source: Path = PREFECT_YAML, directory: str = PWD) -> list[dict[str, Any]]:
    """The local deployments (prefect.yaml's ``deployments:`` with the overlay)."""
    return list(local_project(source, directory)["deployments"])


def render_local_yaml(source: Path = PREFECT_YAML) -> str:
    """The text of prefect.local.yaml, generated from prefect.yaml."""
    body = yaml.safe_dump(local_project(source), sort_keys=False, width=100)
    return f"{_HEADER}{body}"


def main(argv: list[str] | None = None) -> int:
    """Write prefect.local.yaml from prefect.yaml (``--check``: only say whether it is current)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render_local_yaml()
    current = LOCAL_YAML.read_text(encoding="utf-8") if LOCAL_YAML.exists() else ""
    if args.check:
        if current != text:
            print(f"{LOCAL_YAML} is stale: run python -m deployments.local", file=sys.stderr)
            return 1
        return 0
    LOCAL_YAML.write_text(text, encoding="utf-8")
    print(f"wrote {LOCAL_YAML}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
