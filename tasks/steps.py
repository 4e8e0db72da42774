"""How every Prefect task of the project is declared: one naming rule, one caching rule.

A step's name is what a person reads in the Prefect UI and in the logs, so it is a short
verb-first phrase in lower-case words joined by hyphens (``load-costs``), and it names one
function in the whole project.  No step is cached: each one reads or writes live state (AWS, the
cost store, the findings database, the outbox), and a result served from a cache would skip a
real read or a real write.  Retries are the step's own choice, made where it is declared (only
idempotent reads and writes that say so).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE

P = ParamSpec("P")
R = TypeVar("R")

#: A step name: two or more lower-case words joined by hyphens.
STEP_NAME = re.compile(r"[a-z]+(?:-[a-z]+)+")

#: Step name -> the function it names (module.qualname), for the one-name-one-function rule.
STEPS: dict[str, str] = {}


def step(
    name: str, *, retries: int = 0, retry_delay_seconds: float = 0
) -> Callable[[Callable[P, R]], Task[P, R]]:
    """Declare a Prefect task: named by the rule above, never cached.

    Example:
        >>> @step("add-one")
        ... def add_one(x: int) -> int:
        ...     return x + 1
        >>> add_one.name, add_one.fn(1)
        ('add-one', 2)
        >>> step("Add_One")
        Traceback (most recent call last):
        ...
        ValueError: step name 'Add_One': use lower-case words joined by hyphens, e.g. 'load-costs'
    """
    if not STEP_NAME.fullmatch(name):
        raise ValueError(
            f"step name {name!r}: use lower-case words joined by hyphens, e.g. 'load-costs'"
        )

    def declare(fn: Callable[P, R]) -> Task[P, R]:
        where = f"{fn.__module__}.{fn.__qualname__}"
        taken = STEPS.setdefault(name, where)
        if taken != where:
            raise ValueError(f"step name {name!r} is already {taken}; give {where} its own name")
        return task(
            name=name,
            cache_policy=NO_CACHE,
            retries=retries,
            retry_delay_seconds=retry_delay_seconds,
        )(fn)

    return declare
