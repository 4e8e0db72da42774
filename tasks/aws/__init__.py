"""tasks/aws."""
