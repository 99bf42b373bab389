"""What machine a benchmark ran on: CPU, cores, memory, Python, commit and load, for its results JSON."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

__all__ = ["describe"]


def describe(**extra: object) -> dict[str, object]:
    """The machine facts every benchmark records, plus ``extra`` (library versions, load tool)."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), platform.processor())
    mem_kib = next((int(line.split()[1]) for line in meminfo if line.startswith("MemTotal")), 0)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores_available": len(os.sched_getaffinity(0)),
        "memory_gib": round(mem_kib / 2**20, 1),
        "python": platform.python_version(),
        "git_commit": commit,
        **extra,
    }
