"""Replies in GitHub's shapes: JSON bodies, error objects, documentation links and ``Link`` headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from tests.fake_github.objects import encode_body, to_json

DOCS = "https://docs.github.com/rest"
DOCS_GET_REPOSITORY = "https://docs.github.com/rest/repos/repos#get-a-repository"
DOCS_RATE_LIMIT = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
DOCS_SECONDARY = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
DOCS_SEARCH = "https://docs.github.com/v3/search/"
DOCS_USER = "https://docs.github.com/rest/users/users#get-a-user"
DOCS_USER_REPOS = "https://docs.github.com/rest/repos/repos#list-repositories-for-a-user"
DOCS_ORG_REPOS = "https://docs.github.com/rest/repos/repos#list-organization-repositories"
DOCS_GRAPHQL_AUTH = "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql"
DOCS_REDIRECTS = "https://docs.github.com/v3/#http-redirects"


@dataclass
class Reply:
    """One HTTP answer, plus what the request log needs to know about it."""

    status: int
    body: bytes | None
    headers: dict[str, str]
    resource: str | None = None
    fault: str | None = None
    counted: bool = False


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    """A reply whose body is ``payload`` as compact JSON."""
    return Reply(status, encode_body(to_json(payload)), dict(headers or {}))


def error_reply(status: int, message: str, documentation_url: str = DOCS, **extra: Any) -> Reply:
    """GitHub's error object: ``message``, extra fields, ``documentation_url`` and ``status`` as text."""
    return json_reply(
        status, {"message": message, **extra, "documentation_url": documentation_url, "status": str(status)}
    )


def int_param(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    """A positive integer query parameter, clamped the way GitHub clamps it."""
    try:
        value = int(query.get(name, default))
    except ValueError:
        return default
    return min(high, max(low, value))


def link_header(route: str, query: dict[str, str], page: int, last_page: int) -> str:
    """GitHub's ``Link`` header for page-numbered listings: prev, next, last, first as they apply."""

    def url(number: int) -> str:
        params = {name: value for name, value in query.items() if name != "page"}
        params["page"] = str(number)
        return f"{route}?{urlencode(params, quote_via=quote)}"

    links = []
    if page > 1:
        links.append(f'<{url(min(page - 1, last_page))}>; rel="prev"')
    if page < last_page:
        links.append(f'<{url(page + 1)}>; rel="next"')
        links.append(f'<{url(last_page)}>; rel="last"')
    if page > 1:
        links.append(f'<{url(1)}>; rel="first"')
    return ", ".join(links)
