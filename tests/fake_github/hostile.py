"""Hostile repository data: what a careless client chokes on, and what a correct one does with it.

When ``faults.hostile`` is on, each id in :meth:`FakeGitHub.hostile_ids` is served with one kind of
damage in its REST detail, search and GraphQL objects (the ``/repositories`` listing stays clean):

================== ======================================================= ==========
kind               damage                                                   verdict
================== ======================================================= ==========
nul_bytes          NUL bytes inside ``description``                         load
lone_surrogate     lone UTF-16 surrogates (JSON ``\\ud800``) in description  load
huge_description   a 300 KB description                                     load
unknown_nested     unknown nested fields in the object, owner and license   load
huge_id            a real repository whose id is beyond 2**32               load
wrong_type         ``stargazers_count`` is the string ``"many"``            quarantine
owner_null         ``owner`` is null                                        quarantine
missing_full_name  no ``full_name`` key                                     quarantine
================== ======================================================= ==========

"load" means the row reaches the warehouse after :func:`sanitise_text` (NUL removed, lone
surrogates replaced by U+FFFD); "quarantine" means the client must set the object aside, never
load it and never crash. In addition, every search and owner-listing page repeats its first item at
its end: a correct client loads that repository once.
"""

from __future__ import annotations

import re
from typing import Any

NUL_BYTES = "nul_bytes"
LONE_SURROGATE = "lone_surrogate"
HUGE_DESCRIPTION = "huge_description"
UNKNOWN_NESTED = "unknown_nested"
HUGE_ID = "huge_id"
WRONG_TYPE = "wrong_type"
OWNER_NULL = "owner_null"
MISSING_FULL_NAME = "missing_full_name"

# Kinds spread over the listed ids; HUGE_ID is a repository of its own, added in hostile mode.
SPREAD_KINDS: tuple[str, ...] = (
    NUL_BYTES,
    LONE_SURROGATE,
    HUGE_DESCRIPTION,
    UNKNOWN_NESTED,
    WRONG_TYPE,
    OWNER_NULL,
    MISSING_FULL_NAME,
)
QUARANTINE_KINDS: frozenset[str] = frozenset({WRONG_TYPE, OWNER_NULL, MISSING_FULL_NAME})
LOAD = "load"
QUARANTINE = "quarantine"
GONE = "gone"
ABSENT = "absent"

# Well past the 255-byte limits careless schemas use, and past typical "short text" assumptions.
HUGE_DESCRIPTION_CHARS = 300_000
_LONE_SURROGATES = re.compile("[\ud800-\udfff]")


def sanitise_text(text: str | None) -> str | None:
    """What a correct client stores for hostile text: NUL bytes dropped, lone surrogates -> U+FFFD."""
    if text is None:
        return None
    return _LONE_SURROGATES.sub("\ufffd", text.replace("\x00", ""))


def verdict_of(kind: str | None) -> str:
    """Whether a correct client loads or quarantines a repository served with this damage."""
    return QUARANTINE if kind in QUARANTINE_KINDS else LOAD


def _huge_text(seed_text: str) -> str:
    sentence = f"{seed_text or 'Hostile description'} — repeated to exhaust naive buffers. "
    return (sentence * (HUGE_DESCRIPTION_CHARS // len(sentence) + 1))[:HUGE_DESCRIPTION_CHARS]


def _unknown_fields() -> dict[str, Any]:
    return {"x_future_feature": {"enabled": True, "levels": [1, {"deep": None, "list": []}]}}


def damage_rest(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """A damaged copy of a REST repository object."""
    damaged = dict(obj)
    description = obj.get("description") or ""
    if kind == NUL_BYTES:
        damaged["description"] = f"nul\x00inside\x00{description}"
    elif kind == LONE_SURROGATE:
        damaged["description"] = f"broken \ud800 surrogate \udfff {description}"
    elif kind == HUGE_DESCRIPTION:
        damaged["description"] = _huge_text(description)
    elif kind == UNKNOWN_NESTED:
        damaged.update(_unknown_fields())
        damaged["owner"] = {**obj["owner"], "x_badges": [{"kind": "star", "meta": {"level": 3}}]}
        if obj.get("license"):
            damaged["license"] = {**obj["license"], "x_family": {"permissive": True}}
    elif kind == WRONG_TYPE:
        damaged["stargazers_count"] = "many"
    elif kind == OWNER_NULL:
        damaged["owner"] = None
    elif kind == MISSING_FULL_NAME:
        del damaged["full_name"]
    return damaged


def damage_graphql(kind: str, node: dict[str, Any]) -> dict[str, Any]:
    """A damaged copy of a GraphQL Repository node (the same damage as :func:`damage_rest`)."""
    damaged = dict(node)
    description = node.get("description") or ""
    if kind == NUL_BYTES:
        damaged["description"] = f"nul\x00inside\x00{description}"
    elif kind == LONE_SURROGATE:
        damaged["description"] = f"broken \ud800 surrogate \udfff {description}"
    elif kind == HUGE_DESCRIPTION:
        damaged["description"] = _huge_text(description)
    elif kind == UNKNOWN_NESTED:
        damaged.update(_unknown_fields())
        damaged["owner"] = {**node["owner"], "x_badges": [{"kind": "star"}]}
    elif kind == WRONG_TYPE:
        damaged["stargazerCount"] = "many"
    elif kind == OWNER_NULL:
        damaged["owner"] = None
    elif kind == MISSING_FULL_NAME:
        del damaged["nameWithOwner"]
    return damaged
