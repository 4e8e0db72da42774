"""`finops settings [--check] [--markdown]`: validate the settings, or list every knob.

``tasks/settings.py`` is the ground floor and imports nothing of the project, so the rules that
need the rest of it live here: the idle check names (``idle.checks``, the keys of
``idle.params``) must be registered checks, each check's overrides must pass its parameter model,
and the GroupBy keys must be ones ingest accepts.  A run refuses each of these later, after it has
started; ``settings --check`` refuses them first, in the same one-line ``setting VAR: ...`` form.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import typer
from pydantic import ValidationError

from tasks.settings import (
    Settings,
    SettingsError,
    load_settings,
    redact,
    setting_label,
    settings_markdown,
    settings_table,
)


def _choose(name: str, known: Iterable[str]) -> str:
    """``did you mean 'x'? choose from a, b`` for an unknown name."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}choose from {', '.join(known)}"


def _check_params(name: str, params_model: Any, overrides: Mapping[str, Any]) -> None:
    try:
        params_model(**dict(overrides))
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        label = setting_label(
            "FINOPS_IDLE__PARAMS", f"[idle.params.{name}]" + (f" {key}" if key else "")
        )
        if first["type"] == "extra_forbidden":
            known = ", ".join(params_model.model_fields) or "none"
            raise SettingsError(
                f"{label}: check {name!r} has no parameter {key!r}; its parameters are {known}"
            ) from None
        message = first["msg"].removeprefix("Value error, ")
        value = first.get("input")
        shown = f" (got {value!r})" if key and not isinstance(value, dict) else ""
        raise SettingsError(
            redact(f"{label}: check {name!r} parameter {key or 'values'}: {message}{shown}")
        ) from None


def check_settings(settings: Settings) -> None:
    """Refuse what the settings model cannot know: unknown idle checks, check parameters their
    definitions refuse, GroupBy keys ingest refuses.

    Raises:
        SettingsError: one line naming the setting and what is allowed.
    """
    from tasks.costs.cost_explorer import group_by_spec
    from tasks.idle.checks import CHECKS

    for name in settings.idle.checks:
        if name not in CHECKS:
            label = setting_label("FINOPS_IDLE__CHECKS", "[idle] checks")
            raise SettingsError(f"{label}: unknown check {name!r}; {_choose(name, CHECKS)}")
    for name, overrides in settings.idle.params.items():
        check = CHECKS.get(name)
        if check is None:
            label = setting_label("FINOPS_IDLE__PARAMS", f"[idle.params.{name}]")
            raise SettingsError(f"{label}: unknown check {name!r}; {_choose(name, CHECKS)}")
        _check_params(name, check.params_model, overrides)
    try:
        group_by_spec(settings.costs.group_by)
    except ValueError as error:
        label = setting_label("FINOPS_COSTS__GROUP_BY", "[costs] group_by")
        raise SettingsError(f"{label}: {error}") from None


def register(app: typer.Typer) -> None:
    """Add the settings command to the CLI."""

    @app.command("settings")
    def show_settings(
        check: bool = typer.Option(False, "--check", help="Only validate the settings."),
        markdown: bool = typer.Option(False, "--markdown", help="Print the table as Markdown."),
    ) -> None:
        """Validate the settings (environment and finops.toml) and list every knob with its
        default.

        List settings take comma-separated values or a JSON list, mappings a JSON object.
        """
        settings = load_settings()  # a wrong setting is one line (the root group reports it)
        if check:
            check_settings(settings)
            typer.echo("settings are valid")
            return
        if markdown:
            typer.echo(settings_markdown())
            return
        for name, default, description in settings_table():
            typer.echo(f"{name:<48} {default:<28} {description}")
