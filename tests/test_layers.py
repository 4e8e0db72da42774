"""The layering contracts in pyproject.toml hold today, and each one fails on the arrow it forbids.

Every arrow of the issue that set the layers is reintroduced once, in a copy of the code, to
show that `lint-imports` (run by `make test`) would stop it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("finops", "flows", "tasks", "sandbox", "deployments", "bench", "notebooks")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    # A wide terminal, so that each contract's name and verdict stay on one line.
    env = {**os.environ, "COLUMNS": "400"}
    command = [str(LINT_IMPORTS), "--no-cache"]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_layers_hold_today() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "BROKEN" not in result.stdout


@pytest.fixture(scope="module")
def copy_of_the_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("layers")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy2(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


ARROWS = [
    # (module that gains the import, the import, the contract that must break)
    ("tasks/costs/window.py", "import finops.cli", "the library at the bottom"),
    ("tasks/idle/scan.py", "import flows.scan_idle_resources", "the library at the bottom"),
    ("flows/report.py", "import finops.commands.notify", "the library at the bottom"),
    ("tasks/aws/session.py", "import sandbox.state", "never imports the CLI, the sandbox"),
    ("sandbox/seed.py", "import finops.cli", "never the CLI or flows"),
    ("tasks/settings.py", "import tasks.idle.registry", "the ground floor"),
    ("tasks/anomalies/detector.py", "import boto3", "no boto3 and no Prefect"),
    ("tasks/notify/render.py", "from prefect import task", "no boto3 and no Prefect"),
]


@pytest.mark.parametrize(("module", "line", "contract"), ARROWS)
def test_each_forbidden_arrow_breaks_its_contract(
    copy_of_the_code: Path, module: str, line: str, contract: str
) -> None:
    path = copy_of_the_code / module
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original + f"\n{line}  # reintroduced by the test\n", encoding="utf-8")
        result = _lint(copy_of_the_code)
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode != 0, f"{module}: {line} passed the contracts"
    # A contract's line ends "BROKEN", or "BROKEN (n ignored imports)" when it lists exceptions.
    broken = [row for row in result.stdout.splitlines() if re.search(r"\bBROKEN\b", row)]
    assert any(contract in row for row in broken), result.stdout[-2000:]


def test_a_module_over_400_lines_says_why_at_its_top() -> None:
    import ast

    unexplained = []
    for package in ("finops", "flows", "tasks", "sandbox", "deployments"):
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text()
            if source.count("\n") <= 410:
                continue
            docstring = ast.get_docstring(ast.parse(source)) or ""
            if "400 lines" not in docstring:
                unexplained.append(f"{path.relative_to(ROOT)} ({source.count(chr(10))} lines)")
    assert unexplained == []
