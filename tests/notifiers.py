"""Notifiers for tests that watch an alert fire in another process (the triggerer, a task process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow.sdk import BaseNotifier


class FileNotifier(BaseNotifier):
    """Appends each notification's context to ``path`` as one JSON line, for a test to read.

    Configured like a deployment's notifier::

        GITHUB_ETL_ALERT_NOTIFIER=tests.notifiers.FileNotifier
        GITHUB_ETL_ALERT_NOTIFIER_KWARGS='{"path": "/tmp/alerts.jsonl"}'
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def notify(self, context: Any) -> None:
        line = json.dumps(dict(context), default=str, sort_keys=True)
        with Path(self.path).open("a", encoding="utf-8") as records:
            records.write(line + "\n")


def read_records(path: Path) -> list[dict[str, Any]]:
    """The notifications :class:`FileNotifier` wrote to ``path`` so far (complete lines only)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]
