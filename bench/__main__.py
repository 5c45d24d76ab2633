"""``make bench``: every benchmark in one invocation, each printing its figures and ratios.

Select with ``BENCH=requests,dag,extract,transform,load,api,celery`` (default: all); sizes of the
extract, transform and load benchmarks with ``GITHUB_ETL_BENCH_SIZES`` (default ``100000,1000000``).

Each benchmark runs in a process of its own: Airflow reads its configuration (``AIRFLOW_HOME``, the
metadata database) once per process, and the DAG benchmark must set its own before Airflow is imported,
which an earlier benchmark in the same process would already have done. A fresh process also keeps
one benchmark's memory and threads out of the next one's figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

ALL = ("requests", "dag", "extract", "transform", "load", "api", "celery")


def _section(name: str) -> None:
    print(f"\n=== {name} ===", flush=True)


def main() -> int:
    chosen = [b.strip() for b in os.environ.get("BENCH", ",".join(ALL)).split(",") if b.strip()]
    failures = 0
    for name in chosen:
        _section(name)
        if name not in ALL:
            print(f"unknown benchmark {name!r}; choose from {', '.join(ALL)}")
            failures += 1
            continue
        started = time.monotonic()
        # The module's own command line, with its defaults (extract, transform and load read the bench sizes).
        returncode = subprocess.run([sys.executable, "-m", f"bench.{name}_bench"], check=False).returncode
        if returncode:
            print(f"{name} benchmark failed (exit {returncode})")
            failures += 1
        print(f"({name}: {time.monotonic() - started:.0f} s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
