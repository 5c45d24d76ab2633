"""Every page of a GitHub listing, by following its ``Link: rel="next"`` header: how tests read what the fake lists."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from github_etl.github.client import GitHubClient, next_link
from github_etl.github.responses import GitHubResponse


def listing_pages(client: GitHubClient, path: str, params: Mapping[str, Any] | None = None) -> Iterator[GitHubResponse]:
    response = client.get(path, params)
    yield response
    while next_url := next_link(response.headers.get("link")):
        response = client.get(next_url)
        yield response
