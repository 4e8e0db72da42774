"""tasks/pricing."""
