"""A local HTTP server that speaks the part of GitHub's REST API the code path uses.

Pull requests live in memory over a real bare Git repository (the remote the code path pushes
to): opening one needs its head branch to exist there, and merging merges it into the base
branch of that repository with ``git merge --no-ff``, as GitHub's merge button does.  Requests
are checked as GitHub checks them: no or a wrong ``Authorization`` is 401, a body that is not a
JSON object or lacks a required field is 400/422, an unknown head branch is 422, a second open
pull request for one head is 422 ("A pull request already exists").  ``faults`` holds canned
answers (status, headers) served instead of the next requests, for 429/5xx tests;
``lost_answers`` (method, status) carries the next request of that method out and then answers
with that status instead.

Endpoints: ``GET/POST /repos/{o}/{r}/pulls`` (``head``, ``state``, ``base``, ``page``),
``GET /repos/{o}/{r}/pulls/{n}``, ``PUT /repos/{o}/{r}/pulls/{n}/merge``,
``POST /repos/{o}/{r}/issues/{n}/labels``, ``GET/POST /repos/{o}/{r}/issues/{n}/comments``.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "ghp_localtesttoken0123456789"
GIT = ["git", "-c", "user.name=reviewer", "-c", "user.email=reviewer@example.org"]


@dataclass
class FakeGitHub:
    """State of the fake: pull requests, comments, every request seen, queued faults."""

    repo: str
    remote: Path
    base_url: str = ""
    pulls: list[dict[str, Any]] = field(default_factory=list)
    comments: dict[int, list[str]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    #: answers sent instead of the real one AFTER the request was carried out (a lost answer)
    lost_answers: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def branch_exists(self, branch: str) -> bool:
        done = subprocess.run(
            ["git", "-C", str(self.remote), "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
            capture_output=True,
        )
        return done.returncode == 0

    def merge(self, pull: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch) / "w"
            base, head = pull["base"]["ref"], pull["head"]["ref"]
            subprocess.run(
                [*GIT, "clone", "-q", "-b", base, str(self.remote), str(work)], check=True
            )
            subprocess.run([*GIT, "-C", str(work), "fetch", "-q", "origin", head], check=True)
            subprocess.run(
                [
                    *GIT,
                    "-C",
                    str(work),
                    "merge",
                    "-q",
                    "--no-ff",
                    "-m",
                    f"Merge #{pull['number']}",
                    "FETCH_HEAD",
                ],
                check=True,
            )
            subprocess.run([*GIT, "-C", str(work), "push", "-q", "origin", base], check=True)


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    prefix = f"/repos/{fake.repo}"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict[str, Any] | None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                value = json.loads(raw or b"null")
            except ValueError:
                return None
            return value if isinstance(value, dict) else None

        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            with fake.lock:
                fake.requests.append((method, self.path))
                fault = fake.faults.pop(0) if fake.faults else None
            if fault is not None:
                status, headers = fault
                return self._send(status, {"message": f"injected {status}"}, headers)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, {"message": "Bad credentials"})
            if not url.path.startswith(prefix):
                return self._send(404, {"message": "Not Found"})
            rest = url.path[len(prefix) :]
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            body = self._body() if method in ("POST", "PUT") else {}
            if method in ("POST", "PUT") and body is None:
                return self._send(400, {"message": "Problems parsing JSON"})
            assert body is not None
            with fake.lock:
                lost = None
                if fake.lost_answers and fake.lost_answers[0][0] == method:
                    lost = fake.lost_answers.pop(0)[1]
                if lost is None:
                    return self._route(method, rest, query, body)
                real = self._send
                self._send = lambda *args, **kwargs: None  # type: ignore[method-assign]
                self._route(method, rest, query, body)
                self._send = real  # type: ignore[method-assign]
                return self._send(lost, {"message": f"injected {lost} after the change"})

        def _route(
            self, method: str, rest: str, query: dict[str, str], body: dict[str, Any]
        ) -> None:
            if rest == "/pulls" and method == "GET":
                found = fake.pulls
                if "head" in query:
                    branch = query["head"].partition(":")[2]
                    found = [p for p in found if p["head"]["ref"] == branch]
                state = query.get("state", "open")
                if state != "all":
                    found = [p for p in found if p["state"] == state]
                if "base" in query:
                    found = [p for p in found if p["base"]["ref"] == query["base"]]
                per_page, page = int(query.get("per_page", 30)), int(query.get("page", 1))
                chunk = found[(page - 1) * per_page : page * per_page]
                headers = {}
                if page * per_page < len(found):
                    headers["Link"] = f'<{fake.base_url}{prefix}/pulls?page={page + 1}>; rel="next"'
                return self._send(200, chunk, headers)
            if rest == "/pulls" and method == "POST":
                missing = [k for k in ("title", "head", "base") if not isinstance(body.get(k), str)]
                if missing:
                    return self._send(422, {"message": "Validation Failed", "errors": missing})
                if not fake.branch_exists(body["head"]):
                    return self._send(
                        422,
                        {
                            "message": "Validation Failed",
                            "errors": [{"field": "head", "code": "invalid"}],
                        },
                    )
                if any(
                    p["head"]["ref"] == body["head"] and p["state"] == "open" for p in fake.pulls
                ):
                    return self._send(
                        422,
                        {
                            "message": "Validation Failed",
                            "errors": [
                                {"message": f"A pull request already exists for {body['head']}."}
                            ],
                        },
                    )
                number = len(fake.pulls) + 1
                pull = {
                    "number": number,
                    "html_url": f"{fake.base_url}/{fake.repo}/pull/{number}",
                    "state": "open",
                    "merged": False,
                    "title": body["title"],
                    "body": body.get("body") or "",
                    "head": {"ref": body["head"]},
                    "base": {"ref": body["base"]},
                    "labels": [],
                }
                fake.pulls.append(pull)
                return self._send(201, pull)
            match = re.fullmatch(r"/(pulls|issues)/(\d+)(/\w+)?", rest)
            if not match or not 1 <= int(match[2]) <= len(fake.pulls):
                return self._send(404, {"message": "Not Found"})
            pull = fake.pulls[int(match[2]) - 1]
            tail = match[3] or ""
            if match[1] == "pulls" and tail == "" and method == "GET":
                return self._send(200, pull)
            if match[1] == "pulls" and tail == "/merge" and method == "PUT":
                if pull["state"] != "open":
                    return self._send(405, {"message": "Pull Request is not mergeable"})
                fake.merge(pull)
                pull.update(state="closed", merged=True)
                return self._send(
                    200, {"merged": True, "message": "Pull Request successfully merged"}
                )
            if match[1] == "issues" and tail == "/labels" and method == "POST":
                labels = body.get("labels")
                if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                    return self._send(422, {"message": "Validation Failed"})
                names = [lab["name"] for lab in pull["labels"]]
                pull["labels"] += [{"name": x} for x in labels if x not in names]
                return self._send(200, pull["labels"])
            if match[1] == "issues" and tail == "/comments" and method == "GET":
                bodies = fake.comments.get(pull["number"], [])
                return self._send(200, [{"id": i + 1, "body": b} for i, b in enumerate(bodies)])
            if match[1] == "issues" and tail == "/comments" and method == "POST":
                if not isinstance(body.get("body"), str) or not body["body"]:
                    return self._send(422, {"message": "Validation Failed"})
                fake.comments.setdefault(pull["number"], []).append(body["body"])
                return self._send(
                    201, {"id": sum(map(len, fake.comments.values())), "body": body["body"]}
                )
            return self._send(404, {"message": "Not Found"})

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

    return Handler


def start_github(remote: Path, repo: str = "acme/infra") -> tuple[FakeGitHub, ThreadingHTTPServer]:
    fake = FakeGitHub(repo=repo, remote=remote)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server
