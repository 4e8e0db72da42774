"""Local HTTP servers that speak the used part of Slack's Web API, Slack webhooks and Jira REST.

They check what the real services check (auth, required fields, Slack's 50-block and text limits,
Jira's required fields) and keep what they received in memory, so tests assert on what a person
would see.  Outages are scripted: ``fail_next(status, times, retry_after)`` or ``down = True``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

SLACK_TOKEN = "xoxb-fake-7a1b2c3d4e5f-token"
WEBHOOK_PATH = "/services/T0001/B0001/hooksecret0123456789"
JIRA_EMAIL = "finops-bot@example.com"
JIRA_API_TOKEN = "jira-cloud-token-5e6f7a8b"
JIRA_PAT = "jira-dc-pat-9c8d7e6f"

SLACK_BLOCK_TYPES = {"section", "header", "context", "divider", "actions", "image", "rich_text"}


@dataclass
class Failure:
    status: int
    times: int
    retry_after: int | None = None
    body: str = ""


class _Server:
    """A threaded HTTP server on 127.0.0.1 with a free port and scripted failures."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.failures: list[Failure] = []
        self.down = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = outer.dispatch(
                    method, self.path, dict(self.headers.items()), body
                )
                data = payload if isinstance(payload, bytes) else payload.encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail_next(
        self, status: int, times: int = 1, retry_after: int | None = None, body: str = ""
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (and a Retry-After header)."""
        with self.lock:
            self.failures.append(Failure(status, times, retry_after, body))

    def dispatch(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], str | bytes]:
        with self.lock:
            self.requests.append((method, path))
            if self.down:
                return 503, {"Content-Type": "text/plain"}, "service unavailable"
            if self.failures:
                failure = self.failures[0]
                failure.times -= 1
                if failure.times <= 0:
                    self.failures.pop(0)
                extra = {"Content-Type": "text/plain"}
                if failure.retry_after is not None:
                    extra["Retry-After"] = str(failure.retry_after)
                return failure.status, extra, failure.body or "error"
            return self.route(method, path, {k.lower(): v for k, v in headers.items()}, body)

    def route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], str | bytes]:
        raise NotImplementedError


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(payload)


# -- Slack ----------------------------------------------------------------------------------------
@dataclass
class SlackMessageRecord:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    updates: list[dict[str, Any]] = field(default_factory=list)
    accepted_at: float = field(default_factory=time.perf_counter)  # for bench/bench_notify.py


def _block_error(blocks: Any) -> str | None:
    """What Slack would reject in a blocks array, or None."""
    if not isinstance(blocks, list):
        return "invalid_blocks_format"
    if len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") not in SLACK_BLOCK_TYPES:
            return "invalid_blocks"
        kind = block["type"]
        text = block.get("text")
        if kind == "header" and (not text or len(text.get("text", "")) > 150):
            return "invalid_blocks"
        if kind == "section":
            if text is None and not block.get("fields"):
                return "invalid_blocks"
            if text is not None and not 1 <= len(text.get("text", "")) <= 3000:
                return "invalid_blocks"
        if kind == "actions":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= 25:
                return "invalid_blocks"
            for element in elements:
                if len(element.get("text", {}).get("text", "")) > 75:
                    return "invalid_blocks"
        if kind == "context" and not 1 <= len(block.get("elements", [])) <= 10:
            return "invalid_blocks"
    return None


class FakeSlack(_Server):
    """Slack's Web API (chat.postMessage, chat.update, auth.test, files upload v2) and webhooks.

    ``messages`` holds every accepted message; ``webhook_posts`` every accepted webhook body;
    ``files`` every completed upload with its bytes.
    """

    channel_id = "C0FINOPS"

    def __init__(self, token: str = SLACK_TOKEN) -> None:
        self.token = token
        self.messages: list[SlackMessageRecord] = []
        self.webhook_posts: list[dict[str, Any]] = []
        self.uploads: dict[str, dict[str, Any]] = {}
        self.files: list[dict[str, Any]] = []
        self.deny_scopes: set[str] = set()
        self._counter = 0
        super().__init__()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{WEBHOOK_PATH}"

    def top_level(self) -> list[SlackMessageRecord]:
        return [m for m in self.messages if m.thread_ts is None]

    def replies(self, ts: str) -> list[SlackMessageRecord]:
        return [m for m in self.messages if m.thread_ts == ts]

    def _next_ts(self) -> str:
        self._counter += 1
        return f"1764150000.{self._counter:06d}"

    def route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], str | bytes]:
        parsed = urlparse(path)
        if parsed.path.startswith("/services/"):
            return self._webhook(parsed.path, headers, body)
        if parsed.path.startswith("/upload/"):
            file_id = parsed.path.rsplit("/", 1)[-1]
            if file_id not in self.uploads:
                return 404, {}, "unknown upload"
            self.uploads[file_id]["data"] = body
            return 200, {"Content-Type": "text/plain"}, f"OK - {len(body)}"
        if not parsed.path.startswith("/api/"):
            return 404, {}, "not found"
        api_method = parsed.path.removeprefix("/api/")
        if headers.get("authorization") != f"Bearer {self.token}":
            error = "not_authed" if "authorization" not in headers else "invalid_auth"
            return _json(200, {"ok": False, "error": error})
        args = self._args(parsed.query, headers, body)
        handler = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }.get(api_method)
        if handler is None:
            return _json(200, {"ok": False, "error": "unknown_method"})
        return _json(200, handler(args))

    @staticmethod
    def _args(query: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        args: dict[str, Any] = {k: v[0] for k, v in parse_qs(query).items()}
        content_type = headers.get("content-type", "")
        if body and "application/json" in content_type:
            args.update(json.loads(body))
        elif body:
            args.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
        for key in ("blocks", "files"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user": "finops-bot", "team": "Acme", "user_id": "U0BOT"}

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        error = _block_error(args.get("blocks", []))
        if error:
            return {"ok": False, "error": error}
        thread_ts = args.get("thread_ts")
        if thread_ts and not any(m.ts == thread_ts for m in self.messages):
            return {"ok": False, "error": "thread_not_found"}
        record = SlackMessageRecord(
            channel=self.channel_id,
            ts=self._next_ts(),
            text=args.get("text", ""),
            blocks=args.get("blocks", []),
            thread_ts=thread_ts,
        )
        self.messages.append(record)
        return {"ok": True, "channel": record.channel, "ts": record.ts, "message": {}}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        target = next(
            (
                m
                for m in self.messages
                if m.ts == args.get("ts") and m.channel == args.get("channel")
            ),
            None,
        )
        if target is None:
            return {"ok": False, "error": "message_not_found"}
        error = _block_error(args.get("blocks", []))
        if error:
            return {"ok": False, "error": error}
        target.updates.append({"text": args.get("text"), "blocks": args.get("blocks", [])})
        target.text = args.get("text", target.text)
        target.blocks = args.get("blocks", target.blocks)
        return {"ok": True, "channel": target.channel, "ts": target.ts}

    def _get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        if "files:write" in self.deny_scopes:
            return {"ok": False, "error": "missing_scope", "needed": "files:write"}
        if not args.get("filename") or not args.get("length"):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{len(self.uploads) + 1:06d}"
        self.uploads[file_id] = {"filename": args["filename"], "length": int(args["length"])}
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        completed = []
        for item in args.get("files", []):
            upload = self.uploads.get(item.get("id"))
            if upload is None or "data" not in upload:
                return {"ok": False, "error": "file_not_found"}
            if len(upload["data"]) != upload["length"]:
                return {"ok": False, "error": "file_upload_size_mismatch"}
            record = {
                "id": item["id"],
                "title": item.get("title"),
                "channel": args.get("channel_id"),
                "thread_ts": args.get("thread_ts"),
                "data": upload["data"],
            }
            self.files.append(record)
            completed.append({"id": item["id"], "title": item.get("title")})
        return {"ok": True, "files": completed}

    def _webhook(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], str]:
        if path != WEBHOOK_PATH:
            return 404, {"Content-Type": "text/plain"}, "no_service"
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return 400, {"Content-Type": "text/plain"}, "invalid_payload"
        if not isinstance(payload, dict):
            return 400, {"Content-Type": "text/plain"}, "invalid_payload"
        if not payload.get("text") and not payload.get("blocks"):
            return 400, {"Content-Type": "text/plain"}, "no_text"
        if _block_error(payload.get("blocks", [])):
            return 400, {"Content-Type": "text/plain"}, "invalid_blocks"
        self.webhook_posts.append(payload)
        return 200, {"Content-Type": "text/plain"}, "ok"


# -- Jira -----------------------------------------------------------------------------------------
TRANSITIONS = [
    {"id": "11", "name": "To Do", "to": {"name": "To Do", "statusCategory": {"key": "new"}}},
    {
        "id": "21",
        "name": "In Progress",
        "to": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
    },
    {"id": "31", "name": "Done", "to": {"name": "Done", "statusCategory": {"key": "done"}}},
]
LABEL_RE = re.compile(r'labels\s*=\s*"?([\w.:-]+)"?')
PROJECT_RE = re.compile(r'project\s*=\s*"?(\w+)"?')


class FakeJira(_Server):
    """Jira's REST API v2/v3 as the ``jira`` library uses it, with state in memory.

    ``deployment`` is ``Cloud`` (basic auth: email + API token) or ``Server`` (bearer PAT).
    ``issues`` maps keys to issues with their fields, comments and status.
    """

    issue_types = ("Task", "Bug", "Story")
    priorities = ("Highest", "High", "Medium", "Low", "Lowest")

    def __init__(self, deployment: str = "Cloud", project: str = "FINOPS") -> None:
        self.deployment = deployment
        self.project = project
        self.issues: dict[str, dict[str, Any]] = {}
        self.searches: list[str] = []
        super().__init__()

    def open_issues(self) -> list[dict[str, Any]]:
        return [i for i in self.issues.values() if i["status"] != "Done"]

    def _authorized(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        if self.deployment == "Cloud":
            expected = base64.b64encode(f"{JIRA_EMAIL}:{JIRA_API_TOKEN}".encode()).decode()
            return auth == f"Basic {expected}"
        return auth == f"Bearer {JIRA_PAT}"

    def route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], str | bytes]:
        parsed = urlparse(path)
        match = re.match(r"^/rest/api/(2|3)/(.*)$", parsed.path)
        if match is None:
            return 404, {}, "not found"
        resource = match.group(2).rstrip("/")
        if resource == "serverInfo":
            # serverInfo answers anonymously, as on real Jira.
            return _json(200, self._server_info())
        if not self._authorized(headers):
            return _json(401, {"errorMessages": ["You are not authenticated."], "errors": {}})
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        data = json.loads(body) if body else {}
        if resource == "myself":
            return _json(200, {"displayName": "FinOps Bot", "name": "finops", "accountId": "a1"})
        if resource == "field":
            return _json(200, [])
        if resource in {"search", "search/jql"}:
            jql = query.get("jql") or data.get("jql", "")
            return self._search(jql, resource, int(query.get("maxResults", 50)))
        if resource == "issue" and method == "POST":
            return self._create(data)
        issue_match = re.match(r"^issue/([A-Z]+-\d+)(?:/(comment|transitions))?$", resource)
        if issue_match is None:
            return 404, {}, "not found"
        key, sub = issue_match.groups()
        issue = self.issues.get(key)
        if issue is None:
            return _json(404, {"errorMessages": ["Issue does not exist"], "errors": {}})
        if sub is None and method == "GET":
            return _json(200, self._issue_json(issue))
        if sub == "comment" and method == "POST":
            if not data.get("body"):
                return _json(400, {"errorMessages": [], "errors": {"body": "Comment body"}})
            comment = {"id": str(len(issue["comments"]) + 1), "body": data["body"]}
            issue["comments"].append(comment)
            return _json(201, comment)
        if sub == "transitions" and method == "GET":
            return _json(200, {"transitions": TRANSITIONS})
        if sub == "transitions" and method == "POST":
            wanted = str(data.get("transition", {}).get("id", ""))
            chosen = next((t for t in TRANSITIONS if t["id"] == wanted), None)
            if chosen is None:
                return _json(400, {"errorMessages": ["Transition id is not valid."], "errors": {}})
            issue["status"] = chosen["to"]["name"]
            return 204, {}, ""
        return 405, {}, "method not allowed"

    def _server_info(self) -> dict[str, Any]:
        cloud = self.deployment == "Cloud"
        return {
            "baseUrl": self.url,
            "version": "1001.0.0" if cloud else "9.12.2",
            "versionNumbers": [1001, 0, 0] if cloud else [9, 12, 2],
            "deploymentType": self.deployment,
            "serverTitle": "Fake Jira",
        }

    def _search(self, jql: str, resource: str, max_results: int) -> tuple[int, dict[str, str], str]:
        self.searches.append(jql)
        label = LABEL_RE.search(jql)
        project = PROJECT_RE.search(jql)
        if label is None:
            return _json(400, {"errorMessages": [f"unsupported JQL: {jql}"], "errors": {}})
        found = [
            issue
            for issue in self.issues.values()
            if label.group(1) in issue["fields"]["labels"]
            and (project is None or issue["project"] == project.group(1))
            and ("statusCategory != Done" not in jql or issue["status"] != "Done")
        ]
        found.sort(key=lambda i: -i["id"])
        page = [self._issue_json(i) for i in found[:max_results]]
        if resource == "search/jql":
            return _json(200, {"issues": page, "isLast": True})
        return _json(
            200, {"startAt": 0, "maxResults": max_results, "total": len(found), "issues": page}
        )

    def _create(self, data: dict[str, Any]) -> tuple[int, dict[str, str], str]:
        fields = data.get("fields", {})
        errors: dict[str, str] = {}
        if fields.get("project", {}).get("key") != self.project:
            errors["project"] = "valid project is required"
        if not str(fields.get("summary", "")).strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(fields["summary"]) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        if fields.get("issuetype", {}).get("name") not in self.issue_types:
            errors["issuetype"] = "valid issue type is required"
        priority = fields.get("priority")
        if priority is not None and priority.get("name") not in self.priorities:
            errors["priority"] = "Specify a valid priority"
        labels = fields.get("labels", [])
        if any(" " in label for label in labels):
            errors["labels"] = "Labels cannot contain spaces"
        if errors:
            return _json(400, {"errorMessages": [], "errors": errors})
        number = len(self.issues) + 1
        key = f"{self.project}-{number}"
        self.issues[key] = {
            "id": 10000 + number,
            "key": key,
            "project": self.project,
            "fields": fields,
            "comments": [],
            "status": "To Do",
        }
        return _json(201, {"id": str(10000 + number), "key": key, "self": f"{self.url}/{key}"})

    def _issue_json(self, issue: dict[str, Any]) -> dict[str, Any]:
        done = issue["status"] == "Done"
        return {
            "id": str(issue["id"]),
            "key": issue["key"],
            "self": f"{self.url}/rest/api/2/issue/{issue['id']}",
            "fields": {
                **issue["fields"],
                "status": {
                    "name": issue["status"],
                    "statusCategory": {"key": "done" if done else "new"},
                },
            },
        }


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A fresh fake Slack (Web API + webhook) on a free loopback port."""
    server = FakeSlack()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def fake_jira() -> Iterator[FakeJira]:
    """A fresh fake Jira Cloud on a free loopback port."""
    server = FakeJira("Cloud")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def fake_jira_server() -> Iterator[FakeJira]:
    """A fresh fake Jira Server / Data Center (personal access token) on a free port."""
    server = FakeJira("Server")
    try:
        yield server
    finally:
        server.close()


# -- sample report data (what the anomaly and idle flows hand to the report) ----------------------
def sample_finding(
    index: int,
    check: str = "ebs-unattached",
    account: str = "111111111111",
    savings: str | None = "8.00",
) -> Any:
    """A finding as the idle checks produce it."""
    from decimal import Decimal

    from tasks.findings.model import Finding

    return Finding(
        check=check,
        account_id=account,
        region="us-east-1",
        resource_id=f"vol-{index:08d}",
        resource_arn=f"arn:aws:ec2:us-east-1:{account}:volume/vol-{index:08d}",
        resource_type="ebs-volume",
        title=f"Unattached volume {index}",
        monthly_savings_usd=None if savings is None else Decimal(savings),
        recommended_actions=["snapshot_and_delete", "delete", "skip"],
        owner="data-team",
    )


def sample_anomaly(anomaly_id: str = "anom-ec2", impact: str = "412.50", **changes: Any) -> Any:
    """An open EC2 anomaly with two causes."""
    from datetime import date
    from decimal import Decimal

    from tasks.anomalies.models import AnomalyCause, AnomalySummary

    impact_usd = Decimal(impact)
    values: dict[str, Any] = {
        "id": anomaly_id,
        "monitor": "service: Amazon Elastic Compute Cloud - Compute",
        "start": date(2026, 11, 23),
        "end": date(2026, 11, 25),
        "actual_usd": Decimal("1200.00") + impact_usd,
        "expected_usd": Decimal("1200.00"),
        "impact_usd": impact_usd,
        "impact_pct": float(impact_usd / Decimal("1200.00") * 100),
        "causes": [
            AnomalyCause(
                dimension="account",
                value="222222222222",
                impact_usd=impact_usd * Decimal("0.75"),
                share=0.75,
            ),
            AnomalyCause(
                dimension="usage type",
                value="BoxUsage:m5.4xlarge",
                impact_usd=impact_usd * Decimal("0.25"),
                share=0.25,
            ),
        ],
    }
    values.update(changes)
    return AnomalySummary(**values)


def sample_digest(findings: int = 3, anomalies: int = 1, **changes: Any) -> Any:
    """A day's report input with budgets, anomalies, findings and 30 days of spend."""
    from datetime import date, timedelta
    from decimal import Decimal

    from tasks.notify.models import BudgetState, DailyCost, DigestInput

    day = date(2026, 11, 25)
    values: dict[str, Any] = {
        "day": day,
        "spend_usd": Decimal("1234.56"),
        "expected_usd": Decimal("1100.00"),
        "budgets": [
            BudgetState(
                name="daily",
                period="day",
                budget_usd=Decimal("1000"),
                actual_usd=Decimal("1234.56"),
            ),
            BudgetState(
                name="monthly",
                period="month",
                budget_usd=Decimal("30000"),
                actual_usd=Decimal("24000"),
                forecast_usd=Decimal("31000"),
            ),
        ],
        "anomalies": [sample_anomaly(f"anom-{i}", impact=str(400 + i)) for i in range(anomalies)],
        "findings": [sample_finding(i, savings=f"{8 + i}.00") for i in range(findings)],
        "daily_costs": [
            DailyCost(day=day - timedelta(days=29 - i), cost_usd=Decimal(1000 + 7 * i))
            for i in range(30)
        ],
    }
    values.update(changes)
    return DigestInput(**values)
