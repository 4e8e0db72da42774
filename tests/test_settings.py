"""Settings: documented defaults, nested environment overrides, finops.toml, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tasks.settings import SettingsError, load_settings, settings_table


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("FINOPS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_documented_reference_values() -> None:
    settings = load_settings()
    assert settings.budget.daily_usd == 1000.0
    assert settings.remediation.dry_run is True
    assert settings.idle.exclude_tag == "finops:exclude=true"
    assert settings.findings_url.endswith(".finops/findings.db")


def test_nested_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINOPS_BUDGET__DAILY_USD", "1500")
    monkeypatch.setenv("FINOPS_AWS__REGIONS", '["us-east-1", "eu-west-1"]')
    settings = load_settings()
    assert settings.budget.daily_usd == 1500.0
    assert settings.aws.regions == ["us-east-1", "eu-west-1"]


def test_toml_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "finops.toml").write_text(
        '[budget]\ndaily_usd = 2500\n[aws]\naccounts = ["111111111111"]\n'
    )
    settings = load_settings()
    assert settings.budget.daily_usd == 2500.0
    assert settings.aws.accounts == ["111111111111"]


def test_secrets_are_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINOPS_NOTIFY__SLACK_BOT_TOKEN", "xoxb-very-secret-value")
    settings = load_settings()
    assert "xoxb-very-secret-value" not in repr(settings)
    assert "xoxb-very-secret-value" not in str(settings.model_dump())
    assert settings.notify.slack_bot_token is not None
    assert settings.notify.slack_bot_token.get_secret_value() == "xoxb-very-secret-value"


def test_every_setting_is_documented() -> None:
    rows = settings_table()
    assert len(rows) > 30
    undocumented = [name for name, _default, description in rows if not description]
    assert undocumented == []


def test_cli_reports_a_wrong_setting_in_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "finops", "settings", "--check"],
        env={"PATH": "/usr/bin:/bin", "FINOPS_BUDGET__DAILY_USD": "-1", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "FINOPS_BUDGET__DAILY_USD" in result.stderr


def test_readme_settings_table_is_current() -> None:
    from tasks.settings import settings_markdown

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("<!-- settings-table:start -->") + len("<!-- settings-table:start -->")
    end = readme.index("<!-- settings-table:end -->")
    assert readme[start:end].strip() == settings_markdown().strip(), (
        "README's settings table is stale: regenerate it with `finops settings --markdown`"
    )


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("FINOPS_AWS__REGIONS", "us-east-1", ["us-east-1"]),
        ("FINOPS_AWS__REGIONS", "us-east-1,eu-west-1", ["us-east-1", "eu-west-1"]),
        ("FINOPS_AWS__REGIONS", " us-east-1 , eu-west-1 ,", ["us-east-1", "eu-west-1"]),
        ("FINOPS_AWS__REGIONS", '["us-east-1","eu-west-1"]', ["us-east-1", "eu-west-1"]),
        ("FINOPS_AWS__REGIONS", "", []),
        ("FINOPS_AWS__ACCOUNTS", "111111111111,222222222222", ["111111111111", "222222222222"]),
        ("FINOPS_COSTS__GROUP_BY", "LINKED_ACCOUNT,REGION", ["LINKED_ACCOUNT", "REGION"]),
        ("FINOPS_COSTS__DETAIL", "REGION", ["REGION"]),
        ("FINOPS_IDLE__CHECKS", "ebs-unattached,ebs-gp2", ["ebs-unattached", "ebs-gp2"]),
        ("FINOPS_NOTIFY__JIRA_LABELS", "finops,cost", ["finops", "cost"]),
        ("FINOPS_BUDGET__ALERT_THRESHOLDS_PCT", "50,90,100", [50.0, 90.0, 100.0]),
        ("FINOPS_ANOMALIES__EXCLUDE_SERVICES", "Tax,AWS Support*", ["Tax", "AWS Support*"]),
    ],
)
def test_list_settings_take_comma_separated_values_or_json(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: list[object]
) -> None:
    monkeypatch.setenv(env, value)
    section, name = env.removeprefix("FINOPS_").lower().split("__")
    assert getattr(getattr(load_settings(), section), name) == expected


def test_list_settings_from_finops_toml_as_a_list_or_a_string(tmp_path: Path) -> None:
    (tmp_path / "finops.toml").write_text(
        '[aws]\nregions = ["us-east-1"]\n[idle]\nchecks = "ebs-gp2,ebs-idle"\n'
    )
    settings = load_settings()
    assert settings.aws.regions == ["us-east-1"]
    assert settings.idle.checks == ["ebs-gp2", "ebs-idle"]


def test_mapping_settings_take_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINOPS_IDLE__PARAMS", '{"ebs-unattached": {"days": 10}}')
    monkeypatch.setenv("FINOPS_NOTIFY__JIRA_PRIORITIES", '{"high": "Highest"}')
    settings = load_settings()
    assert settings.idle.params == {"ebs-unattached": {"days": 10}}
    assert settings.notify.jira_priorities == {"high": "Highest"}


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("FINOPS_BUDGET__DAILY_USD", "-5", "greater than 0 (got '-5')"),
        ("FINOPS_AWS__REGIONS", '["us-moon-1"]', "unknown region 'us-moon-1'"),
        ("FINOPS_AWS__ACCOUNTS", '["12345"]', "malformed account id '12345'; use 12 digits"),
        ("FINOPS_IDLE__EXCLUDE_TAG", "nokey", "use KEY=VALUE"),
        ("FINOPS_COSTS__GROUP_BY", '["A","B","C"]', "one or two GroupBy"),
        ("FINOPS_AWS__REGIONS", "us-east-1,us-moon-1", "unknown region 'us-moon-1'"),
        ("FINOPS_AWS__REGIONS", '["us-east-1"', "not a JSON list"),
        ("FINOPS_BUDGET__ALERT_THRESHOLDS_PCT", "80,lots", "item 2: Input should be a valid"),
        ("FINOPS_COSTS__DETAIL", "REGION,ZONE", "item 2: Input should be 'REGION'"),
        ("FINOPS_IDLE__PARAMS", "{oops", "not valid JSON"),
        ("FINOPS_IDLE__PARAMS", "ebs-unattached=10", "not valid JSON"),
        ("FINOPS_AWS", "{oops", "not valid JSON"),
        ("FINOPS_AWS__REGION", "us-east-1", "there is no such setting"),
        # non-finite numbers: an infinite budget or cap is a guard that never fires
        ("FINOPS_BUDGET__DAILY_USD", "inf", "Input should be a finite number"),
        ("FINOPS_REMEDIATION__MAX_MONTHLY_USD", "inf", "Input should be a finite number"),
        ("FINOPS_BUDGET__MONTHLY_USD", "nan", "Input should be a finite number"),
        ("FINOPS_BUDGET__ALERT_THRESHOLDS_PCT", "80,inf", "item 2: Input should be a finite"),
        ("FINOPS_IDLE__PARAMS", '{"ebs-unattached": {"days": Infinity}}', "a finite number"),
        ("FINOPS_ANOMALIES__MONITOR_THRESHOLDS", '{"m": {"min_impact_usd": NaN}}', "finite"),
        # unknown keys inside a mapping
        ("FINOPS_ANOMALIES__MONITOR_THRESHOLDS", '{"m": {"min_usd": 5}}', "'min_usd'"),
        ("FINOPS_NOTIFY__JIRA_PRIORITIES", '{"urgent": "Highest"}', "'urgent'"),
        # IAM role names
        ("FINOPS_AWS__MEMBER_ROLE_NAME", "../../evil role", "not an IAM role name"),
        ("FINOPS_AWS__REMEDIATION_ROLE_NAME", "r" * 65, "not an IAM role name"),
        ("FINOPS_AWS__MEMBER_ROLE_NAME", "", "not an IAM role name"),
        # conflicts
        ("FINOPS_ANOMALIES__MIN_HISTORY_DAYS", "200", "above lookback_days=120"),
        # what ingest refuses later
        ("FINOPS_COSTS__GROUP_BY", "LINKED_ACCOUNT,TAG:team", "GroupBy 'TAG:team' is not"),
        # URLs that are not URLs
        ("FINOPS_FINDINGS_DB_URL", "findings.db", "not an SQLAlchemy URL"),
        ("FINOPS_COSTS__STORE_URL", "gs://bucket/costs", "s3://bucket/prefix"),
        ("FINOPS_COSTS__STORE_URL", "s3:/bucket/costs", "s3://bucket/prefix"),
        ("FINOPS_COSTS__EXPORT_URL", "s3://", "names no bucket"),
        ("FINOPS_REMEDIATION__AUDIT_LOG_URL", "https://example.com/audit", "s3://bucket/prefix"),
        ("FINOPS_NOTIFY__SLACK_WEBHOOK_URL", "hooks.slack.com/services/T/B/x", "https://"),
        ("FINOPS_NOTIFY__SLACK_BASE_URL", "slack.com/api/", "https://"),
        ("FINOPS_NOTIFY__JIRA_URL", "acme.atlassian.net", "https://"),
        ("FINOPS_NOTIFY__PREFECT_UI_URL", "localhost:4200", "https://"),
        ("FINOPS_EVENTS__QUEUE_URL", "finops-events", "https://"),
        ("FINOPS_EVENTS__DEAD_LETTER_QUEUE_URL", "sqs://q", "https://"),
        ("FINOPS_NOTIFY__SNS_TOPIC_ARN", "finops-topic", "arn:aws:sns:"),
    ],
)
def test_a_wrong_value_is_one_settings_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"setting {env}:"), message
    assert expected in message


def test_a_bad_finops_toml_is_one_line_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "finops.toml").write_text("[aws\nregions = 1\n")
    with pytest.raises(SettingsError, match=r"^finops.toml: not valid TOML \(.*line 1") as error:
        load_settings()
    assert "\n" not in str(error.value)


def test_a_wrong_value_in_finops_toml_names_the_file_and_the_key(tmp_path: Path) -> None:
    (tmp_path / "finops.toml").write_text('[budget]\ndaily_usd = "lots"\n')
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith(
        "setting FINOPS_BUDGET__DAILY_USD (finops.toml: [budget] daily_usd): "
    )


def test_the_settings_table_says_how_lists_and_mappings_are_written() -> None:
    rows = {name: (default, description) for name, default, description in settings_table()}
    default, description = rows["FINOPS_COSTS__GROUP_BY"]
    assert default == "'LINKED_ACCOUNT,SERVICE'"
    assert "Comma-separated values or a JSON list." in description
    assert "A JSON object." in rows["FINOPS_IDLE__PARAMS"][1]


def test_cli_accepts_comma_separated_regions(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "finops", "settings", "--check"],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "FINOPS_AWS__REGIONS": "us-east-1,eu-west-1",
            "FINOPS_IDLE__CHECKS": "ebs-gp2",
        },
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "settings are valid"
    assert result.stderr == ""


def test_the_group_by_keys_settings_allow_are_the_ones_ingest_accepts() -> None:
    from tasks.costs.cost_explorer import DIMENSION_COLUMNS
    from tasks.settings import GROUP_BY_DIMENSIONS

    assert set(GROUP_BY_DIMENSIONS) == set(DIMENSION_COLUMNS)


def test_good_urls_and_paths_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    good = {
        "FINOPS_FINDINGS_DB_URL": "postgresql+psycopg://finops@db.internal/finops",
        "FINOPS_COSTS__STORE_URL": "s3://bucket/costs",
        "FINOPS_COSTS__EXPORT_URL": "exports/cur",
        "FINOPS_REMEDIATION__AUDIT_LOG_URL": "file:///var/finops/audit.jsonl",
        "FINOPS_NOTIFY__SLACK_WEBHOOK_URL": "http://127.0.0.1:9999/hook",
        "FINOPS_NOTIFY__JIRA_URL": "https://acme.atlassian.net",
        "FINOPS_EVENTS__QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/finops",
        "FINOPS_NOTIFY__SNS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:finops",
        "FINOPS_AWS__MEMBER_ROLE_NAME": "finops-read+scan@org.example",
        "FINOPS_ANOMALIES__MONITOR_THRESHOLDS": '{"SERVICE": {"min_impact_usd": 50}}',
    }
    for name, value in good.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.costs.store_url == "s3://bucket/costs"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[budget]\ndaily_usd = inf\n", "[budget] daily_usd): Input should be a finite"),
        ("[remediation]\nmax_monthly_usd = inf\n", "max_monthly_usd): Input should be a fin"),
        ("[aws]\nregion = 'us-east-1'\n", "[aws] region): there is no such setting"),
        (
            "[anomalies.monitor_thresholds.SERVICE]\nmin_usd = 5\n",
            "FINOPS_ANOMALIES__MONITOR_THRESHOLDS",
        ),
        ("[idle.params.ebs-unattached]\ndays = nan\n", "a finite number"),
        ("[aws]\nmember_role_name = '../../evil role'\n", "not an IAM role name"),
        (
            "[anomalies]\nmin_history_days = 100\nlookback_days = 60\n",
            "setting FINOPS_ANOMALIES__MIN_HISTORY_DAYS (finops.toml: [anomalies] "
            "min_history_days): min_history_days=100 is above lookback_days=60",
        ),
        ("[costs]\ngroup_by = ['TAG:team']\n", "GroupBy 'TAG:team' is not supported"),
        ("findings_db_url = 'sqlite:/findings.db'\n", "not an SQLAlchemy URL"),
    ],
)
def test_a_wrong_value_in_finops_toml_is_one_line(tmp_path: Path, toml: str, expected: str) -> None:
    (tmp_path / "finops.toml").write_text(toml)
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("setting FINOPS_"), message
    assert expected in message, message


SECRET = "xoxb-1234567890-abcdefSECRET"


@pytest.mark.parametrize(
    "toml",
    [
        f'slack_bot_token = "{SECRET}"\n',
        f'notify = "{SECRET}"\n',
        f'[notify]\nslak_bot_token = "{SECRET}"\n',
        f'[notify]\nslack_webhook_url = "{SECRET}"\n',
        f'[notify]\njira_url = "{SECRET}"\n',
        f'[aws]\nmember_role_name = "{SECRET}/x"\n',
        f'[slack]\ntoken = "{SECRET}"\n',
    ],
)
def test_a_secret_in_a_wrong_place_is_never_in_the_error(tmp_path: Path, toml: str) -> None:
    (tmp_path / "finops.toml").write_text(toml)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert SECRET not in str(error.value)
    assert "1234567890" not in str(error.value)


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("FINOPS_NOTIFY__JIRA_URL", "xoxb-SECRET"),
        ("FINOPS_NOTIFY__SLACK_WEBHOOK_URL", "not-a-url-SECRET"),
        ("FINOPS_FINDINGS_DB_URL", "postgresql:/finops:hunter2SECRET@db/finops"),
        ("FINOPS_NOTIFY", '{"slack_bot_token": ["xoxb-SECRET"]}'),
        ("FINOPS_NOTIFY__SLAK_BOT_TOKEN", "xoxb-SECRET"),
    ],
)
def test_a_secret_in_a_wrong_variable_is_never_in_the_error(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "SECRET" not in str(error.value), str(error.value)


def test_redact_hides_token_shapes_and_url_passwords() -> None:
    from tasks.settings import redact

    line = "got 'xoxb-123-abc' and postgresql://finops:hunter2@db/x and https://hooks.slack.com/a/b"
    shown = redact(line)
    assert "xoxb-123-abc" not in shown
    assert "hunter2" not in shown
    assert "hooks.slack.com/a/b" not in shown
    assert "postgresql://finops:***@db/x" in shown


def test_an_unknown_finops_variable_is_named_with_the_nearest_setting() -> None:
    from tasks.settings import unknown_variables

    lines = unknown_variables(
        {"FINOPS_SLACK_BOT_TOKEN": SECRET, "FINOPS_IMAGE": "img", "FINOPS_DATA_DIR": "d"}
    )
    assert len(lines) == 1
    assert "FINOPS_SLACK_BOT_TOKEN" in lines[0]
    assert "FINOPS_NOTIFY__SLACK_BOT_TOKEN" in lines[0]
    assert SECRET not in lines[0]
    (far,) = unknown_variables({"FINOPS_SLAK": "1"})
    assert far.endswith("`finops settings` lists them all"), far


def _check(tmp_path: Path, toml: str) -> str:
    from finops.commands.settings import check_settings

    (tmp_path / "finops.toml").write_text(toml)
    with pytest.raises(SettingsError) as error:
        check_settings(load_settings())
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            "[idle]\nchecks = ['ec2-idel']\n",
            "setting FINOPS_IDLE__CHECKS (finops.toml: [idle] checks): unknown check 'ec2-idel'",
        ),
        (
            "[idle.params.ec2-idel]\ndays = 3\n",
            "setting FINOPS_IDLE__PARAMS (finops.toml: [idle.params.ec2-idel]): unknown check",
        ),
        (
            "[idle.params.ebs-unattached]\ndays = -1\n",
            "setting FINOPS_IDLE__PARAMS (finops.toml: [idle.params.ebs-unattached] days): "
            "check 'ebs-unattached' parameter days: Input should be greater than or equal to 0 "
            "(got -1)",
        ),
        (
            "[idle.params.ebs-unattached]\ndayz = 3\n",
            "check 'ebs-unattached' has no parameter 'dayz'; its parameters are days",
        ),
    ],
)
def test_settings_check_knows_the_idle_checks(tmp_path: Path, toml: str, expected: str) -> None:
    message = _check(tmp_path, toml)
    assert message.startswith("setting FINOPS_IDLE__"), message
    assert expected in message, message


def test_settings_check_accepts_known_checks_and_parameters(tmp_path: Path) -> None:
    from finops.commands.settings import check_settings

    (tmp_path / "finops.toml").write_text(
        "[idle]\nchecks = ['ebs-unattached']\n[idle.params.ebs-unattached]\ndays = 10\n"
    )
    check_settings(load_settings())


def _cli(tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [str(root / ".venv" / "bin" / "finops"), "settings", "--check"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **(env or {})},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )


@pytest.mark.parametrize(
    "toml",
    [f'slack_bot_token = "{SECRET}"\n', f'notify = "{SECRET}"\n'],
)
def test_cli_never_prints_a_secret_at_the_top_of_finops_toml(tmp_path: Path, toml: str) -> None:
    (tmp_path / "finops.toml").write_text(toml)
    result = _cli(tmp_path)
    assert result.returncode == 2, result
    assert SECRET not in result.stdout + result.stderr
    assert "1234567890" not in result.stdout + result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: setting FINOPS_"), result.stderr
    assert "Traceback" not in result.stderr


def test_cli_settings_check_refuses_an_unknown_check(tmp_path: Path) -> None:
    (tmp_path / "finops.toml").write_text("[idle.params.ebs-unattached]\ndays = -1\n")
    result = _cli(tmp_path)
    assert result.returncode == 2, result
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "FINOPS_IDLE__PARAMS" in result.stderr and "days" in result.stderr


def test_cli_warns_about_an_unknown_finops_variable(tmp_path: Path) -> None:
    result = _cli(tmp_path, {"FINOPS_SLACK_BOT_TOKEN": SECRET})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "settings are valid"
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "FINOPS_SLACK_BOT_TOKEN" in result.stderr
    assert "FINOPS_NOTIFY__SLACK_BOT_TOKEN" in result.stderr
    assert SECRET not in result.stderr
