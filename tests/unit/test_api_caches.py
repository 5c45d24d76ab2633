"""The API's page cache in isolation: list pages kept per generation."""

from __future__ import annotations

from github_etl.api.page_cache import PageCache


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
