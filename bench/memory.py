"""A benchmark process's own memory, as the figures that compare sizes read it."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The growth each task's peak memory may show from the smallest size to the largest (the load's issue).
TARGET_MEMORY_GROWTH = 1.3


def own_peak_rss_kib() -> int:
    """This process's peak RSS in KiB: VmHWM, the high-water mark of its own address space.

    Not ``ru_maxrss``: Linux carries that over from the forked parent through ``execve``, so a child
    would report the benchmark parent's size whenever the parent is the larger.
    """
    found = _status_field("VmHWM")
    # Elsewhere ru_maxrss is the best there is (KiB on Linux, bytes on macOS).
    return found if found is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def own_rss_kib() -> int | None:
    """This process's RSS now in KiB (VmRSS); None where ``/proc`` does not say."""
    return _status_field("VmRSS")


def _status_field(name: str) -> int | None:
    try:
        found = re.search(rf"^{name}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(found.group(1)) if found else None


def run_in_child(module: str, arguments: list[str], environment: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``python -m module arguments`` in a fresh interpreter and return the JSON its last line prints.

    A fresh interpreter's peak RSS is the measured work's alone, not the benchmark's.

    :param environment: variables added to this process's environment (secrets go here, never on the
        command line, which every user of the machine can read through ps).
    """
    completed = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(environment or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{module} failed ({completed.returncode}):\n{completed.stderr.strip()[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def memory_growth(runs: list[dict[str, Any]], size_key: str) -> dict[str, Any] | None:
    """Peak RSS at the largest size over that at the smallest, against the target; None for one size.

    :param runs: figures per size, each with ``size_key`` and ``peak_rss_mib``.
    :param size_key: the name of the size, which the printed line uses too (``records``, ``repositories``).
    """
    if len(runs) < 2:
        return None
    smallest = min(runs, key=lambda figures: figures[size_key])
    largest = max(runs, key=lambda figures: figures[size_key])
    ratio = round(largest["peak_rss_mib"] / smallest["peak_rss_mib"], 2)
    meets = ratio <= TARGET_MEMORY_GROWTH
    line = (
        f"peak RSS {largest[size_key]:,} / {smallest[size_key]:,} {size_key}: {ratio:.2f}x"
        f"  (target <= {TARGET_MEMORY_GROWTH}x)  {'meets' if meets else 'misses'}"
    )
    return {"ratio": ratio, "limit": TARGET_MEMORY_GROWTH, "meets": meets, "line": line}
