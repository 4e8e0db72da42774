"""A small GitHub REST client for the pull requests of the code path (over httpx).

Only what the code path needs: find a pull request by its head branch, open one, label it,
comment on it, read it (and merge, for people and tests).  Throttling (429, or 403 with the
rate limit spent) waits for ``Retry-After`` (or the reset time, capped) and 5xx answers back off
exponentially, both a bounded number of times; a refused connection or a timeout is one line
naming the URL.  Opening a pull request is idempotent by branch: before a retry, and when
GitHub says one already exists (422), the open one for the branch is returned instead.
The token goes only into the ``Authorization`` header, never into a message or a log.

Example:
    >>> gh = GitHub("https://api.github.com", "acme/infra", token)  # doctest: +SKIP
    >>> pr = gh.open_pull_request("finops/run-1", "main", "FinOps", body)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

#: The longest wait for a Retry-After or a rate-limit reset (a run never sleeps for an hour).
MAX_WAIT_S = 60.0


class GitHubError(RuntimeError):
    """GitHub refused or could not be reached: one line, with what to check."""


@dataclass(frozen=True)
class PullRequest:
    """The fields of a pull request the code path uses."""

    number: int
    url: str
    state: str
    merged: bool
    head: str
    body: str

    @classmethod
    def of(cls, data: dict[str, Any]) -> PullRequest:
        return cls(
            number=int(data["number"]),
            url=str(data.get("html_url") or data.get("url") or ""),
            state=str(data.get("state", "")),
            merged=bool(data.get("merged") or data.get("merged_at")),
            head=str((data.get("head") or {}).get("ref", "")),
            body=str(data.get("body") or ""),
        )


def token_from(env_var: str, block_name: str = "") -> str:
    """The token from a Prefect Secret block (when named), else from the environment.

    Raises:
        GitHubError: no token is configured (the message names where to put it).
    """
    if block_name:
        from tasks.notify.secrets import load_secret

        secret = load_secret(None, block_name)
        if secret is not None:
            return secret.get_secret_value()
        raise GitHubError(f"Prefect Secret block {block_name!r} is empty; put the token in it")
    token = os.environ.get(env_var, "")
    if not token:
        raise GitHubError(
            f"no GitHub token: set {env_var} or FINOPS_IAC__GITHUB_TOKEN_BLOCK (a Secret block)"
        )
    return token


class GitHub:
    """One repository's pull requests through the REST API.

    Args:
        api_url: ``https://api.github.com`` or a GitHub Enterprise ``https://host/api/v3``.
        repo: ``owner/name``.
        token: a token with ``pull_requests: write`` (and ``issues: write`` for labels).
        max_retries: retries per request on 429/403-rate-limit and on 5xx.
        backoff_s: the 5xx backoff factor (waits ``backoff_s * 2**attempt``).
        timeout_s: per request.
        sleep: how to wait (tests pass a recorder).
    """

    def __init__(
        self,
        api_url: str,
        repo: str,
        token: str,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        timeout_s: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.repo = repo
        self.owner = repo.split("/", 1)[0]
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.sleep = sleep
        self._http = httpx.Client(
            base_url=self.api_url,
            timeout=timeout_s,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "finops-flows",
            },
        )

    def close(self) -> None:
        self._http.close()

    # -- transport -----------------------------------------------------------------------------
    def _wait_for(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying this answer, or None when it is final."""
        status = response.status_code
        limited = status == 429 or (
            status == 403 and response.headers.get("x-ratelimit-remaining") == "0"
        )
        if limited:
            after = response.headers.get("retry-after", "")
            if after.isdigit():
                return min(float(after), MAX_WAIT_S)
            if after:
                try:
                    moment = parsedate_to_datetime(after).timestamp()
                    return min(max(moment - time.time(), 0.0), MAX_WAIT_S)
                except (TypeError, ValueError):
                    pass
            reset = response.headers.get("x-ratelimit-reset", "")
            if reset.isdigit():
                return min(max(float(reset) - time.time(), 0.0), MAX_WAIT_S)
            return min(self.backoff_s * 2**attempt, MAX_WAIT_S)
        if status >= 500:
            return min(self.backoff_s * 2**attempt, MAX_WAIT_S)
        return None

    def request(self, method: str, path: str, retry: bool = True, **kwargs: Any) -> httpx.Response:
        """One API call, retried as the module says; 4xx other than throttling is final.

        Raises:
            GitHubError: unreachable, or still throttled / failing after the retries.
        """
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.ConnectError as error:
                raise GitHubError(
                    f"cannot reach GitHub at {self.api_url}: {error} "
                    "(check FINOPS_IAC__GITHUB_API_URL and the network)"
                ) from None
            except httpx.TimeoutException:
                raise GitHubError(f"GitHub at {self.api_url} did not answer in time") from None
            wait = self._wait_for(response, attempt)
            if wait is None:
                return response
            if not retry or attempt >= self.max_retries:
                raise GitHubError(
                    f"GitHub {method} {path}: HTTP {response.status_code} after "
                    f"{attempt + 1} attempt(s): {_message(response)}"
                )
            self.sleep(wait)
            attempt += 1

    def _json(self, response: httpx.Response, what: str) -> Any:
        if response.status_code >= 400:
            raise GitHubError(f"GitHub {what}: HTTP {response.status_code}: {_message(response)}")
        return response.json()

    # -- pull requests -------------------------------------------------------------------------
    def find_pull_request(self, branch: str) -> PullRequest | None:
        """The pull request whose head is ``branch`` (open first, then the latest closed)."""
        response = self.request(
            "GET",
            f"/repos/{self.repo}/pulls",
            params={"head": f"{self.owner}:{branch}", "state": "all", "per_page": 100},
        )
        found = [PullRequest.of(p) for p in self._json(response, f"pulls?head={branch}")]
        found.sort(key=lambda p: (p.state != "open", -p.number))
        return found[0] if found else None

    def open_pull_requests(self, base: str) -> list[PullRequest]:
        """Every open pull request against ``base`` (pages followed)."""
        pulls: list[PullRequest] = []
        page = 1
        while True:
            response = self.request(
                "GET",
                f"/repos/{self.repo}/pulls",
                params={"state": "open", "base": base, "per_page": 100, "page": page},
            )
            batch = self._json(response, "pulls")
            pulls += [PullRequest.of(p) for p in batch]
            if len(batch) < 100 or 'rel="next"' not in response.headers.get("link", ""):
                return pulls
            page += 1

    def open_pull_request(self, branch: str, base: str, title: str, body: str) -> PullRequest:
        """Open a pull request for ``branch``, or return the one already open for it."""
        existing = self.find_pull_request(branch)
        if existing is not None and existing.state == "open":
            return existing
        payload = {"title": title, "head": branch, "base": base, "body": body}
        try:
            # not retried blindly: a 5xx may have created it; look before asking again
            response = self.request("POST", f"/repos/{self.repo}/pulls", retry=False, json=payload)
        except GitHubError:
            again = self.find_pull_request(branch)
            if again is not None and again.state == "open":
                return again
            response = self.request("POST", f"/repos/{self.repo}/pulls", json=payload)
        if response.status_code == 422:
            again = self.find_pull_request(branch)
            if again is not None and again.state == "open":
                return again
        return PullRequest.of(self._json(response, "create pull request"))

    def add_labels(self, number: int, labels: list[str]) -> None:
        """Add labels (GitHub creates unknown ones); adding twice changes nothing."""
        if labels:
            response = self.request(
                "POST", f"/repos/{self.repo}/issues/{number}/labels", json={"labels": labels}
            )
            self._json(response, f"labels of #{number}")

    def comment(self, number: int, body: str) -> None:
        response = self.request(
            "POST", f"/repos/{self.repo}/issues/{number}/comments", json={"body": body}
        )
        self._json(response, f"comment on #{number}")

    def comments(self, number: int) -> list[str]:
        """The bodies of a pull request's comments (pages followed)."""
        bodies: list[str] = []
        page = 1
        while True:
            response = self.request(
                "GET",
                f"/repos/{self.repo}/issues/{number}/comments",
                params={"per_page": 100, "page": page},
            )
            batch = self._json(response, f"comments of #{number}")
            bodies += [str(c.get("body") or "") for c in batch]
            if len(batch) < 100 or 'rel="next"' not in response.headers.get("link", ""):
                return bodies
            page += 1

    def get_pull_request(self, number: int) -> PullRequest:
        response = self.request("GET", f"/repos/{self.repo}/pulls/{number}")
        return PullRequest.of(self._json(response, f"pull #{number}"))

    def merge(self, number: int, method: str = "merge") -> None:
        response = self.request(
            "PUT", f"/repos/{self.repo}/pulls/{number}/merge", json={"merge_method": method}
        )
        self._json(response, f"merge #{number}")


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].replace("\n", " ")
    if isinstance(data, dict):
        return str(data.get("message", ""))[:200]
    return ""


__all__ = ["GitHub", "GitHubError", "PullRequest", "token_from"]
