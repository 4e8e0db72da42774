"""tasks/notify."""
