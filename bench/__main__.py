"""``make bench``: every benchmark in one invocation, each printing its figures and ratios.

Select with ``BENCH=requests,load,api,celery,dag`` (default: all); sizes of the load benchmark with
``GITHUB_ETL_BENCH_SIZES`` (default ``100000,1000000``).
"""

from __future__ import annotations

import os
import sys
import time
import traceback

ALL = ("requests", "dag", "load", "api", "celery")


def _section(name: str) -> None:
    print(f"\n=== {name} ===", flush=True)


def main() -> int:
    chosen = [b.strip() for b in os.environ.get("BENCH", ",".join(ALL)).split(",") if b.strip()]
    failures = 0
    for name in chosen:
        _section(name)
        started = time.monotonic()
        try:
            if name == "requests":
                from bench import requests_bench

                for line in requests_bench.report(requests_bench.run()):
                    print(line)
            elif name == "dag":
                from bench import dag_bench

                dag_bench.main()
            elif name == "load":
                from bench import load_bench

                load_bench.main([])
            elif name == "api":
                from bench import api_bench

                api_bench.main()
            elif name == "celery":
                from bench import celery_bench

                celery_bench.main()
            else:
                print(f"unknown benchmark {name!r}; choose from {', '.join(ALL)}")
                failures += 1
        except Exception:
            traceback.print_exc()
            failures += 1
        print(f"({name}: {time.monotonic() - started:.0f} s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
