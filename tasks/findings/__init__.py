"""tasks/findings."""
