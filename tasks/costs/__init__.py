"""tasks/costs."""
