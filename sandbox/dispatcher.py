"""The sandbox's WSGI front door: control endpoints, Cost Explorer, denied roles, then moto.

One endpoint serves every AWS service, so any boto3 or AWS CLI client pointed at it with
``AWS_ENDPOINT_URL`` works unchanged:

* ``/_sandbox/...``: JSON control endpoints (loopback callers only): ``GET health``,
  ``GET ground-truth``, ``POST``/``DELETE deny-role`` ``{"role_arn": ...}``,
  ``POST restate`` ``{"date": "YYYY-MM-DD", "factor": 1.1}``.
* ``X-Amz-Target: AWSInsightsIndexService.<Op>`` for the operations the sandbox ledger
  implements (GetCostAndUsage, ...): answered by :mod:`sandbox.cost_explorer`.
* the services moto lacks, each its own module behind :mod:`sandbox.services` (routed by the
  request's SigV4 credential scope and operation).
* STS ``AssumeRole`` of a denied role ARN: an AWS-shaped ``AccessDenied`` error.
* everything else: moto's own WSGI application.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from io import BytesIO
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from sandbox.services import Route, SandboxService, ServiceRequest, route

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
StartResponse = Callable[..., Any]

CE_TARGET_PREFIX = "AWSInsightsIndexService."
STS_TARGET_PREFIX = "AWSSecurityTokenServiceV20110615."
CONTROL_PREFIX = "/_sandbox/"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass
class SandboxControl:
    """The mutable state the dispatcher consults; filled in by the server as seeding proceeds.

    Attributes:
        ready: seeding finished; Cost Explorer and ground truth are served only then.
        ground_truth: the seeded organisation's right answers.
        denied_roles: role ARNs whose AssumeRole answers AccessDenied.
        cost_explorer: ``(operation, body) -> (status, response)`` over the ledger.
        cost_operations: Cost Explorer operations answered by ``cost_explorer``.
        restate: ``(day, factor) -> details`` restates one day of the ledger.
        services: the sandbox's own service modules (:mod:`sandbox.services`), once seeded.
        error: why seeding failed, if it did.
    """

    ready: bool = False
    ground_truth: dict[str, Any] = field(default_factory=dict)
    denied_roles: set[str] = field(default_factory=set)
    cost_explorer: Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]] | None = None
    cost_operations: frozenset[str] = frozenset({"GetCostAndUsage"})
    restate: Callable[[date, float], dict[str, Any]] | None = None
    services: tuple[SandboxService, ...] = ()
    error: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    lock: threading.Lock = field(default_factory=threading.Lock)
    # serialises ledger reads and restatements (the ledger is not thread-safe)
    ledger_lock: threading.Lock = field(default_factory=threading.Lock)


def _json_response(
    start_response: StartResponse,
    status: int,
    body: Any,
    content_type: str = "application/json",
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    payload = json.dumps(body, default=str).encode("utf-8")
    start_response(
        _status_line(status),
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(payload))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
            *(headers or []),
        ],
    )
    return [payload]


def _status_line(status: int) -> str:
    reasons = {
        200: "OK",
        400: "Bad Request",
        403: "Forbidden",
        404: "Not Found",
        405: "Method Not Allowed",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }
    return f"{status} {reasons.get(status, 'Unknown')}"


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so the next application can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = BytesIO(body)
    return body


def sts_access_denied(role_arn: str, caller: str = "arn:aws:iam::123456789012:root") -> bytes:
    """The XML body STS answers when AssumeRole is not allowed.

    Example:
        >>> b"<Code>AccessDenied</Code>" in sts_access_denied("arn:aws:iam::1:role/r")
        True
    """
    message = f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<Error><Type>Sender</Type><Code>AccessDenied</Code>"
        f"<Message>{escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()


class SandboxDispatcher:
    """WSGI application in front of moto.

    Args:
        moto_app: moto's ``DomainDispatcherApplication``.
        control: the state consulted for each request.

    Example:
        >>> from moto.server import DomainDispatcherApplication, create_backend_app
        >>> app = SandboxDispatcher(DomainDispatcherApplication(create_backend_app),
        ...                         SandboxControl())
    """

    def __init__(self, moto_app: WsgiApp, control: SandboxControl) -> None:
        self.moto_app = moto_app
        self.control = control

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or ""
        if path.startswith(CONTROL_PREFIX):
            return self._control(environ, start_response, path[len(CONTROL_PREFIX) :])
        target = environ.get("HTTP_X_AMZ_TARGET", "") or ""
        if self.control.services:
            found = route(
                self.control.services,
                environ.get("HTTP_AUTHORIZATION", "") or "",
                target,
                path,
            )
            if found is not None:
                return self._service(environ, start_response, found)
        if target.startswith(CE_TARGET_PREFIX):
            operation = target[len(CE_TARGET_PREFIX) :]
            if operation in self.control.cost_operations:
                return self._cost_explorer(environ, start_response, operation)
        if self.control.denied_roles and self._is_sts(environ, target):
            denied = self._denied_assume_role(environ, target)
            if denied is not None:
                return self._deny(start_response, denied, target)
        return self.moto_app(environ, start_response)

    # ---- STS: denied roles -------------------------------------------------------------

    @staticmethod
    def _is_sts(environ: dict[str, Any], target: str) -> bool:
        if target.startswith(STS_TARGET_PREFIX):
            return True
        auth = environ.get("HTTP_AUTHORIZATION", "") or ""
        return "/sts/aws4_request" in auth or (
            not auth and environ.get("REQUEST_METHOD") in {"POST", "GET"}
        )

    def _denied_assume_role(self, environ: dict[str, Any], target: str) -> str | None:
        if target:
            if target != STS_TARGET_PREFIX + "AssumeRole":
                return None
            try:
                params = json.loads(_read_body(environ) or b"{}")
            except json.JSONDecodeError:
                return None
            action, role_arn = "AssumeRole", params.get("RoleArn")
        else:
            body = _read_body(environ)
            query = parse_qs(environ.get("QUERY_STRING", "") or "")
            if (environ.get("CONTENT_TYPE") or "").startswith("application/x-www-form-urlencoded"):
                query.update(parse_qs(body.decode("utf-8", "replace")))
            action = (query.get("Action") or [""])[0]
            role_arn = (query.get("RoleArn") or [None])[0]
        with self.control.lock:
            denied = action == "AssumeRole" and role_arn in self.control.denied_roles
        return role_arn if denied else None

    @staticmethod
    def _deny(start_response: StartResponse, role_arn: str, target: str) -> list[bytes]:
        if target:  # JSON protocol clients get the JSON shape
            body = {
                "__type": "AccessDenied",
                "message": (
                    "User: arn:aws:iam::123456789012:root is not authorized to perform: "
                    f"sts:AssumeRole on resource: {role_arn}"
                ),
            }
            return _json_response(start_response, 403, body, "application/x-amz-json-1.0")
        payload = sts_access_denied(role_arn)
        start_response(
            _status_line(403),
            [
                ("Content-Type", "text/xml"),
                ("Content-Length", str(len(payload))),
                ("x-amzn-RequestId", str(uuid.uuid4())),
            ],
        )
        return [payload]

    # ---- Cost Explorer ------------------------------------------------------------------

    def _cost_explorer(
        self, environ: dict[str, Any], start_response: StartResponse, operation: str
    ) -> list[bytes]:
        content_type = "application/x-amz-json-1.1"
        handler = self.control.cost_explorer
        if not self.control.ready or handler is None:
            body = {"__type": "ServiceUnavailableException", "message": "sandbox is seeding"}
            return _json_response(start_response, 503, body, content_type)
        try:
            request = json.loads(_read_body(environ) or b"{}")
        except json.JSONDecodeError as error:
            body = {"__type": "SerializationException", "message": f"malformed JSON: {error}"}
            return _json_response(start_response, 400, body, content_type)
        with self.control.ledger_lock:
            status, response = handler(operation, request)
        return _json_response(start_response, status, response, content_type)

    # ---- the sandbox's own service modules --------------------------------------------

    def _service(
        self, environ: dict[str, Any], start_response: StartResponse, found: Route
    ) -> list[bytes]:
        content_type = found.service.content_type
        if not self.control.ready:
            body = {"__type": "ServiceUnavailableException", "message": "sandbox is seeding"}
            return _json_response(start_response, 503, body, content_type)
        try:
            request = json.loads(_read_body(environ) or b"{}")
        except json.JSONDecodeError as error:
            body = {"__type": "SerializationException", "message": f"malformed JSON: {error}"}
            return _json_response(start_response, 400, body, content_type)
        if not isinstance(request, dict):
            body = {"__type": "SerializationException", "message": "the body is not a JSON object"}
            return _json_response(start_response, 400, body, content_type)
        call = ServiceRequest(found.operation, request, found.access_key_id, found.region)
        with self.control.ledger_lock:
            status, response = found.service.handle(call)
        return _json_response(start_response, status, response, content_type)

    # ---- control endpoints --------------------------------------------------------------

    def _control(
        self, environ: dict[str, Any], start_response: StartResponse, name: str
    ) -> list[bytes]:
        remote = environ.get("REMOTE_ADDR", "127.0.0.1")
        if remote not in LOOPBACK:
            return _json_response(start_response, 403, {"error": "loopback callers only"})
        method = environ.get("REQUEST_METHOD", "GET")
        control = self.control
        if name == "health" and method == "GET":
            status = "error" if control.error else ("ready" if control.ready else "seeding")
            return _json_response(
                start_response,
                200,
                {
                    "status": status,
                    "ready": control.ready,
                    "error": control.error,
                    "started_at": control.started_at.isoformat(),
                },
            )
        if name == "ground-truth" and method == "GET":
            if not control.ready:
                return _json_response(start_response, 503, {"error": "sandbox is seeding"})
            return _json_response(start_response, 200, control.ground_truth)
        if name == "deny-role" and method in {"POST", "DELETE"}:
            try:
                role_arn = str(json.loads(_read_body(environ) or b"{}")["role_arn"])
            except (json.JSONDecodeError, KeyError, TypeError):
                return _json_response(
                    start_response,
                    400,
                    {"error": 'send JSON {"role_arn": "arn:aws:iam::...:role/..."}'},
                )
            if not role_arn.startswith("arn:aws:iam::") or ":role/" not in role_arn:
                return _json_response(
                    start_response, 400, {"error": f"not a role ARN: {role_arn!r}"}
                )
            with control.lock:
                if method == "POST":
                    control.denied_roles.add(role_arn)
                else:
                    control.denied_roles.discard(role_arn)
                denied = sorted(control.denied_roles)
            return _json_response(start_response, 200, {"denied_roles": denied})
        if name == "restate" and method == "POST":
            return self._restate(environ, start_response)
        return _json_response(
            start_response,
            404 if name not in {"health", "ground-truth", "deny-role", "restate"} else 405,
            {"error": f"no control endpoint {method} /_sandbox/{name}"},
        )

    def _restate(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        control = self.control
        if not control.ready or control.restate is None:
            return _json_response(start_response, 503, {"error": "sandbox is seeding"})
        try:
            request = json.loads(_read_body(environ) or b"{}")
            day = date.fromisoformat(str(request["date"]))
            factor = float(request.get("factor", 1.1))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            return _json_response(
                start_response,
                400,
                {"error": 'send JSON {"date": "YYYY-MM-DD", "factor": 1.1} (factor > 0)'},
            )
        if factor <= 0:
            return _json_response(start_response, 400, {"error": "factor must be > 0"})
        with control.ledger_lock:
            try:
                details = control.restate(day, factor)
            except ValueError as error:
                return _json_response(start_response, 400, {"error": str(error)})
        return _json_response(start_response, 200, details)
