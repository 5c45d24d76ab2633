"""Repository search over the fake's universe, fast enough for a million repositories.

Creation dates grow with ids, so a ``created:`` range is a slice of the sorted id array (bisect).
Within the slice, repositories are checked against column arrays filled lazily per block of ids:
"light" columns (fork flag, availability) cost one hash per id, "heavy" ones (stars, language,
topics, dates) a full derivation, and are only built when a query needs them. Repositories a test
changed, deleted or renamed are checked against their current full object instead.

Best match is ascending id (oldest first): deterministic and cheap, documented in the package.
Only the first :data:`RESULT_CAP` results of a query are ever materialised, as on GitHub.
"""

from __future__ import annotations

import bisect
import calendar
import heapq
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fake_github.derive import LANGUAGE_CODES, TOPICS, Facts
from tests.fake_github.search_query import (
    FORK_EXCLUDED,
    FORK_ONLY,
    SearchQuery,
    SearchSyntaxError,
)
from tests.fake_github.universe import Universe

RESULT_CAP = 1000  # GitHub serves only the first 1,000 results of any search
_BLOCK = 1024  # ids per lazily built column block
_CACHED_QUERIES = 64  # paging through a query re-reads its cached result
_FORK_BIT = 1
_ARCHIVED_BIT = 2
_UNAVAILABLE_BIT = 4  # vanished or taken down: never a search result
_TOPIC_BITS = {topic: bit for bit, topic in enumerate(TOPICS)}
SORT_KEYS = ("stars", "forks", "help-wanted-issues", "updated")
_UNKNOWN_OWNER = (
    "The listed users and repositories cannot be searched either because the resources do not exist "
    "or you do not have permission to view them."
)


@dataclass(frozen=True)
class SearchResult:
    """A query's total match count and its first :data:`RESULT_CAP` ids in result order."""

    total: int
    ids: list[int]


class SearchIndex:
    """Answer repository searches against one :class:`Universe`.

    :param universe: the world to search.
    """

    def __init__(self, universe: Universe) -> None:
        self.universe = universe
        size = universe.visible_end(include_huge=False)
        blocks = (size + _BLOCK - 1) // _BLOCK
        self._size = size
        self._lock = threading.Lock()
        self._flags = bytearray(size)
        self._light_built = bytearray(blocks)
        self._heavy_built = bytearray(blocks)
        # Per block: how many available non-forks and forks it holds (answers counts without a scan).
        self._block_sources = array("l", bytes(8 * blocks))
        self._block_forks = array("l", bytes(8 * blocks))
        # Heavy columns are allocated on the first query that needs them (48 bytes per id).
        self._stars = array("l")
        self._forks = array("l")
        self._open_issues = array("l")
        self._updated = array("q")
        self._pushed = array("q")
        self._language = array("b")
        self._topics = array("Q")
        self._results: OrderedDict[tuple[Any, ...], SearchResult] = OrderedDict()
        self._created_key = universe.deriver.created

    # ----------------------------------------------------------------- columns
    def _ensure_light(self, block: int) -> None:
        if self._light_built[block]:
            return
        universe = self.universe
        is_fork = universe.deriver.is_fork
        is_vanished = universe.is_vanished_base
        sources = forks = 0
        for position in range(block * _BLOCK, min(self._size, (block + 1) * _BLOCK)):
            repo_id = universe.ids[position]
            flags = (_FORK_BIT if is_fork(repo_id) else 0) | (_UNAVAILABLE_BIT if is_vanished(repo_id) else 0)
            self._flags[position] = flags
            if not flags & _UNAVAILABLE_BIT:
                if flags & _FORK_BIT:
                    forks += 1
                else:
                    sources += 1
        self._block_sources[block] = sources
        self._block_forks[block] = forks
        self._light_built[block] = 1

    def _ensure_heavy(self, block: int) -> None:
        if self._heavy_built[block]:
            return
        self._ensure_light(block)
        if not self._stars:
            for column in (self._stars, self._forks, self._open_issues, self._updated, self._pushed, self._topics):
                column.frombytes(bytes(column.itemsize * self._size))
            self._language.frombytes(bytes(self._size))
        universe = self.universe
        derive = universe.deriver.facts
        for position in range(block * _BLOCK, min(self._size, (block + 1) * _BLOCK)):
            facts: Facts = derive(universe.ids[position])
            self._stars[position] = facts.stars
            self._forks[position] = facts.forks
            self._open_issues[position] = facts.open_issues
            self._updated[position] = facts.updated
            self._pushed[position] = -1 if facts.pushed is None else facts.pushed
            self._language[position] = facts.language_code
            self._topics[position] = facts.topic_mask
            if facts.archived:
                self._flags[position] |= _ARCHIVED_BIT
        self._heavy_built[block] = 1

    # ----------------------------------------------------------------- searching
    def search(self, query: SearchQuery, *, sort: str | None, order: str, include_huge: bool) -> SearchResult:
        """Run a query; raise :class:`SearchSyntaxError` for unknown users or organizations."""
        universe = self.universe
        cache_key = (query.cache_key(), sort, order, include_huge, universe.version)
        with self._lock:
            cached = self._results.get(cache_key)
            if cached is not None:
                self._results.move_to_end(cache_key)
                return cached
            result = self._run(query, sort=sort, order=order, include_huge=include_huge)
            self._results[cache_key] = result
            if len(self._results) > _CACHED_QUERIES:
                self._results.popitem(last=False)
            return result

    def all_ids(self, query: SearchQuery, *, include_huge: bool = False) -> list[int]:
        """Every id matching ``query``, past the cap: the reference answer tests compare a harvest with."""
        with self._lock:
            return sorted(self._run(query, sort=None, order="desc", include_huge=include_huge, cap=None).ids)

    def _run(
        self, query: SearchQuery, *, sort: str | None, order: str, include_huge: bool, cap: int | None = RESULT_CAP
    ) -> SearchResult:
        if query.private_only:
            return SearchResult(0, [])
        universe = self.universe
        low, high = self._created_slice(query)
        changed = universe.changed_ids()
        owner_ids = self._owner_ids(query, include_huge)
        heavy = query.needs_details() or sort is not None
        match = self._column_matcher(query)
        sort_value = None if sort is None else self._column_sort_value(sort)
        descending = order != "asc"

        total = 0
        best: list[tuple[int, int]] = []  # (sort key, id); pruned to the best RESULT_CAP now and then

        def consider(position: int) -> None:
            nonlocal total, best
            repo_id = universe.ids[position]
            if repo_id in changed or not match(position, repo_id):
                return
            total += 1
            best.append((_rank(repo_id, None if sort_value is None else sort_value(position), descending), repo_id))
            if cap is not None and len(best) >= 4 * cap:
                best = heapq.nsmallest(cap, best)

        # An owner's few repositories are all checked on their full objects below, not scanned here.
        if owner_ids is None:
            changed_blocks = {
                position // _BLOCK for position in map(universe.position, changed) if position is not None
            }
            for block in range(low // _BLOCK, (high + _BLOCK - 1) // _BLOCK):
                start, end = max(low, block * _BLOCK), min(high, (block + 1) * _BLOCK)
                self._ensure_block(block, heavy)
                whole = start == block * _BLOCK and end == min(self._size, (block + 1) * _BLOCK)
                if cap is not None and not heavy and whole and block not in changed_blocks and total >= cap:
                    # Best match is id order: once the first page items exist, later blocks only count.
                    total += self._block_count(block, query.fork)
                    continue
                for position in range(start, end):
                    consider(position)

        for repo_id in self._changed_candidates(query, changed, low, high, owner_ids, include_huge):
            obj = universe.full(repo_id)
            if not _object_matches(query, obj):
                continue
            total += 1
            best.append((_rank(repo_id, None if sort is None else _object_sort_value(sort, obj), descending), repo_id))
        kept = best if cap is None else heapq.nsmallest(cap, best)
        return SearchResult(total, [repo_id for _, repo_id in kept])

    def _changed_candidates(
        self,
        query: SearchQuery,
        changed: set[int],
        low: int,
        high: int,
        owner_ids: set[int] | None,
        include_huge: bool,
    ) -> list[int]:
        """Repositories to check on their full objects: changed ones (or, for ``user:``/``org:``
        queries, every one of those owners), and the hostile huge id."""
        universe = self.universe
        in_range = changed if owner_ids is None else owner_ids
        positions = ((repo_id, universe.position(repo_id)) for repo_id in in_range)
        candidates = [repo_id for repo_id, position in positions if position is not None and low <= position < high]
        if include_huge and universe.huge_id not in changed and self._in_created(query, universe.huge_id):
            candidates.append(universe.huge_id)
        return [
            repo_id
            for repo_id in candidates
            if (owner_ids is None or repo_id in owner_ids) and universe.detail_status(repo_id, include_huge) == "ok"
        ]

    def _ensure_block(self, block: int, heavy: bool) -> None:
        if heavy:
            self._ensure_heavy(block)
        else:
            self._ensure_light(block)

    def _block_count(self, block: int, fork_mode: str) -> int:
        if fork_mode == FORK_EXCLUDED:
            return self._block_sources[block]
        if fork_mode == FORK_ONLY:
            return self._block_forks[block]
        return self._block_sources[block] + self._block_forks[block]

    def _created_slice(self, query: SearchQuery) -> tuple[int, int]:
        """Positions ``[low, high)`` whose creation time is inside the query's ``created:`` range."""
        if query.created is None:
            return 0, self._size
        first, last = query.created
        low = bisect.bisect_left(self.universe.ids, first, 0, self._size, key=self._created_key)
        high = bisect.bisect_right(self.universe.ids, last, 0, self._size, key=self._created_key)
        return low, high

    def _in_created(self, query: SearchQuery, repo_id: int) -> bool:
        return query.created is None or query.created[0] <= self._created_key(repo_id) <= query.created[1]

    def _owner_ids(self, query: SearchQuery, include_huge: bool) -> set[int] | None:
        """Ids of the ``user:``/``org:`` owners, or None when the query names none."""
        if not query.users and not query.orgs:
            return None
        universe = self.universe
        ids: set[int] = set()
        for login, must_be_org in [(user, False) for user in query.users] + [(org, True) for org in query.orgs]:
            owner = universe.owner_by_login(login)
            if owner is None or (must_be_org and owner.type != "Organization"):
                raise SearchSyntaxError(_UNKNOWN_OWNER)
            ids.update(universe.owner_repo_ids(owner, include_huge))
        return ids

    def _column_matcher(self, query: SearchQuery) -> Callable[[int, int], bool]:
        """A predicate over (position, id) reading the column arrays."""
        flags_column = self._flags
        fork_mode = query.fork
        language_codes = {LANGUAGE_CODES.get(name, -2) for name in query.languages}
        topic_mask = 0
        for topic in query.topics:
            if topic not in _TOPIC_BITS:
                return lambda position, repo_id: False
            topic_mask |= 1 << _TOPIC_BITS[topic]
        deriver = self.universe.deriver

        def match(position: int, repo_id: int) -> bool:
            flags = flags_column[position]
            if flags & _UNAVAILABLE_BIT:
                return False
            if fork_mode == FORK_EXCLUDED and flags & _FORK_BIT:
                return False
            if fork_mode == FORK_ONLY and not flags & _FORK_BIT:
                return False
            if query.archived is not None and bool(flags & _ARCHIVED_BIT) != query.archived:
                return False
            if query.stars and not query.stars[0] <= self._stars[position] <= query.stars[1]:
                return False
            if query.forks and not query.forks[0] <= self._forks[position] <= query.forks[1]:
                return False
            if language_codes and self._language[position] not in language_codes:
                return False
            if topic_mask and self._topics[position] & topic_mask != topic_mask:
                return False
            if query.pushed:
                pushed = self._pushed[position]
                if pushed < 0 or not query.pushed[0] <= pushed <= query.pushed[1]:
                    return False
            if query.terms:
                return _text_matches(query.terms, deriver.name(repo_id), deriver.description(repo_id))
            return True

        return match

    def _column_sort_value(self, sort: str) -> Callable[[int], int]:
        column = {
            "stars": self._stars,
            "forks": self._forks,
            "help-wanted-issues": self._open_issues,
            "updated": self._updated,
        }[sort]
        return column.__getitem__


def _rank(repo_id: int, value: int | None, descending: bool) -> int:
    """Sort key where smaller ranks first: the id for best match, else the (negated) sort value."""
    if value is None:
        return repo_id
    return -value if descending else value


def _text_matches(terms: list[str], name: str, description: str | None) -> bool:
    haystack = f"{name} {description or ''}".lower()
    return all(term in haystack for term in terms)


def _parse_time(value: str | None) -> int | None:
    if value is None:
        return None
    return calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ"))


def _object_matches(query: SearchQuery, obj: dict[str, Any]) -> bool:
    """The column predicate, evaluated on a full REST object (for repositories a test changed)."""
    if query.public_only and obj.get("private"):
        return False
    fork = bool(obj["fork"])
    if (query.fork == FORK_EXCLUDED and fork) or (query.fork == FORK_ONLY and not fork):
        return False
    if query.archived is not None and bool(obj["archived"]) != query.archived:
        return False
    if query.stars and not query.stars[0] <= obj["stargazers_count"] <= query.stars[1]:
        return False
    if query.forks and not query.forks[0] <= obj["forks_count"] <= query.forks[1]:
        return False
    if query.languages and (obj["language"] or "").lower() not in query.languages:
        return False
    if query.topics and not set(query.topics).issubset(obj["topics"]):
        return False
    if query.pushed:
        pushed = _parse_time(obj["pushed_at"])
        if pushed is None or not query.pushed[0] <= pushed <= query.pushed[1]:
            return False
    return not query.terms or _text_matches(query.terms, obj["name"], obj["description"])


def _object_sort_value(sort: str, obj: dict[str, Any]) -> int:
    if sort == "stars":
        return obj["stargazers_count"]
    if sort == "forks":
        return obj["forks_count"]
    if sort == "help-wanted-issues":
        return obj["open_issues_count"]
    return _parse_time(obj["updated_at"]) or 0


def sort_order(sort: str | None, order: str | None) -> tuple[str | None, str]:
    """Normalise ``sort``/``order`` parameters: unknown sorts mean best match, order defaults to desc."""
    normalised = sort if sort in SORT_KEYS else None
    return normalised, "asc" if (order or "").lower() == "asc" else "desc"


__all__ = ["RESULT_CAP", "SearchIndex", "SearchResult", "SearchSyntaxError", "sort_order"]
