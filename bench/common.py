"""What every benchmark records beside its figures: the machine, its load, and the results file."""

from __future__ import annotations

import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    """The machine as RESULTS.md names it: cores, architecture and CPU model.

    Example:
        >>> machine().startswith("nproc ")
        True
    """
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"nproc {os.cpu_count()}, {platform.machine()}, {cpu}"


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, so shared-machine figures can be read as such."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def record(text: str) -> None:
    """Append a benchmark's figures to RESULTS.md and say so."""
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(text)
    print(f"appended to {RESULTS}")
