"""A benchmark process's own memory, as the figures that compare sizes read it."""

from __future__ import annotations

import re
import resource
from pathlib import Path


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
