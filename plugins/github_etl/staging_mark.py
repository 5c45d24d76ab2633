"""Which staging store ``prepare`` checked, so that a later task of the run can tell when it stages somewhere else.

A worker reads ``GITHUB_ETL_STAGING_URL`` from its own environment, and a local folder of one path is another
folder on another machine (a KubernetesExecutor pod's own disk, a second Celery host). Either way the run's
files would not reach the tasks that read them, and the first of those fails only after ``plan`` has spent its
requests. ``prepare`` hands on the root it checked and, for a local folder, the id of a mark file left in it once;
``plan`` compares both before it asks GitHub anything.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from github_etl.errors import ConfigurationError
from github_etl.staging import staging_root

MARK_FILE = ".github-etl-staging-mark"


def staging_seen(root: str | None = None) -> dict[str, str]:
    """The staging root prepare checked and, for a local folder, its mark (left there by the first run)."""
    root_uri = staging_root(root)
    seen = {"root": root_uri}
    if (folder := _local_folder(root_uri)) is not None:
        seen["mark"] = _read_mark(folder) or _leave_mark(folder)
    return seen


def check_staging_seen(prepared: Mapping[str, str], root: str | None = None) -> None:
    """Refuse to go on staging elsewhere than where prepare checked: a final error naming both, and the fix.

    :raise ConfigurationError: this worker's staging root differs from prepare's, or is a local folder without
        prepare's mark (another machine's, or deleted since).
    """
    root_uri = staging_root(root)
    if root_uri != prepared["root"]:
        raise ConfigurationError(
            f"This worker stages to {root_uri}, but the run's prepare task checked {prepared['root']}: the "
            "workers' GITHUB_ETL_STAGING_URL differ, so the run's tasks would not find each other's files. Set the "
            "same value wherever tasks run, then clear the run's prepare task with its downstream tasks."
        )
    folder = _local_folder(root_uri)
    if folder is None or "mark" not in prepared or _read_mark(folder) == prepared["mark"]:
        return
    raise ConfigurationError(
        f"The staging folder {folder} on this worker is not the one the run's prepare task checked: it lacks the "
        f"mark prepare found there ({folder / MARK_FILE}). Each task ran on another machine (a KubernetesExecutor "
        "pod, another Celery host) with a folder of its own, so the run's files would not reach the tasks that "
        "read them; or the folder was deleted since. Workers on several machines need one shared store: set "
        "GITHUB_ETL_STAGING_URL to s3://bucket/prefix (or a volume every worker mounts), then clear the run's "
        "prepare task with its downstream tasks."
    )


def _local_folder(root_uri: str) -> Path | None:
    parts = urlsplit(root_uri)
    # An absolute folder given without file:// (GITHUB_ETL_STAGING_URL=/srv/staging) is local too.
    return Path(parts.path) if parts.scheme in ("file", "") else None


def _read_mark(folder: Path) -> str | None:
    try:
        return (folder / MARK_FILE).read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None


def _leave_mark(folder: Path) -> str:
    """Leave a mark of a new id unless another prepare left one first: the mark is written whole under a name of its
    own and linked into place, which fails on an existing mark instead of replacing it."""
    mark = uuid.uuid4().hex
    written = folder / f"{MARK_FILE}.{mark}"
    written.write_text(mark, encoding="ascii")
    try:
        os.link(written, folder / MARK_FILE)
    except FileExistsError:
        return _read_mark(folder) or mark
    finally:
        written.unlink()
    return mark
