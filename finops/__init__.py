"""finops-flows: FinOps automation for AWS on Prefect 3."""

__version__ = "0.1.0"
