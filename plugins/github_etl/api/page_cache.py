"""Repository list pages as sent, kept until the next write to ``github.repositories``.

The warehouse changes when a DAG run loads it, once a day or so, while dashboards ask the same pages
over and over. Every statement that writes ``github.repositories`` moves its generation (``schema.sql``),
so a page read after the generation was seen at G is the page of G or of a later state: kept under G,
it is served to requests that see G again, and to none once the generation has moved. What a request
gets is therefore never older than a fresh query begun at its arrival would have been.

Only the list is kept: the detail page and the load runs read tables whose writes do not move the
generation, and the count has its own cache (:mod:`github_etl.api.counting`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class PageCache:
    """Serialized pages of one generation, least recently used forgotten first, within ``max_bytes``.

    Used from the event loop's thread only, like every coroutine of the app: no lock.

    :param max_bytes: total size of the pages kept; 0 keeps none.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._generation: int | None = None
        self._pages: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, generation: int, key: Hashable) -> bytes | None:
        """The page kept for ``key`` at ``generation``, or None."""
        if generation != self._generation:
            if self._generation is not None and generation > self._generation:
                self._forget_all(generation)
            return None
        body = self._pages.get(key)
        if body is not None:
            self._pages.move_to_end(key)
        return body

    def put(self, generation: int, key: Hashable, body: bytes) -> None:
        """Keep ``body`` as the page for ``key``, read after ``generation`` was seen."""
        if not self.enabled or len(body) > self.max_bytes:
            return
        if self._generation is None or generation > self._generation:
            self._forget_all(generation)
        elif generation < self._generation:
            return  # read before a write that pages of a newer generation already show
        previous = self._pages.pop(key, None)
        if previous is not None:
            self._bytes -= len(previous)
        while self._pages and self._bytes + len(body) > self.max_bytes:
            _, evicted = self._pages.popitem(last=False)
            self._bytes -= len(evicted)
        self._pages[key] = body
        self._bytes += len(body)

    def _forget_all(self, generation: int) -> None:
        self._generation = generation
        self._pages.clear()
        self._bytes = 0
