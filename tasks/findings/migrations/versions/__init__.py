"""Alembic revisions of the findings database, oldest first (``<number>_<slug>.py``)."""
