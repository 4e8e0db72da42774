"""finops-flows: FinOps automation for AWS on Prefect 3."""

from tasks.version import __version__

__all__ = ["__version__"]
