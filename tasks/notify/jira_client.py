"""Jira adapter: one deduplicated issue per fingerprint, through the ``jira`` library.

Jira Cloud authenticates with an account email and API token (basic auth); Server / Data Center
with a personal access token (bearer).  Before creating, a JQL search looks for the open issue
carrying the fingerprint label; when found, the update becomes a comment on it.  Resolving
transitions the open issue to done.  Errors come back as ``JiraDeliveryError`` (``permanent``
when a retry cannot fix them) built from the status code and Jira's own message only: the
library's exception text includes request headers, so it is never shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import requests
from jira import JIRA, JIRAError
from pydantic import SecretStr

from tasks.notify.issues import IssueSpec
from tasks.notify.secrets import Redactor

JiraAction = Literal["created", "commented", "transitioned", "none"]


class JiraDeliveryError(RuntimeError):
    """Jira did not take the change; ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class JiraOptions:
    """Where issues go and what they carry (from ``settings.notify``)."""

    project: str
    issue_type: str = "Task"
    labels: tuple[str, ...] = ("finops",)
    components: tuple[str, ...] = ()
    priorities: tuple[tuple[str, str], ...] = (("high", "High"), ("medium", "Medium"))
    done_transition: str = "Done"


@dataclass(frozen=True)
class JiraOutcome:
    """What the adapter did for one issue spec."""

    action: JiraAction
    key: str | None


def jql_open_with_label(project: str, label: str) -> str:
    """The JQL that finds the open issue carrying a fingerprint label.

    Example:
        >>> jql_open_with_label("FINOPS", "finops-ab12").split(" AND ")[1]
        'labels = "finops-ab12"'
    """
    return (
        f'project = "{project}" AND labels = "{label}" AND statusCategory != Done '
        "ORDER BY created DESC"
    )


class JiraTracker:
    """Creates, comments on and closes fingerprinted issues.

    Args:
        url: Jira base URL.
        options: project, issue type, labels, components, priority names, done transition.
        email: Jira Cloud account email (with ``api_token``).
        api_token: Jira Cloud API token.
        pat: Server / Data Center personal access token.
        deployment: ``auto`` picks Cloud when email and token are set, else Server/DC.
        max_retries: retries of the library's resilient session (429 / 503 with Retry-After).
        timeout_s: per request.

    Example:
        >>> tracker = JiraTracker("https://acme.atlassian.net", JiraOptions("FINOPS"),
        ...     email="a@acme.com", api_token=SecretStr("t"))  # doctest: +SKIP
        >>> tracker.upsert(spec).action  # doctest: +SKIP
        'created'
    """

    def __init__(
        self,
        url: str,
        options: JiraOptions,
        *,
        email: str = "",
        api_token: SecretStr | None = None,
        pat: SecretStr | None = None,
        deployment: str = "auto",
        max_retries: int = 2,
        timeout_s: float = 20.0,
        redactor: Redactor | None = None,
    ) -> None:
        cloud = deployment == "cloud" or (deployment == "auto" and bool(email and api_token))
        if cloud and not (email and api_token):
            raise ValueError(
                "Jira Cloud needs FINOPS_NOTIFY__JIRA_EMAIL and FINOPS_NOTIFY__JIRA_API_TOKEN"
            )
        if not cloud and pat is None:
            raise ValueError("Jira Server/DC needs FINOPS_NOTIFY__JIRA_PAT (a personal token)")
        self.url = url.rstrip("/")
        self.options = options
        self.cloud = cloud
        self.redactor = redactor or Redactor()
        self.redactor.add(api_token)
        self.redactor.add(pat)
        self._auth: dict[str, Any] = (
            {"basic_auth": (email, api_token.get_secret_value())}  # type: ignore[union-attr]
            if cloud
            else {"token_auth": pat.get_secret_value()}  # type: ignore[union-attr]
        )
        self._max_retries = max_retries
        self._timeout_s = timeout_s
        self._client: JIRA | None = None

    # -- connection ----------------------------------------------------------------------------
    @property
    def client(self) -> JIRA:
        if self._client is None:
            self._client = self._guard(
                lambda: JIRA(
                    server=self.url,
                    max_retries=self._max_retries,
                    timeout=self._timeout_s,
                    **self._auth,
                )
            )
            # The library's default waits up to 60 s between retries: too long inside a run.
            self._client._session.max_retry_delay = 10
        return self._client

    def whoami(self) -> str:
        """The authenticated user's display name (``myself``), for ``finops notify test``."""
        me = self._guard(lambda: self.client.myself())
        return str(me.get("displayName") or me.get("name") or me.get("accountId") or "?")

    # -- operations ----------------------------------------------------------------------------
    def find_open(self, label: str) -> str | None:
        """The key of the newest open issue carrying the label, if any."""
        jql = jql_open_with_label(self.options.project, label)
        issues = self._guard(
            lambda: self.client.search_issues(jql, maxResults=1, fields="summary,status")
        )
        return str(issues[0].key) if issues else None

    def upsert(self, spec: IssueSpec) -> JiraOutcome:
        """Comment on the open issue for the spec's label, or create it.

        Example:
            >>> tracker.upsert(spec)  # doctest: +SKIP
            JiraOutcome(action='commented', key='FINOPS-1')
        """
        existing = self.find_open(spec.label)
        if existing is not None:
            self._guard(lambda: self.client.add_comment(existing, spec.comment))
            return JiraOutcome("commented", existing)
        fields: dict[str, Any] = {
            "project": {"key": self.options.project},
            "summary": spec.summary,
            "description": spec.description,
            "issuetype": {"name": self.options.issue_type},
            "labels": [*self.options.labels, spec.label],
        }
        priority = dict(self.options.priorities).get(spec.impact)
        if priority:
            fields["priority"] = {"name": priority}
        if self.options.components:
            fields["components"] = [{"name": c} for c in self.options.components]
        issue = self._guard(lambda: self.client.create_issue(fields=fields, prefetch=False))
        return JiraOutcome("created", str(issue.key))

    def resolve(self, label: str, comment: str) -> JiraOutcome:
        """Comment on and transition the open issue for the label to done (if there is one)."""
        existing = self.find_open(label)
        if existing is None:
            return JiraOutcome("none", None)
        transitions = self._guard(lambda: self.client.transitions(existing))
        wanted = self.options.done_transition.casefold()
        chosen = next((t for t in transitions if str(t["name"]).casefold() == wanted), None)
        if chosen is None:
            chosen = next(
                (
                    t
                    for t in transitions
                    if t.get("to", {}).get("statusCategory", {}).get("key") == "done"
                ),
                None,
            )
        if chosen is None:
            names = ", ".join(str(t["name"]) for t in transitions) or "none"
            raise JiraDeliveryError(
                f"{existing}: no transition named {self.options.done_transition!r} "
                f"(available: {names}); set FINOPS_NOTIFY__JIRA_DONE_TRANSITION",
                permanent=True,
            )
        self._guard(lambda: self.client.add_comment(existing, comment))
        self._guard(lambda: self.client.transition_issue(existing, str(chosen["id"])))
        return JiraOutcome("transitioned", existing)

    # -- internals -----------------------------------------------------------------------------
    def _guard(self, operation: Any) -> Any:
        try:
            return operation()
        except JIRAError as error:
            status = error.status_code or 0
            detail = (error.text or "").strip().replace("\n", " ")[:300]
            # 401/403: wrong or expired credentials hold for every issue until fixed.
            permanent = 400 <= status < 500 and status not in (401, 403, 429)
            raise JiraDeliveryError(
                self.redactor.redact(f"Jira answered {status or 'no status'}: {detail}"),
                permanent=permanent,
            ) from None
        except requests.RequestException as error:
            raise JiraDeliveryError(
                self.redactor.redact(f"Jira unreachable: {type(error).__name__}"),
                permanent=False,
            ) from None
