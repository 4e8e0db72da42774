"""Cold install of the project's environment from its lock, per candidate installer.

Each candidate starts from nothing: a new virtual environment and an empty download cache, so the
figure is what a fresh clone on a new machine pays.  The candidates install the same pinned set
(runtime plus the dev group, exactly as uv.lock records it):

- ``uv``: bootstrap uv from ``tools/uv/requirements.txt`` (pip, by hash), then ``uv sync --locked``
  (what ``make venv`` runs);
- ``pip``: ``pip install --no-deps --require-hashes`` of the same lock exported as a hashed
  requirements file (what a pip-tools ``pip-compile --generate-hashes`` file gives), then the
  project itself with ``--no-deps``.

Usage::

    .venv/bin/python bench/bench_install.py            # one cold install each, appends RESULTS.md
    .venv/bin/python bench/bench_install.py --rounds 2 --no-write
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import load_average, machine, record

ROOT = Path(__file__).resolve().parents[1]
REQ_UV = ("--requirement", "tools/uv/requirements.txt")
AS_REQUIREMENTS = ("--format", "requirements-txt")


def _run(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def _clean_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_", "VIRTUAL_ENV"))}
    # No machine-wide pip configuration (local wheel folders, extra indexes): the registry only.
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1"}
    env |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "UV_CACHE_DIR": str(work / "uv-cache")}
    env |= {"UV_PYTHON_DOWNLOADS": "never", "UV_LINK_MODE": "copy", "UV_NO_PROGRESS": "1"}
    return env


def install_with_uv(work: Path) -> float:
    env = _clean_env(work)
    start = time.perf_counter()
    _run([sys.executable, "-m", "venv", str(work / "uv")], env)
    _run(
        [str(work / "uv/bin/pip"), "install", "-q", "--no-deps", "--require-hashes", *REQ_UV],
        env,
    )
    env["UV_PROJECT_ENVIRONMENT"] = str(work / "venv")
    env["UV_PYTHON"] = sys.executable
    _run([str(work / "uv/bin/uv"), "sync", "--locked", "--quiet"], env)
    return time.perf_counter() - start


def install_with_pip(work: Path, uv: Path) -> float:
    env = _clean_env(work)
    hashed = work / "requirements.txt"
    # The export is made before the clock starts: pip-tools would have written it at lock time.
    exported = subprocess.run(
        [str(uv), "export", "--locked", "--quiet", "--no-emit-project", *AS_REQUIREMENTS],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    hashed.write_text(exported, encoding="utf-8")
    start = time.perf_counter()
    _run([sys.executable, "-m", "venv", str(work / "venv")], env)
    pip = str(work / "venv/bin/pip")
    _run([pip, "install", "-q", "--no-deps", "--require-hashes", "-r", str(hashed)], env)
    _run([pip, "install", "-q", "--no-deps", "-e", "."], env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="Cold installs per candidate.")
    parser.add_argument("--no-write", action="store_true", help="Do not append RESULTS.md.")
    args = parser.parse_args()
    uv = ROOT / ".uv" / "bin" / "uv"
    if not uv.exists():
        print("run `make venv` first (it bootstraps .uv/bin/uv)", file=sys.stderr)
        return 2
    figures: dict[str, list[float]] = {"uv": [], "pip": []}
    load_before = load_average()
    for _ in range(args.rounds):
        # Alternate the candidates so a change in the machine's load falls on both.
        for name in ("uv", "pip"):
            work = Path(tempfile.mkdtemp(prefix=f"bench-install-{name}-"))
            try:
                seconds = install_with_uv(work) if name == "uv" else install_with_pip(work, uv)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            figures[name].append(seconds)
            print(f"{name}: cold install {seconds:.1f} s")
    packages = sum(
        1 for line in (ROOT / "uv.lock").read_text().splitlines() if line == "[[package]]"
    )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = "\n".join(
        f"| {name} | {', '.join(f'{s:.1f} s' for s in seconds)} | {min(seconds):.1f} s |"
        for name, seconds in figures.items()
    )
    ratio = min(figures["pip"]) / min(figures["uv"])
    text = (
        f"\n## bench_install: cold install from the lock ({stamp})\n\n"
        f"Machine: {machine()}; load before {load_before}, after {load_average()}.  "
        f"{packages} packages in uv.lock (runtime + dev group), empty caches, new venvs, "
        "downloads from the registry.\n\n"
        "| installer | cold installs | best |\n|---|---|---|\n"
        f"{rows}\n\npip takes {ratio:.1f}x as long as uv for the same pinned set.\n"
    )
    print(text)
    if not args.no_write:
        record(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
