"""tasks/remediation."""
