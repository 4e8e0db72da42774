"""Give part of the sandbox fleet an owner in code: a Terraform state, its HCL repo, CFN stacks.

In the management account's first region, Terraform owns the gp2 volumes, two idle instances,
one old unattached volume and the bucket with stale multipart uploads, plus a busy instance
(owned but never a finding).  Their state (format v4, with the root module and two child
modules, one using ``count``) is written to the sandbox's S3 at
``s3://sandbox-terraform-state/fleet/terraform.tfstate``; the HCL that made them is committed
to a real bare Git repository ``<state dir>/iac/fleet.git`` (branch ``main``, folder
``terraform/``).  Beside them, an idle attached volume and an orphaned snapshot carry
CloudFormation's stack tags (``aws:cloudformation:stack-name``, ``stack-id``,
``logical-id``), set on moto's backend objects as AWS itself would (the API refuses ``aws:``
tags from users).

The ground truth gains ``iac``: the state and repo locations and one record per code-owned
resource (``resource_id``, ``arn``, ``owner`` = terraform|cloudformation, ``address``,
``module``, ``stack``); every other fleet resource is owned by nobody.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from sandbox import fleet_moto
from sandbox.context import SeedContext

STATE_BUCKET = "sandbox-terraform-state"
STATE_KEY = "fleet/terraform.tfstate"
REPO_DIR = "iac/fleet.git"
REPO_BRANCH = "main"
REPO_PATH = "terraform"
CFN_STACK = "finops-sandbox-batch"
AWS_PROVIDER = 'provider["registry.terraform.io/hashicorp/aws"]'
GIT_IDENTITY = ("-c", "user.name=sandbox", "-c", "user.email=sandbox@finops.example")


def _pick(records: list[dict[str, Any]], resource_type: str, profile: str) -> list[dict[str, Any]]:
    return [r for r in records if r["resource_type"] == resource_type and r["profile"] == profile]


def _attr_block(attributes: dict[str, str | int]) -> list[str]:
    """``key = value`` lines aligned as ``terraform fmt`` aligns them."""
    width = max(len(k) for k in attributes)
    lines = []
    for key, value in attributes.items():
        shown = str(value) if isinstance(value, int) else json.dumps(value)
        lines.append(f"  {key.ljust(width)} = {shown}")
    return lines


def _block(kind: str, labels: tuple[str, ...], attributes: dict[str, str | int]) -> str:
    head = " ".join([kind, *(json.dumps(label) for label in labels)])
    return "\n".join([head + " {", *_attr_block(attributes), "}"]) + "\n"


class _Owned:
    """Collects state resources, HCL blocks and ground-truth records as they are declared."""

    def __init__(self) -> None:
        self.state: list[dict[str, Any]] = []
        self.truth: list[dict[str, Any]] = []

    def add(
        self,
        module: str,
        tf_type: str,
        name: str,
        instances: list[tuple[Any, dict[str, Any], dict[str, Any]]],
    ) -> None:
        """One state resource; ``instances``: (index_key or None, attributes, fleet record)."""
        entry: dict[str, Any] = {"mode": "managed", "type": tf_type, "name": name}
        if module:
            entry = {"module": module, **entry}
        entry["provider"] = AWS_PROVIDER
        entry["instances"] = []
        for index_key, attributes, record in instances:
            instance: dict[str, Any] = {"schema_version": 0}
            if index_key is not None:
                instance["index_key"] = index_key
            instance["attributes"] = attributes
            instance["sensitive_attributes"] = []
            entry["instances"].append(instance)
            address = f"{tf_type}.{name}"
            if index_key is not None:
                address += f"[{json.dumps(index_key)}]"
            self.truth.append(
                {
                    "account_id": record["account_id"],
                    "region": record["region"],
                    "resource_type": record["resource_type"],
                    "resource_id": record["resource_id"],
                    "arn": record["arn"],
                    "owner": "terraform",
                    "address": f"{module}.{address}" if module else address,
                    "module": module,
                    "stack": "",
                }
            )
        self.state.append(entry)


def seed_iac(
    ctx: SeedContext, accounts: list[str], records: list[dict[str, Any]], workdir: Path
) -> dict[str, Any]:
    """Write the Terraform state and repository, tag the CloudFormation stack's resources.

    Args:
        ctx: the seeding context (clients, regions).
        accounts: account ids, management first.
        records: the fleet's ground-truth records (CloudFormation tags are added to theirs).
        workdir: the sandbox's state folder; the bare repository goes under ``iac/``.

    Returns:
        The ``iac`` ground truth (see the module docstring).

    Example:
        >>> truth = seed_iac(ctx, accounts, records, Path(".finops/sandbox"))  # doctest: +SKIP
        >>> truth["state_urls"]  # doctest: +SKIP
        ['s3://sandbox-terraform-state/fleet/terraform.tfstate']
    """
    management, region = accounts[0], ctx.size.regions[0]
    here = [r for r in records if r["account_id"] == management and r["region"] == region]
    backend = fleet_moto.ec2_backend(management, region)
    owned = _Owned()
    root_hcl: list[str] = []

    # root module: every gp2 volume (gp3 edits) and one old unattached volume (removal)
    gp2 = [r for r in here if r["resource_type"] == "ebs-volume" and r["profile"].startswith("gp2")]
    for n, record in enumerate(gp2, 1):
        volume = backend.get_volume(record["resource_id"])
        name = f"data_{n}"
        attrs: dict[str, str | int] = {
            "availability_zone": volume.zone.name,
            "size": int(volume.size),
            "type": "gp2",
        }
        root_hcl.append(_block("resource", ("aws_ebs_volume", name), attrs))
        state_attrs = {"id": record["resource_id"], "arn": record["arn"], **attrs, "iops": 0}
        owned.add("", "aws_ebs_volume", name, [(None, state_attrs, record)])
    scratch = _pick(here, "ebs-volume", "unattached-old")[:1]
    for record in scratch:
        volume = backend.get_volume(record["resource_id"])
        attrs = {"availability_zone": volume.zone.name, "size": int(volume.size), "type": "gp3"}
        root_hcl.append(_block("resource", ("aws_ebs_volume", "scratch"), attrs))
        state_attrs = {"id": record["resource_id"], "arn": record["arn"], **attrs}
        owned.add("", "aws_ebs_volume", "scratch", [(None, state_attrs, record)])

    # module.batch: idle instances made with count (removal: count = 0)
    idle = _pick(here, "ec2-instance", "idle")[:2]
    batch_hcl = ""
    if idle:
        first = backend.get_instance(idle[0]["resource_id"])
        batch_hcl = (
            'resource "aws_instance" "worker" {\n'
            f"  count         = {len(idle)}\n"
            f"  ami           = {json.dumps(first.image_id)}\n"
            f"  instance_type = {json.dumps(first.instance_type)}\n"
            "}\n"
        )
        instances = []
        for i, record in enumerate(idle):
            instance = backend.get_instance(record["resource_id"])
            attributes = {
                "id": record["resource_id"],
                "arn": record["arn"],
                "ami": instance.image_id,
                "instance_type": instance.instance_type,
            }
            instances.append((i, attributes, record))
        owned.add("module.batch", "aws_instance", "worker", instances)
        root_hcl.append('module "batch" {\n  source = "./modules/batch"\n}\n')

    # module.web: a busy instance with for_each (owned, never a finding)
    busy = _pick(here, "ec2-instance", "busy")[:1]
    web_hcl = ""
    for record in busy:
        instance = backend.get_instance(record["resource_id"])
        web_hcl = (
            'resource "aws_instance" "app" {\n'
            '  for_each      = toset(["blue"])\n'
            f"  ami           = {json.dumps(instance.image_id)}\n"
            f"  instance_type = {json.dumps(instance.instance_type)}\n"
            "}\n"
        )
        attributes = {
            "id": record["resource_id"],
            "arn": record["arn"],
            "instance_type": instance.instance_type,
        }
        owned.add("module.web", "aws_instance", "app", [("blue", attributes, record)])
        root_hcl.append('module "web" {\n  source = "./modules/web"\n}\n')

    # module.storage: the bucket with stale multipart uploads (a lifecycle rule is the fix)
    stale = _pick(here, "s3-bucket", "stale-uploads")[:1]
    storage_hcl = ""
    for record in stale:
        storage_hcl = _block(
            "resource", ("aws_s3_bucket", "uploads"), {"bucket": record["resource_id"]}
        )
        attributes = {
            "id": record["resource_id"],
            "arn": record["arn"],
            "bucket": record["resource_id"],
        }
        owned.add("module.storage", "aws_s3_bucket", "uploads", [(None, attributes, record)])
        root_hcl.append('module "storage" {\n  source = "./modules/storage"\n}\n')

    # a data source and a resource without an AWS id: in real states, never owners of anything
    owned.state.append(
        {
            "mode": "data",
            "type": "aws_caller_identity",
            "name": "current",
            "provider": AWS_PROVIDER,
            "instances": [{"schema_version": 0, "attributes": {"id": management}}],
        }
    )
    state = {
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": 7,
        "lineage": str(uuid.UUID(int=int(ctx.rng("iac-lineage").integers(0, 2**62)) << 64)),
        "outputs": {},
        "resources": owned.state,
        "check_results": None,
    }
    s3 = ctx.client("s3", management, "us-east-1")
    s3.create_bucket(Bucket=STATE_BUCKET)
    s3.put_object(
        Bucket=STATE_BUCKET,
        Key=STATE_KEY,
        Body=json.dumps(state, indent=2).encode(),
        ContentType="application/json",
    )

    files = {
        f"{REPO_PATH}/main.tf": "\n".join(root_hcl),
        f"{REPO_PATH}/modules/batch/main.tf": batch_hcl,
        f"{REPO_PATH}/modules/web/main.tf": web_hcl,
        f"{REPO_PATH}/modules/storage/main.tf": storage_hcl,
    }
    repo = write_repository(workdir / REPO_DIR, files)

    stacks = tag_cloudformation(ctx, accounts, records)
    return {
        "state_urls": [f"s3://{STATE_BUCKET}/{STATE_KEY}"],
        "repo": {"url": repo.as_uri(), "path": str(repo), "branch": REPO_BRANCH, "dir": REPO_PATH},
        "owned": owned.truth + stacks,
    }


def tag_cloudformation(
    ctx: SeedContext, accounts: list[str], records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Put CloudFormation's stack tags on an idle attached volume and an orphaned snapshot.

    Both are in the management account's first region (beside the Terraform-owned part; the
    member accounts stay owned by nobody, as the remediation tests expect).
    """
    account, region = accounts[0], ctx.size.regions[0]
    here = [r for r in records if r["account_id"] == account and r["region"] == region]
    chosen = [
        (_pick(here, "ebs-volume", "attached-idle")[:1], "CacheVolume"),
        (_pick(here, "ebs-snapshot", "old-orphan")[:1], "NightlySnapshot"),
    ]
    stack_id = (
        f"arn:aws:cloudformation:{region}:{account}:stack/{CFN_STACK}/"
        f"{uuid.UUID(int=int(ctx.rng('iac-stack').integers(0, 2**62)))}"
    )
    backend = fleet_moto.ec2_backend(account, region)
    truth = []
    for picked, logical_id in chosen:
        for record in picked:
            tags = {
                "aws:cloudformation:stack-name": CFN_STACK,
                "aws:cloudformation:stack-id": stack_id,
                "aws:cloudformation:logical-id": logical_id,
            }
            backend.create_tags([record["resource_id"]], tags)
            record["tags"] = dict(sorted({**record["tags"], **tags}.items()))
            truth.append(
                {
                    "account_id": account,
                    "region": region,
                    "resource_type": record["resource_type"],
                    "resource_id": record["resource_id"],
                    "arn": record["arn"],
                    "owner": "cloudformation",
                    "address": logical_id,
                    "module": "",
                    "stack": CFN_STACK,
                }
            )
    return truth


def write_repository(bare: Path, files: dict[str, str]) -> Path:
    """A bare Git repository whose ``main`` holds ``files`` in one commit (made afresh)."""
    work = bare.parent / "fleet-seed"
    for path in (bare, work):
        shutil.rmtree(path, ignore_errors=True)
    bare.parent.mkdir(parents=True, exist_ok=True)
    git = ["git", *GIT_IDENTITY]
    subprocess.run([*git, "init", "-q", "--bare", "-b", REPO_BRANCH, str(bare)], check=True)
    subprocess.run([*git, "init", "-q", "-b", REPO_BRANCH, str(work)], check=True)
    for name, text in files.items():
        if not text:
            continue
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    subprocess.run([*git, "-C", str(work), "add", "-A"], check=True)
    subprocess.run(
        [*git, "-C", str(work), "commit", "-q", "-m", "Sandbox fleet as Terraform"], check=True
    )
    subprocess.run([*git, "-C", str(work), "push", "-q", str(bare), REPO_BRANCH], check=True)
    shutil.rmtree(work)
    return bare.resolve()
