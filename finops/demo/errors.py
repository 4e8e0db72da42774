"""The demo's one error type."""

from __future__ import annotations


class DemoError(RuntimeError):
    """A demo step failed; the message says which and where its log is."""

    # Its public name, the one finops/commands/errors.py maps to one line and exit 1.
    __module__ = "finops.demo"
