"""Process settings a deployment chooses per Airflow component, read from that component's environment.

Airflow imports this module at start-up in every one of its processes (it looks in
``$AIRFLOW_HOME/config``); nothing here applies unless the component's environment asks for it.

``GITHUB_ETL_GC_THRESHOLD``: the first-generation threshold of Python's cyclic garbage collector
(``gc.set_threshold``; Python's default is 700, 2,000 from 3.13). Under load, the objects of requests in
flight survive the frequent young collections, and their count soon triggers a full collection, which
walks every object of Airflow's application: about 0.7 million in the API server, a quarter of a second
during which no request moves, more than once a second at 50 concurrent clients. A threshold of 50,000
lets those objects die young instead. The deployment files set it on the API server alone (docs/api.md).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping

# Airflow copies this module's public names into its settings and reads them as cluster policies:
# there are none.
__all__: list[str] = []

GC_THRESHOLD_VARIABLE = "GITHUB_ETL_GC_THRESHOLD"


def gc_threshold(environ: Mapping[str, str]) -> int | None:
    """The first-generation threshold ``GITHUB_ETL_GC_THRESHOLD`` asks for, or None when unset or empty.

    :raises ValueError: the value is not a whole number of at least 1; Airflow then refuses to start.
    """
    value = environ.get(GC_THRESHOLD_VARIABLE, "").strip()
    if not value:
        return None
    try:
        threshold = int(value)
    except ValueError:
        threshold = 0
    if threshold < 1:
        raise ValueError(f"{GC_THRESHOLD_VARIABLE} must be a whole number of at least 1, got {value!r}")
    return threshold


def apply_gc_threshold(environ: Mapping[str, str] = os.environ) -> int | None:
    """Set the collector's first-generation threshold as :func:`gc_threshold` reads it, if given.

    :returns: the threshold set, or None when the collector was left alone.
    """
    threshold = gc_threshold(environ)
    if threshold is not None:
        gc.set_threshold(threshold, *gc.get_threshold()[1:])
    return threshold


apply_gc_threshold()
