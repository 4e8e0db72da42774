"""The seam for AWS services the sandbox answers itself, one module per service.

moto lacks some services the product reads (Compute Optimizer, Cost Optimization Hub, Savings
Plans, Cost Explorer's anomaly and commitment calls, Athena over the export).  Each is its own
module that builds a :class:`SandboxService` from the seeded organisation (:class:`Seeded`: the
same accounts, fleet, ledger and ground truth the rest of the sandbox serves), and the dispatcher
routes a request to it when the request's SigV4 credential scope names the service and its
operation is one the module answers; every other request goes on to moto unchanged.

A service module exposes ``build(seeded) -> SandboxService``; it may add its own section to
``seeded.ground_truth`` there, so tests, the demo and the benchmarks read one world.  Modules are
listed in :data:`SERVICE_MODULES`, in order: the first that answers an operation serves it.

Protocols, as boto3 speaks them:

* ``json``: ``POST /`` with ``X-Amz-Target: <Prefix>.<Operation>`` and a JSON body (Cost
  Explorer, Compute Optimizer, Cost Optimization Hub, Athena).
* ``rest-json``: ``POST /<Operation>`` with a JSON body (Savings Plans).

Errors are answered ``(status, {"__type": code, "message": ...})``; boto3 raises them as the
service's own ``ClientError`` codes.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sandbox.seed import Seeded

#: The service modules, each with ``build(seeded) -> SandboxService``; first match wins.
SERVICE_MODULES: tuple[str, ...] = (
    "sandbox.athena",
    "sandbox.anomaly_detection",
    "sandbox.compute_optimizer",
    "sandbox.cost_optimization_hub",
    "sandbox.ce_commitments",
    "sandbox.savings_plans",
    "sandbox.pricing",
)

_SCOPE_RE = re.compile(
    r"Credential=(?P<key>[^/,\s]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request"
)


@dataclass(frozen=True)
class ServiceRequest:
    """One request routed to a sandbox service.

    Attributes:
        operation: the API operation (``GetRecommendationSummaries``).
        body: the decoded JSON body (``{}`` when empty).
        access_key_id: the caller's access key (:func:`caller_account` maps it to the account).
        region: the region in the request's credential scope.
    """

    operation: str
    body: Mapping[str, Any]
    access_key_id: str = ""
    region: str = "us-east-1"


Handler = Callable[[ServiceRequest], tuple[int, dict[str, Any]]]


class ServiceError(Exception):
    """An AWS-shaped error a service module answers instead of a result.

    Example:
        >>> ServiceError(400, "ValidationException", "bad token").answer
        (400, {'__type': 'ValidationException', 'message': 'bad token'})
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.answer: tuple[int, dict[str, Any]] = (status, {"__type": code, "message": message})


def dispatch(handlers: Mapping[str, Handler]) -> Handler:
    """One :data:`Handler` over per-operation ones; a :class:`ServiceError` raised is the answer.

    Example:
        >>> def refuse(request):
        ...     raise ServiceError(403, "AccessDeniedException", "not here")
        >>> dispatch({"Get": refuse})(ServiceRequest("Get", {}))[0]
        403
    """

    def handle(request: ServiceRequest) -> tuple[int, dict[str, Any]]:
        try:
            return handlers[request.operation](request)
        except ServiceError as refused:
            return refused.answer

    return handle


@dataclass(frozen=True)
class SandboxService:
    """A service the sandbox answers itself.

    Attributes:
        name: shown in logs and the contract (``compute-optimizer``).
        signing_name: the SigV4 service name boto3 signs with (``compute-optimizer``, ``ce``,
            ``savingsplans``, ``athena``, ``cost-optimization-hub``).
        operations: the operations this module answers; others of the same service go to moto.
        handle: ``ServiceRequest -> (status, JSON body)``.
        protocol: ``json`` (operation in ``X-Amz-Target``) or ``rest-json`` (in the path).
        json_version: the ``application/x-amz-json-<v>`` content type of ``json`` answers.
    """

    name: str
    signing_name: str
    operations: frozenset[str]
    handle: Handler
    protocol: Literal["json", "rest-json"] = "json"
    json_version: str = "1.0"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        """The answer's content type."""
        if self.protocol == "rest-json":
            return "application/json"
        return f"application/x-amz-json-{self.json_version}"


@dataclass(frozen=True)
class Route:
    """Where one request goes: the service, its operation and the caller's scope."""

    service: SandboxService
    operation: str
    access_key_id: str
    region: str


def credential_scope(authorization: str) -> tuple[str, str, str] | None:
    """``(access_key_id, region, service)`` of a SigV4 ``Authorization`` header, or None.

    Example:
        >>> credential_scope("AWS4-HMAC-SHA256 Credential=AKIA1/20261204/us-east-1/ce/"
        ...                  "aws4_request, SignedHeaders=host, Signature=ab")
        ('AKIA1', 'us-east-1', 'ce')
        >>> credential_scope("") is None
        True
    """
    match = _SCOPE_RE.search(authorization or "")
    if match is None:
        return None
    return match["key"], match["region"], match["service"]


def route(
    services: tuple[SandboxService, ...], authorization: str, target: str, path: str
) -> Route | None:
    """The service that answers this request, or None (moto answers it).

    Example:
        >>> svc = SandboxService("sp", "savingsplans", frozenset({"DescribeSavingsPlans"}),
        ...                      lambda r: (200, {}), protocol="rest-json")
        >>> auth = "Credential=K/20261204/us-east-1/savingsplans/aws4_request"
        >>> route((svc,), auth, "", "/DescribeSavingsPlans").operation
        'DescribeSavingsPlans'
        >>> route((svc,), auth, "", "/CreateSavingsPlan") is None
        True
    """
    if not services:
        return None
    scope = credential_scope(authorization)
    if scope is None:
        return None
    access_key_id, region, signing_name = scope
    for service in services:
        if service.signing_name != signing_name:
            continue
        if service.protocol == "json":
            operation = target.rsplit(".", 1)[-1] if "." in target else ""
        else:
            operation = path.strip("/").split("/", 1)[0]
        if operation in service.operations:
            return Route(service, operation, access_key_id, region)
    return None


def caller_account(request: ServiceRequest) -> str:
    """The account a request comes from, as moto maps its access keys (assumed roles included)."""
    from moto.iam.models import get_account_id_from

    return str(get_account_id_from(request.access_key_id))


def build_services(
    seeded: Seeded, modules: tuple[str, ...] = SERVICE_MODULES
) -> tuple[SandboxService, ...]:
    """Build every listed service module over the seeded world (in order)."""
    return tuple(importlib.import_module(name).build(seeded) for name in modules)
