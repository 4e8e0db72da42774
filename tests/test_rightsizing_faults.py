"""AWS's optimisers failing: a service that cannot be read becomes one note and the scan goes on
with our own rule (botocore Stubber for the faults the sandbox cannot serve)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from tasks.aws.session import AwsAccess
from tasks.rightsizing.model import CO, COH
from tasks.rightsizing.optimizers import fetch_advice
from tasks.settings import load_settings
from tests.plugins.sandbox import SandboxHandle


@pytest.fixture
def environ(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxHandle]:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in sandbox.env.items():
        monkeypatch.setenv(name, value)
    yield sandbox


class FaultyAccess(AwsAccess):
    """The sandbox's clients, with one service's first call answered by an error."""

    def __init__(self, service: str, operation: str, code: str, status: int) -> None:
        super().__init__(load_settings().aws)
        self.fault = (service, operation, code, status)
        self.stubbers: list[Stubber] = []

    def client(self, service: str, account_id: str, region: str) -> Any:
        client = super().client(service, account_id, region)
        wanted, operation, code, status = self.fault
        if service == wanted and not self.stubbers:
            stubber = Stubber(client)
            stubber.add_client_error(operation, code, f"{code} (injected)", status)
            stubber.activate()
            self.stubbers.append(stubber)
        return client


def test_compute_optimizer_denied_is_one_note_and_the_hub_is_still_read(
    environ: SandboxHandle,
) -> None:
    access = FaultyAccess(CO, "get_enrollment_status", "AccessDeniedException", 403)
    advice = fetch_advice(access, environ.accounts, environ.regions)
    assert CO not in advice.enrolled
    denied = [n for n in advice.notes if n.startswith(f"{CO}: not read")]
    assert denied == [
        f"{CO}: not read (AccessDeniedException: AccessDeniedException (injected)); own rule only"
    ]
    assert advice.enrolled[COH]  # the other optimiser still answered
    assert any(r.source == COH for recs in advice.recommendations.values() for r in recs)


def test_hub_throttled_past_retries_is_one_note(environ: SandboxHandle) -> None:
    access = FaultyAccess(COH, "list_enrollment_statuses", "ThrottlingException", 400)
    advice = fetch_advice(access, environ.accounts, environ.regions)
    assert COH not in advice.enrolled and advice.enrolled[CO]
    assert [n for n in advice.notes if n.startswith(f"{COH}: not read")] == [
        f"{COH}: not read (ThrottlingException: ThrottlingException (injected)); own rule only"
    ]
