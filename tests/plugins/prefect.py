"""A session-wide Prefect test server (only for tests that ask for it), heartbeat off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Run flows against a temporary Prefect server shared by the whole session.

    The flow-run heartbeat is turned off: in Prefect 3.9 every sync flow otherwise waits about
    a second for its heartbeat thread on exit.
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        prefect_test_harness(server_startup_timeout=120),
    ):
        yield


@pytest.fixture
def paused_runs() -> set[str]:
    """Ids of the flow runs already paused on the test server (a test waits for a new one)."""
    import httpx
    from prefect.settings import PREFECT_API_URL

    response = httpx.post(
        f"{str(PREFECT_API_URL.value()).rstrip('/')}/flow_runs/filter",
        json={"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}},
    )
    return {r["id"] for r in response.json()}
