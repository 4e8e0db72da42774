"""Which Prefect API a `finops` command runs its flows on, and telemetry off by default."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from finops.runtime import prepare_environment


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 404)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def live_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def _demo_state(data_dir: Path, api_url: str) -> None:
    (data_dir / "demo").mkdir(parents=True)
    (data_dir / "demo" / "demo.json").write_text(json.dumps({"api_url": api_url}))


def test_a_running_demo_server_is_used_when_nothing_else_is_configured(
    tmp_path: Path, live_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("finops.runtime._profile_api_url", lambda: None)
    _demo_state(tmp_path, live_api)
    env: dict[str, str] = {}
    assert prepare_environment(tmp_path, env) == live_api
    assert env["PREFECT_API_URL"] == live_api
    assert env["DO_NOT_TRACK"] == "1" and env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


def test_the_users_own_api_and_telemetry_choice_win(tmp_path: Path, live_api: str) -> None:
    _demo_state(tmp_path, live_api)
    env = {"PREFECT_API_URL": "http://127.0.0.1:1/api", "DO_NOT_TRACK": "0"}
    assert prepare_environment(tmp_path, env) == "http://127.0.0.1:1/api"
    assert env["DO_NOT_TRACK"] == "0"


def test_a_stopped_demo_leaves_prefect_to_its_temporary_server(tmp_path: Path) -> None:
    _demo_state(tmp_path, "http://127.0.0.1:9/api")  # discard port: nothing answers
    env: dict[str, str] = {}
    assert prepare_environment(tmp_path, env) is None
    assert "PREFECT_API_URL" not in env


def test_a_demo_state_naming_a_remote_host_is_ignored(tmp_path: Path) -> None:
    _demo_state(tmp_path, "http://example.invalid:4200/api")
    assert prepare_environment(tmp_path, {}) is None
