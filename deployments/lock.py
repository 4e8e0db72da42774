"""Write the flow image's dependency lock: every runtime dependency, pinned as installed here.

Walks the project's runtime requirements (not the dev extra) through the installed packages'
metadata, evaluating environment markers for this interpreter (the image uses the same Python
minor version on Linux), and prints ``name==version`` lines.  Regenerate after changing
dependencies: ``python -m deployments.lock > deployments/requirements.lock``.
"""

from __future__ import annotations

import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = "finops-flows"


def runtime_closure(project: str = PROJECT) -> dict[str, str]:
    """Canonical name -> installed version of every package the project needs at run time.

    Example:
        >>> runtime_closure()["prefect"]  # doctest: +SKIP
        '3.9.1'
    """
    pinned: dict[str, str] = {}
    todo: list[tuple[Requirement, frozenset[str]]] = [
        (Requirement(r), frozenset()) for r in metadata.requires(project) or []
    ]
    while todo:
        requirement, extras = todo.pop()
        # A marker such as `extra == "server"` applies only when that extra was asked for.
        if requirement.marker is not None and not any(
            requirement.marker.evaluate({"extra": extra}) for extra in (extras or {""})
        ):
            continue
        name = canonicalize_name(requirement.name)
        wanted = frozenset(requirement.extras)
        if name in pinned and not wanted:
            continue
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"{requirement.name} is required but not installed") from None
        first_visit = name not in pinned
        pinned[name] = version
        if first_visit or wanted:
            todo.extend((Requirement(r), wanted) for r in metadata.requires(requirement.name) or [])
    return dict(sorted(pinned.items()))


def main() -> None:
    lines = [f"{name}=={version}" for name, version in runtime_closure().items()]
    sys.stdout.write(
        "# Runtime dependencies of finops-flows, pinned (python -m deployments.lock).\n"
        + "\n".join(lines)
        + "\n"
    )


if __name__ == "__main__":
    main()
