"""The flow image, checked statically (Docker cannot build here): slim base, non-root user,
dependencies exactly from uv.lock, no secret baked in, nothing private in the build context."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
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
    pips = [r for r in runs if "pip install" in r]
    # pip installs only uv, by hash, from the same pin the Makefile bootstraps.
    assert len(pips) == 1 and "--require-hashes" in pips[0] and "--no-deps" in pips[0]
    assert "--requirement /tmp/uv-requirements.txt" in pips[0]
    syncs = [r for r in runs if "uv sync" in r]
    assert syncs, "dependencies must be installed from uv.lock"
    for command in syncs:
        # --locked: the lock decides, and a lock out of step with pyproject.toml fails the build.
        assert "--locked" in command and "--no-dev" in command, command
    assert not [r for r in runs if "uv pip install" in r or "uv add" in r]
    copies = [args for keyword, args in instructions() if keyword == "COPY"]
    assert "tools/uv/requirements.txt /tmp/uv-requirements.txt" in copies
    assert any(c.split()[:2] == ["pyproject.toml", "uv.lock"] for c in copies)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert "!tools/uv" in ignored, "the uv pin must reach the build context"


def test_the_image_dependency_set_installs_from_the_lock_without_dev_tools(tmp_path: Path) -> None:
    """The Dockerfile's own sync commands, run in a copy of its build context into a new
    environment (files from uv's cache, which `make venv` filled, taken by the lock's hashes):
    the result has no dev tool and runs `finops --version`."""
    uv = ROOT / ".uv" / "bin" / "uv"
    if not uv.exists():
        pytest.skip("uv is bootstrapped by `make venv` into .uv/")
    context = tmp_path / "context"
    context.mkdir()
    for keyword, args in instructions():
        if keyword == "COPY" and not args.split()[-1].startswith("/"):
            for source in args.split()[:-1]:
                if (ROOT / source).is_dir():
                    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                    shutil.copytree(ROOT / source, context / source, ignore=ignore)
                else:
                    shutil.copy2(ROOT / source, context / source)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    target = tmp_path / "image-venv"
    env |= {"UV_PROJECT_ENVIRONMENT": str(target), "UV_LINK_MODE": "copy"}
    env |= {"UV_PYTHON": sys.executable, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    runs = [args for keyword, args in instructions() if keyword == "RUN" and "uv sync" in args]
    for command in runs:
        sync = shlex.split(command.split("&&")[0])
        subprocess.run([str(uv), *sync[1:]], cwd=context, env=env, check=True, capture_output=True)
    check = [str(uv), "pip", "check", "--python", str(target / "bin" / "python")]
    subprocess.run(check, cwd=context, env=env, check=True, capture_output=True)
    installed = {p.name.split("-")[0].lower() for p in target.glob("lib/python*/site-packages/*")}
    assert not {"pytest", "ruff", "mypy", "playwright", "papermill"} & installed
    version = subprocess.run(
        [str(target / "bin" / "finops"), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("finops-flows ")


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
