"""The exact repository count at the cost of a primary-key read, recounted only after the table changed.

``count(*)`` reads a whole index: about 0.1 s per million rows, however often it is asked. Every statement
that writes ``github.repositories`` moves ``github.repositories_generation`` forward in its own transaction
(a statement-level trigger of ``schema.sql``). A count is taken together with the generation, in one
snapshot, and kept; a request then reads only the generation: the same number means that no write has
committed since the count was taken, so the count kept is the count now.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from github_etl.api import queries
from github_etl.api.coalesce import Coalescer
from github_etl.hooks.warehouse import DatabaseConnection

T = TypeVar("T")

Runner = Callable[[Callable[[DatabaseConnection], T]], T]


class RepositoryCounter:
    """Exact count of ``github.repositories`` for many concurrent requests.

    Each call returns the count as of a moment after the call began: never a count that a write committed
    before the call has changed.

    :param run: runs a read on a warehouse connection (``WarehousePool.run``).
    """

    def __init__(self, run: Runner) -> None:
        self._run = run
        self._lock = threading.Lock()
        # (generation, count) read in one snapshot; None until the first count.
        self._known: tuple[int, int] | None = None
        # Counting after a write: concurrent requests share one execution that starts after they arrived.
        self._recount = Coalescer(lambda: self._run(queries.generation_and_count))

    def __call__(self) -> int:
        """The number of repositories."""
        known = self._known
        if known is not None and self._run(queries.repositories_generation) == known[0]:
            return known[1]
        generation, count = self._recount()
        with self._lock:
            # Generations grow in commit order: keep the newest count whatever order the threads end in.
            if self._known is None or generation > self._known[0]:
                self._known = (generation, count)
        return count
