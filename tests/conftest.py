"""Shared test configuration: fixtures live in tests/plugins/, one module per concern."""

from __future__ import annotations

import os

# Tests never reach real AWS: no profile, fake credentials, and a region.
os.environ.pop("AWS_PROFILE", None)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

pytest_plugins = [
    "tests.plugins.prefect",
    "tests.plugins.sandbox",
    "tests.plugins.costs",
    "tests.plugins.postgres",
    "tests.plugins.remediation",
    "tests.plugins.fake_services",
]
