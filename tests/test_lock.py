"""One lock for every environment: uv.lock satisfies pyproject.toml, and what is installed here is
what it pins.  Read from the files alone, so what the registry serves today cannot change the
answer (`make lock` refreshes the lock; `make venv` installs from it with `uv sync --locked`)."""

from __future__ import annotations

import re
import tomllib
from collections import defaultdict
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "finops-flows"
DEV_TOOLS = {"pytest", "ruff", "mypy", "playwright", "papermill", "import-linter"}


def _lock(path: Path) -> dict[str, list[dict]]:
    packages: dict[str, list[dict]] = defaultdict(list)
    for package in tomllib.loads(path.read_text(encoding="utf-8"))["package"]:
        packages[canonicalize_name(package["name"])].append(package)
    return packages


def _pyproject(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _requirements(pyproject: dict) -> tuple[list[Requirement], list[Requirement]]:
    runtime = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    dev = [Requirement(r) for r in pyproject.get("dependency-groups", {}).get("dev", [])]
    return runtime, dev


def _recorded(entries: list[dict]) -> set[tuple[str, str, tuple[str, ...]]]:
    return {
        (canonicalize_name(e["name"]), e.get("specifier", ""), tuple(sorted(e.get("extras", []))))
        for e in entries
    }


def _declared(requirements: list[Requirement]) -> set[tuple[str, str, tuple[str, ...]]]:
    return {
        (canonicalize_name(r.name), str(r.specifier), tuple(sorted(r.extras))) for r in requirements
    }


def _spec_set(text: str) -> set[str]:
    return set(text.split(",")) if text else set()


def _same(a: set[tuple[str, str, tuple[str, ...]]], b: set[tuple[str, str, tuple[str, ...]]]):
    normal = lambda s: {(n, frozenset(_spec_set(spec)), x) for n, spec, x in s}  # noqa: E731
    return normal(a) == normal(b)


def test_the_lock_records_exactly_the_requirements_of_pyproject() -> None:
    """A pyproject.toml edited without `make lock` is caught here, not on install day."""
    pyproject = _pyproject(ROOT / "pyproject.toml")
    runtime, dev = _requirements(pyproject)
    (root,) = _lock(ROOT / "uv.lock")[PROJECT]
    assert root["source"] == {"editable": "."}
    assert _same(_recorded(root["metadata"]["requires-dist"]), _declared(runtime)), "make lock"
    assert _same(_recorded(root["metadata"]["requires-dev"]["dev"]), _declared(dev)), "make lock"


def test_every_range_of_pyproject_is_satisfied_by_a_pinned_version() -> None:
    runtime, dev = _requirements(_pyproject(ROOT / "pyproject.toml"))
    packages = _lock(ROOT / "uv.lock")
    for requirement in runtime + dev:
        name = canonicalize_name(requirement.name)
        assert name in packages, f"{name} is not in uv.lock: run `make lock`"
        versions = [p["version"] for p in packages[name]]
        assert all(requirement.specifier.contains(v) for v in versions), (name, versions)
        for package in packages[name]:
            # Pinned to one artefact: a registry wheel or sdist with a hash, never a bare name.
            files = package.get("wheels", []) + ([package["sdist"]] if "sdist" in package else [])
            assert files and all(f["hash"].startswith("sha256:") for f in files), name


def _runtime_closure(packages: dict[str, list[dict]]) -> set[str]:
    """Every package the project needs at run time, following extras, without the dev group."""
    seen: set[str] = set()
    todo = [
        (canonicalize_name(d["name"]), tuple(d.get("extra", [])))
        for d in packages[PROJECT][0]["dependencies"]
    ]
    visited: set[tuple[str, tuple[str, ...]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in visited:
            continue
        visited.add((name, extras))
        seen.add(name)
        for package in packages[name]:
            deps = list(package.get("dependencies", []))
            for extra in extras:
                deps += package.get("optional-dependencies", {}).get(extra, [])
            todo += [(canonicalize_name(d["name"]), tuple(d.get("extra", []))) for d in deps]
    return seen


def test_the_runtime_set_the_image_installs_holds_no_dev_tool() -> None:
    closure = _runtime_closure(_lock(ROOT / "uv.lock"))
    assert {"prefect", "boto3", "great-expectations", "moto", "alembic"} <= closure
    assert not DEV_TOOLS & closure


def test_this_environment_is_the_lock_installed() -> None:
    """Every distribution installed here is at a version uv.lock pins (what `uv sync --locked`
    gives); a package installed by hand or a stale venv shows up by name."""
    packages = _lock(ROOT / "uv.lock")
    drift = []
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name in {"pip", "setuptools", "wheel"} or name not in packages:
            # pip and friends come with the venv; a package absent from the lock is reported below.
            if name not in packages and name not in {"pip", "setuptools", "wheel"}:
                drift.append(f"{name} {dist.version} is installed but not locked")
            continue
        locked = {Version(p["version"]) for p in packages[name]}
        if Version(dist.version) not in locked:
            drift.append(f"{name} {dist.version} installed, lock has {sorted(map(str, locked))}")
    assert not drift, "rebuild the venv from the lock (`make venv`):\n" + "\n".join(drift)
    for requirement in _requirements(_pyproject(ROOT / "pyproject.toml"))[0]:
        assert metadata.version(requirement.name), requirement


def test_the_checkov_tool_environment_is_locked_too() -> None:
    tool = ROOT / "tools" / "checkov"
    declared = _requirements(_pyproject(tool / "pyproject.toml"))[0]
    packages = _lock(tool / "uv.lock")
    for requirement in declared:
        assert str(requirement.specifier).startswith("=="), "the tool is pinned exactly"
        versions = [p["version"] for p in packages[canonicalize_name(requirement.name)]]
        assert versions and all(requirement.specifier.contains(v) for v in versions)


def test_uv_itself_is_pinned_by_hash_for_every_platform_it_ships() -> None:
    text = (ROOT / "tools" / "uv" / "requirements.txt").read_text(encoding="utf-8")
    pins = re.findall(r"^uv==(\S+)", text, re.M)
    assert len(pins) == 1, "one uv version"
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", text)) >= 10
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--require-hashes --requirement tools/uv/requirements.txt" in makefile
    assert "sync --locked" in makefile and "lock --upgrade" in makefile


@pytest.mark.parametrize("script", [".ci/run"])
def test_ci_builds_every_environment_through_the_makefile(script: str) -> None:
    text = (ROOT / script).read_text(encoding="utf-8")
    assert "make venv tools" in text and "make test" in text
    # No unpinned install anywhere in CI: every Python package comes through a lock.
    assert not re.search(r"pip install (?!.*--require-hashes)", text)
