"""The fake's world: which repositories exist, who owns them, and how the world changed since start.

Ids live in one sorted ``array('q')``; every other fact is derived from ``(seed, id)`` on demand
(:mod:`tests.fake_github.derive`), so a million repositories start in about a second. Only what a
test changes (overrides, deletions, renames) is stored.
"""

from __future__ import annotations

import bisect
import copy
import functools
import random
import threading
from array import array
from typing import Any, NamedTuple

from tests.fake_github import hostile
from tests.fake_github.derive import LANGUAGES, Deriver, mix64, salt_key
from tests.fake_github.objects import (
    MINIMAL_FIELDS,
    full_json,
    full_object,
    minimal_json,
    minimal_object,
    owner_object,
    to_json,
)
from tests.fake_github.owners import (
    GENERATED_OWNER_ID_BASE,
    GENERATED_OWNER_ID_STEP,
    Owner,
    generated_owner,
    generated_owner_number,
    named_owner,
    transfer_owner,
)

# Roughly three repositories per generated owner, so owner listings have a few items each.
_REPOS_PER_GENERATED_OWNER = 3
# Share of listed ids that carry hostile data in hostile mode (at least one id per kind).
_HOSTILE_SHARE = 0.01
# One vanished repository in five was taken down (451) rather than deleted (404).
_DMCA_ONE_IN = 5
# Enough cached objects for a few listing pages and search results without holding the world.
_OBJECT_CACHE_SIZE = 8192
# Fields derived from the id or the name; changing them needs rename_repository, not an override.
_IDENTITY_FIELDS = frozenset({"id", "node_id", "name", "full_name", "owner", "created_at"})
# Overridable fields of the listing object; the other listing fields are URLs fixed by the name.
_LISTED_OVERRIDABLE = frozenset({"description", "fork"})
# Overriding a count keeps its legacy alias in step, as GitHub does.
_ALIASES = {
    "stargazers_count": ("watchers_count", "watchers"),
    "forks_count": ("forks", "network_count"),
    "open_issues_count": ("open_issues",),
}
NOT_FOUND = "not_found"
DMCA = "dmca"
DISABLED = "disabled"  # 403 "Repository access blocked": disabled by GitHub (a terms-of-service block)
OK = "ok"


class RepoRecord(NamedTuple):
    """Both REST shapes of one repository and their JSON text (shared: never mutate)."""

    minimal: dict[str, Any]
    full: dict[str, Any]
    minimal_json: str
    full_json: str


class Universe:
    """Every repository of one fake, and the changes a test made to them.

    :param repo_count: repositories with generated owners.
    :param seed: seed of every derived value.
    :param max_id: ids are drawn from ``(0, max_id]``.
    :param vanished_ratio: share of listed ids whose detail answers 404 (some 451).
    :param owners: extra repositories per named owner login.
    :param dense_spans: ``(start epoch, seconds, share)``: that share of the ids is created in that span.
    """

    def __init__(
        self,
        *,
        repo_count: int,
        seed: int,
        max_id: int,
        vanished_ratio: float,
        owners: dict[str, int] | None,
        dense_spans: tuple[tuple[int, int, float], ...] = (),
    ) -> None:
        owners = dict(owners or {})
        total = repo_count + sum(owners.values())
        if total > max_id:
            raise ValueError(f"cannot draw {total} distinct ids from (0, {max_id}]")
        self.seed = seed
        self.max_id = max_id
        self.deriver = Deriver(seed, max_id, dense_spans)
        self.vanished_ratio = vanished_ratio
        self._lock = threading.RLock()
        self.api_root = "https://api.github.com"

        # Always present but hidden unless hostile mode is on: the last element of the array.
        self.huge_id = max(2**32, max_id) + 7
        self.ids = _stratified_ids(total, max_id, seed)
        self.ids.append(self.huge_id)
        self._listed_count = total

        self.pool_size = max(1, total // _REPOS_PER_GENERATED_OWNER)
        self.named_owners: dict[str, Owner] = {login.lower(): named_owner(login) for login in owners}
        self._named_owner_of: dict[int, Owner] = {}
        self._named_ids: dict[str, list[int]] = {login.lower(): [] for login in owners}
        owner_slots = [login for login, count in sorted(owners.items()) for _ in range(count)]
        rng = random.Random(seed)
        # sample() returns positions in random order, so each owner's repositories spread over the ids.
        for position, login in zip(rng.sample(range(total), len(owner_slots)), owner_slots, strict=True):
            repo_id = self.ids[position]
            self._named_owner_of[repo_id] = self.named_owners[login.lower()]
            self._named_ids[login.lower()].append(repo_id)
        for id_list in self._named_ids.values():
            id_list.sort()

        hostile_count = min(total, max(len(hostile.SPREAD_KINDS), round(total * _HOSTILE_SHARE)))
        self._hostile_stride = max(1, total // max(1, hostile_count))
        self._hostile_count = hostile_count
        self._hostile_offset = seed % self._hostile_stride
        self._key_vanished = salt_key(seed, 4)

        # What tests changed; every change bumps `version` so caches keyed on it stay correct.
        self.version = 0
        self.overrides: dict[int, dict[str, Any]] = {}
        self.deleted: set[int] = set()
        # Made private by a test: gone from listings, still served to the token (its owner's, say).
        self.private: set[int] = set()
        self.blocked: dict[int, str] = {}  # id -> DMCA or DISABLED, set by a test
        # Served over REST but given no node by GraphQL, set by a test.
        self.graphql_hidden: set[int] = set()
        self.saml_protected: set[int] = set()
        self._renamed: dict[int, tuple[str, str]] = {}  # id -> (owner login, name)
        self._current_names: dict[str, int] = {}  # lower full name -> id, for renamed repositories
        self._old_names: dict[str, int] = {}  # lower former full name -> id
        self._generated_owner_index: dict[int, list[int]] | None = None
        self._listed_cache: tuple[tuple[int, bool], array] | None = None
        self._base_cache = functools.lru_cache(maxsize=_OBJECT_CACHE_SIZE)(self._build_base)
        self._listing_cache = functools.lru_cache(maxsize=_OBJECT_CACHE_SIZE)(self._build_listing_json)

    # ----------------------------------------------------------------- membership
    def visible_end(self, include_huge: bool) -> int:
        """Index one past the last listed id (the huge id is listed only in hostile mode)."""
        return self._listed_count + (1 if include_huge else 0)

    def position(self, repo_id: int) -> int | None:
        """Index of an id in :attr:`ids`, or None."""
        index = bisect.bisect_left(self.ids, repo_id)
        if index < len(self.ids) and self.ids[index] == repo_id:
            return index
        return None

    def listed_ids(self, include_huge: bool) -> array:
        """Every listed id, ascending (deleted ones excluded); cached until the world changes."""
        key = (self.version, include_huge)
        cached = self._listed_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        listed = self.ids[: self.visible_end(include_huge)]
        hidden = self.deleted | self.private
        if hidden:
            listed = array("q", (repo_id for repo_id in listed if repo_id not in hidden))
        self._listed_cache = (key, listed)
        return listed

    def listing_page(self, since: int, limit: int, include_huge: bool) -> list[int]:
        """The ids ``/repositories?since=`` returns: the next ``limit`` listed ids above ``since``."""
        start = bisect.bisect_right(self.ids, since)
        end = self.visible_end(include_huge)
        page: list[int] = []
        while start < end and len(page) < limit:
            repo_id = self.ids[start]
            if repo_id not in self.deleted and repo_id not in self.private:
                page.append(repo_id)
            start += 1
        return page

    def _vanish_hash(self, repo_id: int) -> int:
        return mix64(repo_id ^ self._key_vanished)

    def is_vanished_base(self, repo_id: int) -> bool:
        """Whether a listed id was "deleted after listing" by construction (not by a test)."""
        if self.vanished_ratio <= 0 or repo_id == self.huge_id:
            return False
        position = self.position(repo_id)
        if position is not None and self._hostile_index(position) is not None:
            return False
        return (self._vanish_hash(repo_id) % 1_000_000) < self.vanished_ratio * 1_000_000

    def detail_status(self, repo_id: int, include_huge: bool) -> str:
        """``ok``, ``not_found`` (404), ``dmca`` (451) or ``disabled`` (403) for a detail request of this id."""
        position = self.position(repo_id)
        if position is None or position >= self.visible_end(include_huge) or repo_id in self.deleted:
            return NOT_FOUND
        if repo_id in self.blocked:
            return self.blocked[repo_id]
        if self.is_vanished_base(repo_id):
            return DMCA if (self._vanish_hash(repo_id) >> 32) % _DMCA_ONE_IN == 0 else NOT_FOUND
        return OK

    # ----------------------------------------------------------------- hostile ids
    def _hostile_index(self, position: int) -> int | None:
        if position >= self._listed_count:
            return None
        shifted = position - self._hostile_offset
        if shifted < 0 or shifted % self._hostile_stride:
            return None
        index = shifted // self._hostile_stride
        return index if index < self._hostile_count else None

    def hostile_kind(self, repo_id: int) -> str | None:
        """The damage this id carries in hostile mode, or None."""
        if repo_id == self.huge_id:
            return hostile.HUGE_ID
        position = self.position(repo_id)
        if position is None:
            return None
        index = self._hostile_index(position)
        return None if index is None else hostile.SPREAD_KINDS[index % len(hostile.SPREAD_KINDS)]

    def hostile_ids(self) -> list[int]:
        """Every id that carries damage in hostile mode, ascending (the huge id last)."""
        positions = range(self._hostile_offset, self._listed_count, self._hostile_stride)
        return [self.ids[position] for position in positions[: self._hostile_count]] + [self.huge_id]

    # ----------------------------------------------------------------- owners and names
    def base_owner(self, repo_id: int) -> Owner:
        """The owner a repository had before any transfer."""
        owner = self._named_owner_of.get(repo_id)
        if owner is not None:
            return owner
        return generated_owner(self.deriver, self.deriver.pool_owner_number(repo_id, self.pool_size))

    def owner_by_login(self, login: str) -> Owner | None:
        """A named, generated or transfer-target owner by login (case-insensitive)."""
        owner = self.named_owners.get(login.lower())
        if owner is not None:
            return owner
        number = generated_owner_number(self.deriver, login, self.pool_size)
        if number is not None:
            return generated_owner(self.deriver, number)
        with self._lock:
            for owner_login, _ in self._renamed.values():
                if owner_login.lower() == login.lower():
                    return transfer_owner(owner_login)
        return None

    def owner_by_id(self, owner_id: int) -> Owner | None:
        """An owner by numeric id (how GitHub's ``Link`` headers address owner listings)."""
        for owner in self.named_owners.values():
            if owner.id == owner_id:
                return owner
        number, remainder = divmod(owner_id - GENERATED_OWNER_ID_BASE, GENERATED_OWNER_ID_STEP)
        if remainder == 0 and 0 <= number < self.pool_size:
            return generated_owner(self.deriver, number)
        with self._lock:
            logins = {owner_login for owner_login, _ in self._renamed.values()}
        for login in logins:
            owner = self.owner_by_login(login)
            if owner is not None and owner.id == owner_id:
                return owner
        return None

    def owner_of(self, repo_id: int) -> Owner:
        """The current owner (after transfers)."""
        renamed = self._renamed.get(repo_id)
        if renamed is None:
            return self.base_owner(repo_id)
        return self.owner_by_login(renamed[0]) or transfer_owner(renamed[0])

    def name_of(self, repo_id: int) -> str:
        """The current repository name (after renames)."""
        renamed = self._renamed.get(repo_id)
        return self.deriver.name(repo_id) if renamed is None else renamed[1]

    def full_name_of(self, repo_id: int) -> str:
        """The current ``owner/name``."""
        return f"{self.owner_of(repo_id).login}/{self.name_of(repo_id)}"

    def resolve_full_name(self, owner_login: str, name: str) -> tuple[int | None, bool]:
        """Find a repository by ``owner/name``: ``(id, moved)``; moved means it is a former name."""
        key = f"{owner_login}/{name}".lower()
        with self._lock:
            if key in self._current_names:
                return self._current_names[key], False
            if key in self._old_names:
                return self._old_names[key], True
        _, _, suffix = name.rpartition("-")
        try:
            repo_id = int(suffix, 36)
        except ValueError:
            return None, False
        if self.position(repo_id) is None or repo_id in self._renamed:
            return None, False
        if f"{self.base_owner(repo_id).login}/{self.deriver.name(repo_id)}".lower() != key:
            return None, False
        return repo_id, False

    def owner_repo_ids(self, owner: Owner, include_huge: bool) -> list[int]:
        """Ids an owner currently holds and GitHub would show (transfers applied), ascending."""
        login = owner.login.lower()
        if login in self._named_ids:
            base = self._named_ids[login]
        else:
            number = generated_owner_number(self.deriver, owner.login, self.pool_size)
            base = [] if number is None else self._generated_owner_ids().get(number, [])
        with self._lock:
            renamed = dict(self._renamed)
        held = [repo_id for repo_id in base if repo_id not in renamed or renamed[repo_id][0].lower() == login]
        held.extend(
            repo_id
            for repo_id, (owner_login, _) in renamed.items()
            if owner_login.lower() == login and repo_id not in base
        )
        # Private ones are left out: /users/{login}/repos lists public repositories, as /orgs/{org}/repos
        # does with type=public (what owners mode asks of an organization).
        return sorted(
            repo_id
            for repo_id in held
            if repo_id not in self.private and self.detail_status(repo_id, include_huge) == OK
        )

    def _generated_owner_ids(self) -> dict[int, list[int]]:
        """Generated owner number -> its ids; built on first use (one pass over every id)."""
        with self._lock:
            if self._generated_owner_index is None:
                index: dict[int, list[int]] = {}
                owner_number = self.deriver.pool_owner_number
                for repo_id in self.ids[: self._listed_count]:
                    if repo_id not in self._named_owner_of:
                        index.setdefault(owner_number(repo_id, self.pool_size), []).append(repo_id)
                self._generated_owner_index = index
            return self._generated_owner_index

    # ----------------------------------------------------------------- changes made by tests
    def set_repository(self, repo_id: int, overrides: dict[str, Any]) -> None:
        """Override fields of one repository's full object (counts keep their aliases in step)."""
        if self.position(repo_id) is None:
            raise KeyError(repo_id)
        forbidden = _IDENTITY_FIELDS.intersection(overrides) | (
            set(MINIMAL_FIELDS).intersection(overrides) - _LISTED_OVERRIDABLE
        )
        if forbidden:
            raise ValueError(f"{sorted(forbidden)} derive from the id or name; use rename_repository")
        expanded = dict(overrides)
        for field, aliases in _ALIASES.items():
            if field in overrides:
                for alias in aliases:
                    expanded.setdefault(alias, overrides[field])
        with self._lock:
            self.overrides.setdefault(repo_id, {}).update(expanded)
            self.version += 1

    def delete_repository(self, repo_id: int) -> None:
        """Delete a repository: gone from listings and search, 404 on detail."""
        if self.position(repo_id) is None:
            raise KeyError(repo_id)
        with self._lock:
            self.deleted.add(repo_id)
            self.version += 1

    def make_private(self, repo_id: int) -> None:
        """Make a repository private: gone from listings and ``is:public`` searches; its detail endpoints
        and GraphQL still serve it (``"private": true``, visibility private), as GitHub does to a token
        that can read it."""
        if self.position(repo_id) is None:
            raise KeyError(repo_id)
        with self._lock:
            self.private.add(repo_id)
            self.overrides.setdefault(repo_id, {}).update(private=True, visibility="private")
            self.version += 1

    def block_repository(self, repo_id: int, how: str) -> None:
        """Block a repository (``DMCA``: 451, ``DISABLED``: 403); still listed, as GitHub lists them."""
        if self.position(repo_id) is None:
            raise KeyError(repo_id)
        if how not in (DMCA, DISABLED):
            raise ValueError(f"expected {DMCA!r} or {DISABLED!r}, got {how!r}")
        with self._lock:
            self.blocked[repo_id] = how
            self.version += 1

    def hide_from_graphql(self, repo_id: int) -> None:
        with self._lock:
            self.graphql_hidden.add(repo_id)
            self.version += 1

    def protect_by_saml(self, repo_id: int) -> None:
        with self._lock:
            self.saml_protected.add(repo_id)
            self.version += 1

    def restore_repository(self, repo_id: int) -> None:
        """Serve a repository publicly again: restored after deletion, made public, or its block lifted."""
        if self.position(repo_id) is None:
            raise KeyError(repo_id)
        with self._lock:
            self.deleted.discard(repo_id)
            self.blocked.pop(repo_id, None)
            if repo_id in self.private:
                self.private.discard(repo_id)
                self.overrides.setdefault(repo_id, {}).update(private=False, visibility="public")
            self.version += 1

    def rename_repository(self, repo_id: int, new_full_name: str) -> None:
        """Rename (or transfer) a repository; its former name answers 301 to ``/repositories/{id}``."""
        new_owner, slash, new_name = new_full_name.partition("/")
        if not slash or not new_owner or not new_name or "/" in new_name:
            raise ValueError(f"expected owner/name, got {new_full_name!r}")
        if self.position(repo_id) is None:
            raise KeyError(repo_id)
        with self._lock:
            old_key = self.full_name_of(repo_id).lower()
            new_key = new_full_name.lower()
            self._current_names.pop(old_key, None)
            self._old_names[old_key] = repo_id
            self._old_names.pop(new_key, None)
            self._current_names[new_key] = repo_id
            self._renamed[repo_id] = (new_owner, new_name)
            self.version += 1

    def append_repositories(self, count: int) -> list[int]:
        """Create ``count`` repositories now: ids above every other, listed, served and enumerable by owner.

        Their ids lie above ``max_id``, so they are created at the fake's "now" (the last creation date).
        The search index keeps the ids it was built with: searches do not find them.
        """
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        with self._lock:
            last = self.ids[self._listed_count - 1] if self._listed_count else 0
            first = max(last, self.max_id) + 1
            if first + count > self.huge_id:
                raise ValueError("no room for more ids below the hostile huge id")
            added = array("q", range(first, first + count))
            self.ids[self._listed_count : self._listed_count] = added
            self._listed_count += count
            self._generated_owner_index = None
            self.version += 1
        return list(added)

    # ----------------------------------------------------------------- facts and objects
    def changed_ids(self) -> set[int]:
        """Ids a test overrode, renamed or deleted."""
        with self._lock:
            return set(self.overrides) | set(self._renamed) | self.deleted | set(self.blocked)

    def is_changed(self, repo_id: int) -> bool:
        """Whether a test changed this repository (its objects are then built uncached)."""
        return repo_id in self.overrides or repo_id in self._renamed

    def _build_base(self, repo_id: int) -> RepoRecord:
        """Both objects of a repository as derived, before test changes."""
        return self._build(repo_id, self.base_owner(repo_id), self.deriver.name(repo_id), None)

    def _build(self, repo_id: int, owner: Owner, name: str, overrides: dict[str, Any] | None) -> RepoRecord:
        deriver = self.deriver
        facts = deriver.facts(repo_id)
        description = deriver.description(repo_id)
        if overrides and "description" in overrides:
            description = overrides["description"]
        if overrides and "fork" in overrides:
            facts = facts._replace(fork=overrides["fork"])
        owner_obj, owner_text = _cached_owner(owner, self.api_root)
        minimal = minimal_object(
            repo_id=repo_id,
            name=name,
            owner=owner_obj,
            description=description,
            fork=facts.fork,
            api_root=self.api_root,
        )
        full = full_object(
            minimal=minimal,
            facts=facts,
            language=None if facts.language_code < 0 else LANGUAGES[facts.language_code],
            homepage=deriver.homepage(repo_id, owner.login, name),
            default_branch=deriver.default_branch(repo_id, facts.created),
            flags=deriver.flags(repo_id),
            owner_type=owner.type,
            api_root=self.api_root,
        )
        if overrides:
            full.update(overrides)
        minimal_text = minimal_json(
            repo_id=repo_id,
            name=name,
            owner_login=owner.login,
            owner_json=owner_text,
            description=description,
            fork=facts.fork,
            api_root=self.api_root,
        )
        return RepoRecord(minimal, full, minimal_text, full_json(full, minimal_text))

    def _build_listing_json(self, repo_id: int) -> str:
        owner = self.base_owner(repo_id)
        return minimal_json(
            repo_id=repo_id,
            name=self.deriver.name(repo_id),
            owner_login=owner.login,
            owner_json=_cached_owner(owner, self.api_root)[1],
            description=self.deriver.description(repo_id),
            fork=self.deriver.is_fork(repo_id),
            api_root=self.api_root,
        )

    def listing_json(self, repo_id: int) -> str:
        """JSON text of the listing object as it is now."""
        if self.is_changed(repo_id):
            return self.record(repo_id).minimal_json
        return self._listing_cache(repo_id)

    def record(self, repo_id: int) -> RepoRecord:
        """Objects and JSON of a repository as it is now (cached unless a test changed it)."""
        if not self.is_changed(repo_id):
            return self._base_cache(repo_id)
        with self._lock:
            overrides = dict(self.overrides.get(repo_id, {}))
        return self._build(repo_id, self.owner_of(repo_id), self.name_of(repo_id), overrides)

    def full(self, repo_id: int) -> dict[str, Any]:
        """The full REST object (shared; never mutate it)."""
        return self.record(repo_id).full

    def full_copy(self, repo_id: int) -> dict[str, Any]:
        """A private deep copy of the full REST object, safe to mutate."""
        return copy.deepcopy(self.full(repo_id))

    def set_api_root(self, api_root: str) -> None:
        """Point every object's API URLs at the running server."""
        self.api_root = api_root
        self._base_cache.cache_clear()
        self._listing_cache.cache_clear()
        _cached_owner.cache_clear()


@functools.lru_cache(maxsize=4096)
def _cached_owner(owner: Owner, api_root: str) -> tuple[dict[str, Any], str]:
    obj = owner_object(owner, api_root)
    return obj, to_json(obj)


def _stratified_ids(count: int, max_id: int, seed: int) -> array:
    """``count`` sorted distinct ids in ``(0, max_id]``: one random id per equal-width stratum.

    Sorted by construction (no million-element sort) and sparse like GitHub's ids.
    """
    width = max_id / count if count else 0.0
    span = max(1, int(width))
    uniform = random.Random(seed).random
    return array("q", (int(index * width) + 1 + int(uniform() * span) for index in range(count)))
