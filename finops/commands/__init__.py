"""Command modules of the `finops` CLI, one per capability."""
