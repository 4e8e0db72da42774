"""Benchmark: `DEMO_AUTO_APPROVE=1 finops demo` end to end, per stage, against the 3-minute goal.

Runs the demo as a user does (a subprocess of the ``finops`` console script) in a fresh
temporary data folder, so the Prefect database, the sandbox and the cost store start empty,
with ``DEMO_AUTO_APPROVE=1`` so the remediation run is approved without a person.  It measures
the wall time of the whole command, parses the demo's own closing summary (stage times,
anomalies found, findings against the sandbox's flagged resources, approvals and actions done),
prints them, and appends them to ``bench/RESULTS.md`` with the machine, the date and the load
average at the start (the machine is shared: a high load inflates every figure).

Run: ``.venv/bin/python bench/bench_demo.py [--keep-output FILE]``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import load_average, machine, record  # noqa: E402

#: The issue's goal for the whole demo on 2 cores.
GOAL_S = 180.0
_STAGE = re.compile(r"^(?P<indent>\s+)(?P<name>\S.*?)\s+(?P<seconds>\d+\.\d)$")


def parse_stages(output: str) -> list[tuple[str, float, bool]]:
    """(stage, seconds, is a finops-daily inner stage) from the summary's time table.

    Example:
        >>> text = "Time per stage (s):\\n  finops-daily  9.0\\n    ingest  5.0\\n  total  9.0"
        >>> parse_stages(text)
        [('finops-daily', 9.0, False), ('ingest', 5.0, True), ('total', 9.0, False)]
    """
    lines = output.splitlines()
    try:
        start = lines.index("Time per stage (s):") + 1
    except ValueError:
        return []
    stages = []
    for line in lines[start:]:
        match = _STAGE.match(line)
        if match is None:
            break
        stages.append((match["name"], float(match["seconds"]), len(match["indent"]) > 2))
    return stages


def summary_facts(output: str) -> list[str]:
    """The summary's lines that judge it against the sandbox (anomalies, findings, actions)."""
    wanted = ("Anomalies:", "Approved ", "Remediation (")
    return [
        line.strip()
        for line in output.splitlines()
        if line.startswith(wanted) or (line.startswith("  total ") and "$" in line)
    ]


def run_demo(timeout_s: float, checkout: Path = ROOT) -> tuple[int, str, float, float, float]:
    """Run the demo of a checkout (default: this one) in a fresh data folder.

    Returns:
        (exit code, output, wall seconds, seconds to its first line, seconds from its last
        summary line to its exit, i.e. stopping the servers).
    """
    folder = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    env = {
        **os.environ,
        "DEMO_AUTO_APPROVE": "1",
        "FINOPS_DATA_DIR": str(folder / ".finops"),
        "PREFECT_HOME": str(folder / "prefect-home"),
    }
    env.pop("PREFECT_API_URL", None)
    if checkout != ROOT:
        # Another checkout's code (say, an older commit for a before/after) with this venv.
        env["PYTHONPATH"] = str(checkout)
    started = time.perf_counter()
    lines: list[str] = []
    first_line = last_summary_line = 0.0
    try:
        with subprocess.Popen(
            [sys.executable, "-c", "from finops.cli import run; run()", "demo"],
            cwd=checkout,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                now = time.perf_counter() - started
                first_line = first_line or now
                if not line.startswith("stopped"):
                    last_summary_line = now
                lines.append(line.rstrip("\n"))
                if now > timeout_s:
                    process.kill()
            code = process.wait()
        wall = time.perf_counter() - started
        return code, "\n".join(lines), wall, first_line, wall - last_summary_line
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _describe(checkout: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(checkout), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    )
    head = done.stdout.strip()[:72] or "not a git checkout"
    return f"{checkout} at {head}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after (s)")
    parser.add_argument("--keep-output", type=Path, help="also write the demo's output here")
    parser.add_argument("--note", default="", help="a line recorded with the figures")
    parser.add_argument(
        "--checkout",
        type=Path,
        default=ROOT,
        help="run the demo of another checkout, e.g. a git worktree of an older commit",
    )
    args = parser.parse_args()

    load = load_average()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    checkout = args.checkout.resolve()
    code, output, wall, to_first_line, stopping = run_demo(args.timeout, checkout)
    if args.keep_output:
        args.keep_output.write_text(output)
    stages = parse_stages(output)
    facts = summary_facts(output)
    for name, seconds, inner in stages:
        print(f"{'    ' if inner else '  '}{name:<24} {seconds:7.1f}")
    print(f"  {'command start-up':<24} {to_first_line:7.1f}")
    print(f"  {'stopping everything':<24} {stopping:7.1f}")
    print(f"  {'wall (whole command)':<24} {wall:7.1f}   goal {GOAL_S:.0f}")
    for fact in facts:
        print(fact)

    busy = float(load.split()[0]) > 2.5 if load != "?" else False
    lines = [
        "",
        f"## Demo end to end (bench/bench_demo.py), {when}",
        "",
        f"Machine: {machine()}; load average at start {load}"
        + (" (other engineers were loading the machine: figures are inflated)." if busy else "."),
        "`DEMO_AUTO_APPROVE=1 finops demo` in a fresh data folder (new Prefect database, sandbox "
        "seeded from scratch, 400 days of export ingested), run as a subprocess; stage times are "
        "the demo's own summary, wall is the whole command (also stopping everything)."
        + f"  Code: {_describe(checkout)}."
        + (f"  {args.note}" if args.note else ""),
        "",
        "| stage | seconds |",
        "|---|---:|",
    ]
    lines += [f"| {'&nbsp;&nbsp;' if inner else ''}{name} | {s:.1f} |" for name, s, inner in stages]
    lines.append(f"| command start-up (to its first line) | {to_first_line:.1f} |")
    lines.append(f"| stopping everything (after the summary) | {stopping:.1f} |")
    lines.append(f"| **wall, whole command** (goal {GOAL_S:.0f} s) | **{wall:.1f}** |")
    if code != 0:
        lines.append("")
        lines.append(f"The demo exited with {code}; last lines:")
        lines += ["", "```", *output.strip().splitlines()[-15:], "```"]
    if facts:
        lines += ["", "Summary against the sandbox's ground truth:", ""]
        lines += [f"- {fact}" for fact in facts]
    record("\n".join(lines) + "\n")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
