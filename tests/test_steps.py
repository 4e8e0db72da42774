"""Every Prefect task is declared by `tasks.steps.step`: one naming rule, never cached."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from prefect import Task
from prefect.cache_policies import NO_CACHE

import flows
import tasks
from tasks.steps import STEP_NAME, STEPS, step


def _every_task() -> dict[str, Task]:  # type: ignore[type-arg]
    found: dict[str, Task] = {}  # type: ignore[type-arg]
    for package in (tasks, flows):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if ".migrations" in info.name:
                continue
            module = importlib.import_module(info.name)
            for attribute, value in vars(module).items():
                if isinstance(value, Task) and value.fn.__module__ == info.name:
                    found[f"{info.name}.{attribute}"] = value
    return found


def test_every_task_is_a_step_named_by_the_rule_and_never_cached() -> None:
    found = _every_task()
    assert len(found) >= 25, sorted(found)
    names = [t.name for t in found.values()]
    assert len(names) == len(set(names)), "two tasks share a name in the Prefect UI"
    for where, declared in found.items():
        assert STEP_NAME.fullmatch(declared.name), where
        assert STEPS[declared.name] == f"{declared.fn.__module__}.{declared.fn.__qualname__}"
        assert declared.cache_policy is NO_CACHE, f"{where} ({declared.name}) may be cached"


def test_a_second_function_cannot_take_a_step_name() -> None:
    with pytest.raises(ValueError, match=r"'load-costs' is already tasks\.anomalies\.tasks"):

        @step("load-costs")
        def load_costs_again() -> None:
            return None


def test_retries_are_the_steps_own_choice() -> None:
    from tasks.anomalies.tasks import detect_task, load_costs_task

    assert (load_costs_task.retries, load_costs_task.retry_delay_seconds) == (2, 5)
    assert detect_task.retries == 0
