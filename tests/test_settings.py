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
