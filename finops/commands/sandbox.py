"""`finops sandbox up|env|status|down`: the embedded AWS organisation, for trying and testing.

``finops sandbox up`` starts the sandbox server (moto plus our Cost Explorer, seeded with an
organisation whose right answers are known) detached on 127.0.0.1 and waits until it is seeded;
``eval "$(finops sandbox env)"`` points boto3, the AWS CLI or Cloud Custodian at it.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path
from typing import Any

import typer

from finops.commands.errors import ENVIRONMENT, fail, one_line
from tasks.settings import known_regions, load_settings

sandbox_app = typer.Typer(
    help="The embedded AWS organisation (moto + Cost Explorer) with known right answers.",
    no_args_is_help=True,
)

#: Region used by ``finops sandbox env`` (the sandbox's management calls are global there).
ENV_REGION = "us-east-1"


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the CLI."""
    app.add_typer(sandbox_app, name="sandbox")


def _state_path(state_file: Path | None) -> Path:
    from sandbox.state import default_state_path

    if state_file is not None:
        return state_file
    return default_state_path(load_settings())


STATE_FILE_OPTION = typer.Option(
    None, "--state-file", help="State file; default <data_dir>/sandbox/state.json."
)


def sandbox_env(endpoint_url: str, ground_truth: dict[str, Any] | None = None) -> dict[str, str]:
    """The environment that points standard AWS tools, and every ``finops`` command, at a sandbox.

    Besides the AWS variables it names what only the sandbox knows: where its data export is and
    which regions it has, so ``finops ingest --source export`` and ``finops scan`` need nothing
    else.

    Example:
        >>> sandbox_env("http://127.0.0.1:5000")["AWS_ENDPOINT_URL"]
        'http://127.0.0.1:5000'
        >>> truth = {"regions": ["us-east-1", "eu-west-1"],
        ...          "export": {"bucket": "b", "prefix": "cur", "export_name": "focus"}}
        >>> env = sandbox_env("http://127.0.0.1:5000", truth)
        >>> env["FINOPS_COSTS__EXPORT_URL"], env["FINOPS_COSTS__EXPORT_NAME"]
        ('s3://b/cur', 'focus')
        >>> env["FINOPS_AWS__REGIONS"]
        'us-east-1,eu-west-1'
    """
    env = {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": ENV_REGION,
        "AWS_REGION": ENV_REGION,
    }
    truth = ground_truth or {}
    export = truth.get("export") or {}
    if export.get("bucket"):
        prefix = str(export.get("prefix") or "").strip("/")
        env["FINOPS_COSTS__EXPORT_URL"] = f"s3://{export['bucket']}/{prefix}".rstrip("/")
        env["FINOPS_COSTS__EXPORT_NAME"] = str(export.get("export_name") or "")
    if truth.get("regions"):
        env["FINOPS_AWS__REGIONS"] = ",".join(truth["regions"])
    return env


def summarize(ground_truth: dict[str, Any], state: dict[str, Any]) -> list[str]:
    """Human lines describing what a seeded sandbox holds.

    Example:
        >>> summarize({"accounts": ["1"], "regions": ["us-east-1"], "resources": []},
        ...           {"endpoint_url": "http://x", "seed": 7, "size": {"cost_days": 400}})[0]
        'sandbox at http://x (seed 7)'
    """
    lines = [f"sandbox at {state.get('endpoint_url')} (seed {state.get('seed')})"]
    accounts = ground_truth.get("accounts", [])
    if accounts:
        members = ", ".join(accounts[1:]) or "none"
        lines.append(f"  accounts: {len(accounts)} (management {accounts[0]}; members {members})")
    lines.append(f"  regions: {', '.join(ground_truth.get('regions', []))}")
    resources = ground_truth.get("resources", [])
    counts = Counter(str(r.get("resource_type", "?")) for r in resources)
    if counts:
        shown = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
        lines.append(f"  resources: {len(resources)} ({shown})")
    size = state.get("size", {})
    anomalies = ground_truth.get("anomalies", [])
    lines.append(
        f"  cost ledger: {size.get('cost_days', '?')} days, {len(anomalies)} injected anomalies"
    )
    export = ground_truth.get("export") or {}
    if export:
        lines.append(
            f"  cost export: s3://{export.get('bucket')}/{export.get('prefix')} "
            f"({export.get('export_name')})"
        )
    if state.get("seconds_to_seed") is not None:
        lines.append(f"  seeded in {state['seconds_to_seed']:.1f} s")
    return lines


def _read_ground_truth(path: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data


def _running_state(state_path: Path) -> Any:
    from sandbox.state import pid_alive, read_state

    if state_path.exists() and not state_path.is_file():
        raise fail(f"--state-file {state_path} is not a file; give a file such as state.json")
    try:
        state = read_state(state_path)
    except (ValueError, TypeError) as error:
        raise fail(
            f"state file {state_path} is damaged ({one_line(str(error))}); "
            "remove it, then `finops sandbox up`",
            ENVIRONMENT,
        ) from None
    if state is None or not pid_alive(state.pid):
        return None
    return state


@sandbox_app.command("up")
def up(
    port: int | None = typer.Option(
        None, min=0, max=65535, help="Port on 127.0.0.1; 0 = a free one (default)."
    ),
    seed: int | None = typer.Option(None, help="Seed of the organisation (default: settings)."),
    accounts: int = typer.Option(3, min=1, help="Accounts: management + members."),
    regions: str = typer.Option("us-east-1,eu-west-1", help="Comma-separated regions."),
    instances: int = typer.Option(12, min=0, help="EC2 instances per account x region."),
    volumes: int = typer.Option(12, min=0, help="Extra EBS volumes per account x region."),
    days: int = typer.Option(14, min=1, max=30, help="Days of CloudWatch history."),
    cost_days: int = typer.Option(400, min=1, help="Days of cost ledger (>= 400 = 13 months)."),
    foreground: bool = typer.Option(
        False, "--foreground", help="Run in this process until Ctrl-C (logs to the terminal)."
    ),
    timeout: float = typer.Option(600.0, min=1, help="Seconds to wait for seeding."),
    state_file: Path | None = STATE_FILE_OPTION,
) -> None:
    """Start the sandbox, seed it, and print what is there."""
    from sandbox.context import SandboxSize
    from sandbox.state import SandboxError, log_path_for, start_server, wait_ready

    path = _state_path(state_file)
    settings = load_settings()
    chosen_port = settings.sandbox.port if port is None else port
    chosen_seed = settings.sandbox.seed if seed is None else seed
    chosen_regions = tuple(r.strip() for r in regions.split(",") if r.strip())
    unknown = [r for r in chosen_regions if r not in known_regions()]
    if unknown:
        raise fail(f"--regions: unknown region {unknown[0]!r}; use names such as 'us-east-1'")
    try:
        size = SandboxSize(
            accounts=accounts,
            regions=chosen_regions,
            instances=instances,
            volumes=volumes,
            days=days,
            cost_days=cost_days,
        )
    except ValueError as error:
        raise fail(one_line(str(error))) from None
    running = _running_state(path)
    if running is not None:
        typer.echo(
            f"a sandbox is already running at {running.endpoint_url} (pid {running.pid}); "
            "`finops sandbox down` stops it"
        )
        for line in summarize(_read_ground_truth(running.ground_truth_path), vars(running)):
            typer.echo(line)
        return
    if foreground:
        from sandbox.server import main as server_main
        from sandbox.state import server_command

        argv = server_command(path, chosen_seed, size.as_dict(), chosen_port)[3:]
        raise typer.Exit(server_main(argv))
    typer.echo(f"starting the sandbox (seed {chosen_seed}); seeding...")
    process = start_server(path, chosen_seed, size.as_dict(), chosen_port)
    try:
        state = wait_ready(path, process, timeout_s=timeout)
    except SandboxError as error:
        if process.poll() is None:
            process.terminate()
        # The error carries the end of the server's log; the one line names the log instead.
        first = str(error).splitlines()[0]
        raise fail(f"{first}; its log: {log_path_for(path)}", ENVIRONMENT) from None
    for line in summarize(_read_ground_truth(state.ground_truth_path), vars(state)):
        typer.echo(line)
    typer.echo('point AWS tools at it with: eval "$(finops sandbox env)"')


@sandbox_app.command("env")
def env(state_file: Path | None = STATE_FILE_OPTION) -> None:
    """Print the exports that point boto3, the AWS CLI and every finops command at the sandbox.

    Use as ``eval "$(finops sandbox env)"``.  It unsets AWS_PROFILE too: with a profile set,
    boto3 ignores the key variables.
    """
    state = _running_state(_state_path(state_file))
    if state is None:
        raise fail("no sandbox is running; start one with `finops sandbox up`", ENVIRONMENT)
    if not state.ready:
        raise fail(
            "the sandbox is still seeding; wait for `finops sandbox status` to list it",
            ENVIRONMENT,
        )
    typer.echo("unset AWS_PROFILE")
    truth = _read_ground_truth(state.ground_truth_path)
    for name, value in sandbox_env(state.endpoint_url, truth).items():
        typer.echo(f"export {name}={shlex.quote(value)}")


@sandbox_app.command("status")
def status(state_file: Path | None = STATE_FILE_OPTION) -> None:
    """Say whether a sandbox is running, where, and what it holds (exit 1 if none)."""
    path = _state_path(state_file)
    state = _running_state(path)
    if state is None:
        raise fail(
            f"no sandbox is running (state file {path}); start one with `finops sandbox up`",
            ENVIRONMENT,
        )
    if state.error:
        raise fail(
            f"sandbox at {state.endpoint_url} failed to seed: {one_line(state.error)}; "
            "see its server.log beside the state file, then `finops sandbox down`",
            ENVIRONMENT,
        )
    if not state.ready:
        typer.echo(f"sandbox at {state.endpoint_url} (pid {state.pid}) is still seeding")
        return
    for line in summarize(_read_ground_truth(state.ground_truth_path), vars(state)):
        typer.echo(line)
    typer.echo(f"  pid {state.pid}, started {state.started_at}")


@sandbox_app.command("down")
def down(state_file: Path | None = STATE_FILE_OPTION) -> None:
    """Stop the running sandbox and remove its state."""
    from sandbox.state import stop_server

    path = _state_path(state_file)
    if stop_server(path):
        typer.echo("sandbox stopped")
    else:
        typer.echo("no sandbox was running")
