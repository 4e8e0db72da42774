"""The process environment the `finops` command runs its flows in: which Prefect API, no telemetry.

Prefect starts a temporary server of its own (4-5 s, before the first AWS request) whenever no API
is configured.  A user who has one, by ``PREFECT_API_URL``, a Prefect profile, or the server that
``finops demo`` left running, gets it instead.  Prefect's SDK telemetry and the server's analytics
are off unless the user turned them on: this tool runs on machines that may not reach the internet,
where they only add an error line.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import MutableMapping
from pathlib import Path

#: Variables set when the user has not set them: Prefect's telemetry and the server's analytics.
QUIET_DEFAULTS = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def demo_api_url(data_dir: Path, timeout_s: float = 0.5) -> str | None:
    """The API of the Prefect server ``finops demo`` started under ``data_dir``, if it answers.

    Example:
        >>> demo_api_url(Path("/nonexistent")) is None
        True
    """
    try:
        state = json.loads((data_dir / "demo" / "demo.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    api_url = str(state.get("api_url") or "").rstrip("/")
    if not api_url.startswith(("http://127.0.0.1:", "http://localhost:")):
        return None
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout_s) as answer:
            return api_url if answer.status == 200 else None
    except OSError:
        return None


def _profile_api_url() -> str | None:
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def prepare_environment(
    data_dir: Path, environ: MutableMapping[str, str] | None = None
) -> str | None:
    """Quiet Prefect's telemetry and point it at a running API; return the API chosen, if any.

    ``PREFECT_API_URL`` in the environment wins, then the active Prefect profile's, then the demo's
    server; with none, Prefect's own temporary server is what the flows get.  Call before Prefect
    reads its settings (the CLI does this first).

    Example:
        >>> env = {"PREFECT_API_URL": "http://127.0.0.1:4200/api"}
        >>> prepare_environment(Path("/nonexistent"), env)
        'http://127.0.0.1:4200/api'
        >>> env["DO_NOT_TRACK"]
        '1'
    """
    environ = os.environ if environ is None else environ
    for name, value in QUIET_DEFAULTS.items():
        environ.setdefault(name, value)
    if environ.get("PREFECT_API_URL"):
        return environ["PREFECT_API_URL"]
    demo = demo_api_url(data_dir)
    if demo is None:
        return None
    # Only now import Prefect's settings (about a second): a profile's own API still wins.
    configured = _profile_api_url()
    if configured:
        return configured
    environ["PREFECT_API_URL"] = demo
    return demo
