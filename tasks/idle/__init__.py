"""tasks/idle."""
