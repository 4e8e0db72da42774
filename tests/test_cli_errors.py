"""A user's mistake is one line: every command, run as the real `finops`, given a wrong input.

Each case runs ``python -m finops`` in a fresh folder (no finops.toml, no AWS credentials unless
the case gives them, AWS_ENDPOINT_URL on a closed loopback port) and asserts: a non-zero exit,
exactly one line on stderr, ``error: `` and the thing to fix in it, and no traceback.  Every case
fails before any Prefect server or AWS retry loop starts, so the file stays fast.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import typer
from typer.main import get_command

from finops.cli import app
from tests.plugins.cli import CLOSED, isolated_env

ROOT = Path(__file__).resolve().parents[1]


def _corrupt_findings_db(folder: Path) -> None:
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "findings.db").write_bytes(b"this is not a SQLite database\n" * 20)


def _secret_at_top_of_toml(folder: Path) -> None:
    # a token pasted as a section's value: the error about it must not print it
    (folder / "finops.toml").write_text('notify = "xoxb-1-2-SECRET"\n')


def _bad_toml(folder: Path) -> None:
    (folder / "finops.toml").write_text("[aws\nregions = ['us-east-1']\n")


@dataclass(frozen=True)
class Case:
    """A command with a wrong input, the exit status it must give, and what its line names."""

    args: tuple[str, ...]
    names: tuple[str, ...]
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None
    credentials: bool = True


def _damaged_state(tmp: Path) -> None:
    (tmp / "state.json").write_text("{oops", encoding="utf-8")


CASES: dict[str, Case] = {
    # settings
    "settings-region": Case(
        ("settings", "--check"),
        ("FINOPS_AWS__REGIONS", "us-moon-1"),
        env={"FINOPS_AWS__REGIONS": "us-east-1,us-moon-1"},
    ),
    "settings-json": Case(
        ("settings",), ("FINOPS_IDLE__PARAMS", "JSON"), env={"FINOPS_IDLE__PARAMS": "{oops"}
    ),
    "settings-section-json": Case(
        ("settings", "--check"), ("FINOPS_AWS", "JSON"), env={"FINOPS_AWS": "{oops"}
    ),
    "settings-misspelt": Case(
        ("settings", "--check"),
        ("FINOPS_AWS__REGION", "no such setting"),
        env={"FINOPS_AWS__REGION": "us-east-1"},
    ),
    "settings-toml": Case(("settings", "--check"), ("finops.toml", "TOML"), setup=_bad_toml),
    "settings-infinite-budget": Case(
        ("settings", "--check"),
        ("FINOPS_BUDGET__DAILY_USD", "finite number"),
        env={"FINOPS_BUDGET__DAILY_USD": "inf"},
    ),
    "settings-unknown-check": Case(
        ("settings", "--check"),
        ("FINOPS_IDLE__CHECKS", "'ec2-idel'", "did you mean 'ec2-idle'?"),
        env={"FINOPS_IDLE__CHECKS": "ec2-idel"},
    ),
    "settings-check-params": Case(
        ("settings", "--check"),
        ("FINOPS_IDLE__PARAMS", "ebs-unattached", "days"),
        env={"FINOPS_IDLE__PARAMS": '{"ebs-unattached": {"days": -1}}'},
    ),
    "settings-secret-at-top-of-toml": Case(
        ("settings", "--check"),
        ("FINOPS_NOTIFY", "finops.toml"),
        setup=_secret_at_top_of_toml,
    ),
    # costs
    "ingest-export-unset": Case(
        ("ingest", "--source", "export"),
        ("FINOPS_COSTS__EXPORT_NAME", "FINOPS_COSTS__EXPORT_URL"),
    ),
    "ingest-date": Case(
        ("ingest", "--start", "2026-02-30", "--end", "2026-03-01"), ("--start", "YYYY-MM-DD")
    ),
    "ingest-group-by": Case(
        ("ingest",),
        ("FINOPS_COSTS__GROUP_BY", "'TAG:team'"),
        env={"FINOPS_COSTS__GROUP_BY": "LINKED_ACCOUNT,TAG:team"},
    ),
    "ingest-unreachable": Case(
        ("ingest", "--source", "ce", "--start", "2026-01-01", "--end", "2026-01-31"),
        ("cannot reach AWS", "AWS_ENDPOINT_URL"),
        code=1,
    ),
    "costs-sql": Case(("costs", "--sql", "selec * from costs"), ("--sql", "syntax error")),
    "costs-days": Case(("costs", "--days", "0"), ("--days",)),
    # anomalies
    "anomalies-date": Case(("anomalies", "--date", "2026-13-01"), ("--date", "YYYY-MM-DD")),
    "anomalies-set-status": Case(
        ("anomalies", "set-status", "abcd", "closed"), ("'closed'", "false_positive")
    ),
    "anomalies-score": Case(
        ("anomalies", "score", "--input", "missing.csv", "--output", "scores.csv"),
        ("missing.csv",),
    ),
    "anomalies-aws-sync": Case(
        ("anomalies", "aws-sync", "--since", "2026-02-30"), ("--since", "YYYY-MM-DD")
    ),
    # commitments
    "commitments-months": Case(("commitments", "--months", "0"), ("--months",)),
    "commitments-plan-unknown": Case(("commitments-plan", "abcd"), ("abcd",)),
    # idle scan
    "scan-checks": Case(("scan", "--checks", "ec2-idle,ec2-idel"), ("ec2-idel", "choose from")),
    "scan-regions": Case(("scan", "--regions", "us-moon-1"), ("us-moon-1", "us-east-1")),
    "scan-format": Case(("scan", "--format", "xml"), ("--format", "'xml'")),
    "scan-params": Case(
        ("scan",),
        ("FINOPS_IDLE__PARAMS", "ebs-unattached"),
        env={"FINOPS_IDLE__PARAMS": '{"ebs-unattached": {"days": -1}}'},
    ),
    "scan-no-credentials": Case(
        ("scan", "--regions", "us-east-1"),
        ("no AWS credentials", "AWS_ACCESS_KEY_ID"),
        code=1,
        credentials=False,
    ),
    # findings lifecycle
    "findings-status": Case(("findings", "--status", "closed"), ("--status", "open")),
    "findings-store": Case(
        ("findings",),
        ("findings.db", "FINOPS_FINDINGS_DB_URL"),
        code=1,
        setup=_corrupt_findings_db,
    ),
    "dismiss-unknown": Case(("dismiss", "abcd1234"), ("abcd1234", "finops findings")),
    "snooze-date": Case(("snooze", "abcd1234", "--until", "tomorrow"), ("--until", "YYYY-MM-DD")),
    "approve-run-id": Case(("approve", "not-a-run", "--as", "ana"), ("not-a-run", "flow run id")),
    # a damaged audit.jsonl is not a mistake: `finops audit` warns and reads past it
    # (tests/test_hostile_approval.py)
    "audit-limit": Case(("audit", "--limit", "0"), ("--limit",)),
    # notifications
    "notify-test": Case(
        ("notify", "test"),
        ("jira", "FINOPS_NOTIFY__JIRA_PAT"),
        code=1,
        env={"FINOPS_NOTIFY__JIRA_URL": CLOSED},
    ),
    "notify-flush": Case(("notify", "flush"), ("findings.db",), code=1, setup=_corrupt_findings_db),
    "notify-outbox": Case(("notify", "outbox", "--status", "lost"), ("'lost'", "pending")),
    # events and deployments
    "listen-no-queue": Case(("listen", "--once"), ("FINOPS_EVENTS__QUEUE_URL",)),
    "listen-unreachable": Case(
        (
            "listen",
            "--once",
            "--queue-url",
            f"{CLOSED}/q",
            "--dead-letter-queue-url",
            f"{CLOSED}/d",
        ),
        ("cannot reach AWS", "AWS_ENDPOINT_URL"),
        code=1,
    ),
    "deploy-check": Case(("deploy", "check", "--root", "."), ("--root", "prefect.yaml")),
    "deploy-pool-template": Case(
        ("deploy", "pool-template", "--terraform-output", "outputs.json"),
        ("outputs.json", "terraform output -json"),
    ),
    "deploy-results-block": Case(
        ("deploy", "results-block", "--bucket", "s3://bucket/results"), ("--bucket",)
    ),
    # the demo and the sandbox
    "demo-setting": Case(("demo",), ("FINOPS_SANDBOX__PORT",), env={"FINOPS_SANDBOX__PORT": "-1"}),
    "sandbox-up-option": Case(("sandbox", "up", "--accounts", "0"), ("--accounts",)),
    "sandbox-env": Case(("sandbox", "env"), ("finops sandbox up",), code=1),
    "sandbox-status": Case(("sandbox", "status"), ("finops sandbox up",), code=1),
    "sandbox-up-region": Case(("sandbox", "up", "--regions", "us-moon-1"), ("us-moon-1",)),
    "sandbox-up-port": Case(("sandbox", "up", "--port", "99999"), ("--port",)),
    "sandbox-env-damaged": Case(
        ("sandbox", "env", "--state-file", "state.json"),
        ("state.json", "damaged"),
        code=1,
        setup=_damaged_state,
    ),
    "sandbox-down": Case(
        ("sandbox", "down", "--state-file", "."), (".: Is a directory", "give a file"), code=1
    ),
    # the front door
    "unknown-command": Case(("scna",), ("scna", "finops --help")),
}


def _environment(tmp_path: Path, case: Case) -> dict[str, str]:
    env = isolated_env(
        tmp_path,
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
    )
    if case.credentials:
        env |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    return env | case.env


def _run(tmp_path: Path, case: Case) -> subprocess.CompletedProcess[str]:
    if case.setup is not None:
        case.setup(tmp_path)
    return subprocess.run(
        [sys.executable, "-m", "finops", *case.args],
        env=_environment(tmp_path, case),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _assert_one_line(result: subprocess.CompletedProcess[str], case: Case) -> None:
    shown = f"exit {result.returncode}\nstderr:\n{result.stderr}\nstdout:\n{result.stdout}"
    assert "Traceback" not in result.stderr, shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), shown
    assert lines[0].startswith("error: "), shown
    for name in case.names:
        assert name in lines[0], (name, shown)
    assert result.returncode == case.code, shown


@pytest.mark.parametrize("name", list(CASES))
def test_a_users_mistake_is_one_line(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    _assert_one_line(_run(tmp_path, case), case)


def _leaf_commands(command: object, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    commands = getattr(command, "commands", None)
    leaves = set() if commands else {prefix}
    if getattr(command, "invoke_without_command", False) and prefix:
        leaves.add(prefix)  # `finops anomalies` is a command itself
    for name, sub in (commands or {}).items():
        leaves |= _leaf_commands(sub, (*prefix, name))
    return leaves


def test_every_command_has_a_mistake_case() -> None:
    covered = set()
    for case in CASES.values():
        for size in range(1, len(case.args) + 1):
            covered.add(case.args[:size])
    missing = sorted(" ".join(p) for p in _leaf_commands(get_command(app)) - covered)
    assert missing == [], f"commands without a wrong-input case: {missing}"


def test_no_error_line_shows_a_secret(capsys: pytest.CaptureFixture[str]) -> None:
    from finops.commands.errors import fail, one_line_errors

    with pytest.raises(typer.Exit), one_line_errors():
        raise fail("Slack refused https://hooks.slack.com/services/T0/B0/SECRET (xoxb-1-SECRET)")
    assert "SECRET" not in capsys.readouterr().err


def test_a_secret_in_finops_toml_is_never_printed(tmp_path: Path) -> None:
    case = CASES["settings-secret-at-top-of-toml"]
    result = _run(tmp_path, case)
    _assert_one_line(result, case)
    assert "SECRET" not in result.stdout + result.stderr
