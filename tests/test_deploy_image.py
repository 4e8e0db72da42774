"""The flow image, checked statically (Docker cannot build here): slim base, non-root user,
dependencies exactly from the lock, no secret baked in, nothing private in the build context."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from deployments.lock import runtime_closure

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "deployments" / "requirements.lock"
SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|WEBHOOK)", re.I)


def instructions() -> list[tuple[str, str]]:
    """Dockerfile instructions as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_slim_base_and_a_non_root_user_last() -> None:
    steps = instructions()
    froms = [args for keyword, args in steps if keyword == "FROM"]
    assert len(froms) == 1 and re.fullmatch(r"python:3\.11-slim(-\w+)?", froms[0])
    users = [(i, args) for i, (keyword, args) in enumerate(steps) if keyword == "USER"]
    assert users, "the image must drop root"
    last_index, user = users[-1]
    assert user.split(":")[0] not in {"root", "0"}
    # Nothing runs as root after the switch, and the runtime command comes after it.
    assert all(keyword != "USER" for keyword, _ in steps[last_index + 1 :])
    assert steps[-1][0] == "CMD"


def test_no_secret_in_the_image() -> None:
    for keyword, args in instructions():
        if keyword in {"ENV", "ARG", "LABEL"}:
            assert not SECRET_NAME.search(args), f"{keyword} {args}"
        if keyword in {"COPY", "ADD"}:
            assert not re.search(r"(^|\s)(\.env|finops\.toml|\.finops|\S*\.pem)(\s|$)", args)
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".env", "finops.toml", ".finops", ".git", ".venv"} <= ignored


def test_dependencies_come_only_from_the_lock() -> None:
    runs = [args for keyword, args in instructions() if keyword == "RUN"]
    installs = [r for r in runs if "pip install" in r]
    assert installs, "dependencies must be installed"
    for command in installs:
        # --no-deps everywhere: nothing is resolved at build time, the lock is the whole set.
        assert "--no-deps" in command, command
    assert any("--requirement /tmp/requirements.lock" in r for r in installs)
    copies = [args for keyword, args in instructions() if keyword == "COPY"]
    assert "deployments/requirements.lock /tmp/requirements.lock" in copies


def test_lock_pins_every_runtime_dependency_as_installed() -> None:
    pins = lock_pins()
    assert pins == runtime_closure(), "regenerate: python -m deployments.lock > " + str(LOCK)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} not locked"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {line}"
    # Test and lint tools stay out of the production image.
    assert not {"pytest", "ruff", "mypy", "playwright"} & set(pins)


def test_every_project_package_is_copied() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {args.split()[0] for keyword, args in instructions() if keyword == "COPY"}
    assert packages <= copied
    assert "prefect.yaml" in copied
    workdir = [args for keyword, args in instructions() if keyword == "WORKDIR"]
    # prefect.yaml's pull step moves into the folder the code is baked into.
    assert workdir == ["/opt/finops"]
    assert "directory: /opt/finops" in (ROOT / "prefect.yaml").read_text(encoding="utf-8")
