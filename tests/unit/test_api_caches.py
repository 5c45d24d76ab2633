"""The API's two caches in isolation: bearer tokens Airflow accepted, and list pages per generation."""

from __future__ import annotations

import jwt
import pytest

from github_etl.api.page_cache import PageCache
from github_etl.api.security import AcceptedTokens


class _Clocks:
    """A monotonic clock and a wall clock that tests move by hand."""

    def __init__(self) -> None:
        self.monotonic = 1_000.0
        self.wall = 1_800_000_000.0

    def advance(self, seconds: float) -> None:
        self.monotonic += seconds
        self.wall += seconds


def _token(expires: float | None, subject: str = "analyst") -> str:
    claims: dict[str, object] = {"sub": subject}
    if expires is not None:
        claims["exp"] = int(expires)
    return jwt.encode(claims, "a-secret-of-at-least-thirty-two-bytes!", algorithm="HS256")


@pytest.fixture
def clocks() -> _Clocks:
    return _Clocks()


def _accepted(clocks: _Clocks, ttl: float = 2.0, **kwargs) -> AcceptedTokens:
    return AcceptedTokens(ttl, clock=lambda: clocks.monotonic, wall_clock=lambda: clocks.wall, **kwargs)


def test_an_accepted_token_is_reused_until_the_ttl_lapses(clocks):
    accepted = _accepted(clocks, ttl=2.0)
    token = _token(clocks.wall + 3600)
    accepted.put(token, "user")

    clocks.advance(1.9)
    assert accepted.get(token) == "user"
    clocks.advance(0.1)
    assert accepted.get(token) is None


def test_a_token_is_never_reused_past_its_expiry(clocks):
    accepted = _accepted(clocks, ttl=60.0)
    token = _token(clocks.wall + 1)
    accepted.put(token, "user")

    assert accepted.get(token) == "user"
    clocks.advance(1)
    assert accepted.get(token) is None


def test_a_token_without_expiry_is_never_remembered(clocks):
    accepted = _accepted(clocks)
    token = _token(None)
    accepted.put(token, "user")

    assert accepted.get(token) is None


def test_ttl_zero_remembers_nothing(clocks):
    accepted = _accepted(clocks, ttl=0)
    token = _token(clocks.wall + 3600)
    accepted.put(token, "user")

    assert accepted.get(token) is None


def test_tokens_are_told_apart_and_the_oldest_is_forgotten_first(clocks):
    accepted = _accepted(clocks, max_entries=2)
    first, second, third = (_token(clocks.wall + 3600, subject) for subject in ("a", "b", "c"))
    accepted.put(first, "a")
    accepted.put(second, "b")
    accepted.put(third, "c")

    assert (accepted.get(first), accepted.get(second), accepted.get(third)) == (None, "b", "c")
    # A token differing in its signature only is another token.
    assert accepted.get(second[:-2] + ("AA" if not second.endswith("AA") else "BB")) is None


def test_tokens_are_kept_as_digests_not_as_themselves(clocks):
    accepted = _accepted(clocks)
    token = _token(clocks.wall + 3600)
    accepted.put(token, "user")

    assert token not in repr(accepted._entries)
    assert all(len(key) == 32 for key in accepted._entries)


def test_pages_are_served_for_their_generation_only():
    pages = PageCache(max_bytes=1_000)
    pages.put(7, "python", b"page of 7")

    assert pages.get(7, "python") == b"page of 7"
    assert pages.get(7, "go") is None
    assert pages.get(8, "python") is None
    # The generation moved on: the pages of 7 are gone, even for a straggler still holding 7.
    assert pages.get(7, "python") is None
    assert len(pages) == 0


def test_a_page_read_before_a_newer_generation_was_kept_is_not_kept():
    pages = PageCache(max_bytes=1_000)
    pages.put(8, "python", b"page of 8")
    pages.put(7, "go", b"page of 7")

    assert pages.get(8, "go") is None
    assert pages.get(8, "python") == b"page of 8"


def test_the_least_recently_used_page_goes_first_when_the_bytes_run_out():
    pages = PageCache(max_bytes=10)
    pages.put(1, "a", b"aaaa")
    pages.put(1, "b", b"bbbb")
    assert pages.get(1, "a") == b"aaaa"  # now "b" is the least recently used
    pages.put(1, "c", b"cccc")

    assert (pages.get(1, "a"), pages.get(1, "b"), pages.get(1, "c")) == (b"aaaa", None, b"cccc")


def test_a_page_larger_than_the_cache_and_a_disabled_cache_keep_nothing():
    pages = PageCache(max_bytes=3)
    pages.put(1, "a", b"four")
    disabled = PageCache(max_bytes=0)
    disabled.put(1, "a", b"x")

    assert pages.get(1, "a") is None
    assert not disabled.enabled
    assert disabled.get(1, "a") is None


def test_replacing_a_page_counts_its_bytes_once():
    pages = PageCache(max_bytes=8)
    pages.put(1, "a", b"aaaa")
    pages.put(1, "a", b"AAAA")
    pages.put(1, "b", b"bbbb")

    assert (pages.get(1, "a"), pages.get(1, "b")) == (b"AAAA", b"bbbb")


def test_a_token_that_is_not_a_jwt_is_never_remembered(clocks):
    accepted = _accepted(clocks)
    accepted.put("opaque-token-of-another-auth-manager", "user")

    assert accepted.get("opaque-token-of-another-auth-manager") is None
