"""The fake's REST routes and the GraphQL endpoint: from a request to a :class:`Reply`.

Budgets, faults and authentication are decided before a route runs (:mod:`tests.fake_github.server`);
a route only reads the world and shapes the answer.
"""

from __future__ import annotations

import calendar
import json
import math
import time
from collections.abc import Callable
from email.utils import formatdate
from urllib.parse import unquote

from tests.fake_github import hostile
from tests.fake_github.faults import Faults
from tests.fake_github.graphql import GraphQLExecutor
from tests.fake_github.objects import encode_body, owner_object, to_json
from tests.fake_github.owners import Owner
from tests.fake_github.ratelimit import GRAPHQL, RateLimiter
from tests.fake_github.replies import (
    DOCS_GET_REPOSITORY,
    DOCS_GRAPHQL_AUTH,
    DOCS_ORG_REPOS,
    DOCS_REDIRECTS,
    DOCS_SEARCH,
    DOCS_USER,
    DOCS_USER_REPOS,
    Reply,
    error_reply,
    int_param,
    json_reply,
    link_header,
)
from tests.fake_github.search import RESULT_CAP, SearchIndex, sort_order
from tests.fake_github.search_query import SearchSyntaxError, parse_query
from tests.fake_github.universe import DISABLED, DMCA, NOT_FOUND, Universe

LISTING_PAGE_SIZE = 100  # /repositories always returns up to 100 and ignores per_page
DEFAULT_PER_PAGE = 30  # GitHub's default page size for owner listings and search
MAX_PER_PAGE = 100  # GitHub caps per_page at 100
# GitHub's answer for a repository it disabled: 403 with the same message, a terms-of-service block.
_TOS_BLOCK = {"reason": "tos", "created_at": "2022-06-14T09:12:40Z", "html_url": None}
_DMCA_BLOCK = {
    "reason": "dmca",
    "created_at": "2021-03-02T18:51:58Z",
    "html_url": "https://github.com/github/dmca/blob/master/2021/03/2021-03-02-example.md",
}


class Routes:
    """Answer API paths from one universe.

    :param universe: the world.
    :param search_index: answers repository searches.
    :param graphql: answers ``POST /graphql``.
    :param faults: read for hostile mode only.
    :param limiter: read for GraphQL's ``rateLimit`` field.
    """

    def __init__(
        self,
        universe: Universe,
        search_index: SearchIndex,
        graphql: GraphQLExecutor,
        faults: Faults,
        limiter: RateLimiter,
    ) -> None:
        self.universe = universe
        self.search_index = search_index
        self.graphql = graphql
        self.faults = faults
        self.limiter = limiter
        self.base_url = ""  # set when the server starts
        # Called with a page's path and parameters once a search or an owner's listing answered it: a test
        # changes the universe there, as GitHub's data change between two pages of one listing.
        self.after_page: Callable[[str, dict[str, str]], None] | None = None

    def route(self, method: str, path: str, query: dict[str, str], body: bytes, identity: str) -> Reply:
        """Answer one request that passed authentication, faults and budget checks."""
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if method == "POST" and path == "/graphql":
            return self._graphql(body, identity)
        if method != "GET":
            return error_reply(404, "Not Found")
        if parts == ["repositories"]:
            return self._listing(query)
        if len(parts) == 2 and parts[0] == "repositories":
            return self._detail_by_id(parts[1])
        if len(parts) == 3 and parts[0] == "repos":
            return self._detail_by_name(parts[1], parts[2])
        if len(parts) == 2 and parts[0] == "users":
            return self._user(parts[1])
        if len(parts) == 3 and parts[2] == "repos" and parts[0] in ("users", "orgs", "user", "organizations"):
            return self._owner_listing(parts[0], parts[1], query)
        if parts == ["search", "repositories"]:
            return self._search(query)
        return error_reply(404, "Not Found")

    def _listing(self, query: dict[str, str]) -> Reply:
        try:
            since = max(0, int(query.get("since", 0)))
        except ValueError:
            since = 0
        page = self.universe.listing_page(since, LISTING_PAGE_SIZE, self.faults.hostile)
        body = "[" + ",".join(map(self.universe.listing_json, page)) + "]"
        links = [f'<{self.base_url}/repositories{{?since}}>; rel="first"']
        if page:
            links.insert(0, f'<{self.base_url}/repositories?since={page[-1]}>; rel="next"')
        return Reply(200, encode_body(body), {"Link": ", ".join(links)})

    def _detail_by_id(self, raw_id: str) -> Reply:
        try:
            repo_id = int(raw_id)
        except ValueError:
            return error_reply(404, "Not Found", DOCS_GET_REPOSITORY)
        return self._detail(repo_id)

    def _detail_by_name(self, owner_login: str, name: str) -> Reply:
        repo_id, moved = self.universe.resolve_full_name(owner_login, name)
        if repo_id is None:
            return error_reply(404, "Not Found", DOCS_GET_REPOSITORY)
        if moved:
            location = f"{self.base_url}/repositories/{repo_id}"
            reply = json_reply(
                301,
                {
                    "message": "Moved Permanently",
                    "url": location,
                    "documentation_url": DOCS_REDIRECTS,
                },
            )
            reply.headers["Location"] = location
            return reply
        return self._detail(repo_id)

    def _detail(self, repo_id: int) -> Reply:
        status = self.universe.detail_status(repo_id, self.faults.hostile)
        if status == NOT_FOUND:
            return error_reply(404, "Not Found", DOCS_GET_REPOSITORY)
        if status == DMCA:
            return json_reply(451, {"message": "Repository access blocked", "block": _DMCA_BLOCK})
        if status == DISABLED:
            return json_reply(403, {"message": "Repository access blocked", "block": _TOS_BLOCK})
        record = self.universe.record(repo_id)
        reply = Reply(200, encode_body(self._repository_json(repo_id)), {})
        updated_at = record.full.get("updated_at")
        if isinstance(updated_at, str):
            reply.headers["Last-Modified"] = formatdate(_epoch(updated_at), usegmt=True)
        return reply

    def _repository_json(self, repo_id: int, extra: str = "") -> str:
        """JSON of a full object, damaged in hostile mode; ``extra`` is appended as more fields."""
        kind = self.universe.hostile_kind(repo_id) if self.faults.hostile else None
        if kind is None or kind == hostile.HUGE_ID:
            text = self.universe.record(repo_id).full_json
        else:
            text = to_json(hostile.damage_rest(kind, self.universe.full(repo_id)))
        return f"{text[:-1]},{extra}}}" if extra else text

    def _page_of_objects(self, ids: list[int], extra: str = "") -> str:
        items = [self._repository_json(repo_id, extra) for repo_id in ids]
        if self.faults.hostile and items:
            items.append(items[0])  # hostile mode repeats each page's first item
        return "[" + ",".join(items) + "]"

    def _owner_listing(self, kind: str, key: str, query: dict[str, str]) -> Reply:
        owner = self._owner_for_route(kind, key)
        is_org_route = kind in ("orgs", "organizations")
        if owner is None or (is_org_route and owner.type != "Organization"):
            return error_reply(404, "Not Found", DOCS_ORG_REPOS if is_org_route else DOCS_USER_REPOS)
        per_page = int_param(query, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
        page = int_param(query, "page", 1, 1, 10**9)
        ids = self._sorted_owner_ids(owner, query, is_org_route)
        chunk = ids[(page - 1) * per_page : page * per_page]
        last_page = max(1, math.ceil(len(ids) / per_page))
        route = f"{self.base_url}/{'organizations' if owner.type == 'Organization' else 'user'}/{owner.id}/repos"
        reply = Reply(200, encode_body(self._page_of_objects(chunk)), {})
        link = link_header(route, query, page, last_page)
        if link:
            reply.headers["Link"] = link
        if self.after_page is not None:
            self.after_page(f"/{kind}/{key}/repos", query)
        return reply

    def _user(self, login: str) -> Reply:
        """``GET /users/{login}``: a user or an organization (``type`` says which), by login in any case."""
        owner = self.universe.owner_by_login(login)
        if owner is None:
            return error_reply(404, "Not Found", DOCS_USER)
        user = owner_object(owner, self.universe.api_root)
        user["public_repos"] = len(self.universe.owner_repo_ids(owner, self.faults.hostile))
        return json_reply(200, user)

    def _owner_for_route(self, kind: str, key: str) -> Owner | None:
        if kind in ("users", "orgs"):
            return self.universe.owner_by_login(key)
        try:
            owner_id = int(key)
        except ValueError:
            return None
        return self.universe.owner_by_id(owner_id)

    def _sorted_owner_ids(self, owner: Owner, query: dict[str, str], is_org_route: bool) -> list[int]:
        """An owner's ids in GitHub's order: users by full_name, organizations by creation (``sort=``)."""
        include_huge = self.faults.hostile
        ids = self.universe.owner_repo_ids(owner, include_huge)
        listing_type = query.get("type", "all")
        if listing_type == "forks":
            ids = [repo_id for repo_id in ids if self.universe.full(repo_id)["fork"]]
        elif listing_type == "sources":
            ids = [repo_id for repo_id in ids if not self.universe.full(repo_id)["fork"]]
        sort = query.get("sort", "created" if is_org_route else "full_name")
        direction = query.get("direction", "asc" if sort == "full_name" else "desc")
        if sort == "full_name":
            key = lambda repo_id: self.universe.full_name_of(repo_id).lower()  # noqa: E731
        elif sort in ("updated", "pushed"):
            key = lambda repo_id: self.universe.full(repo_id)[f"{sort}_at"] or ""  # noqa: E731
        else:
            key = lambda repo_id: repo_id  # noqa: E731 - created_at grows with the id
        return sorted(ids, key=key, reverse=direction == "desc")

    def _search(self, query: dict[str, str]) -> Reply:
        per_page = int_param(query, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
        page = int_param(query, "page", 1, 1, 10**9)
        try:
            parsed = parse_query(query.get("q", ""))
        except SearchSyntaxError as error:
            return json_reply(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "Search", "field": "q", "code": error.code, "message": str(error)}],
                    "documentation_url": DOCS_SEARCH,
                    "status": "422",
                },
            )
        if (page - 1) * per_page >= RESULT_CAP:
            return error_reply(422, "Only the first 1000 search results are available", DOCS_SEARCH)
        sort, order = sort_order(query.get("sort") or parsed.sort, query.get("order") or parsed.order)
        try:
            result = self.search_index.search(parsed, sort=sort, order=order, include_huge=self.faults.hostile)
        except SearchSyntaxError as error:
            return json_reply(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [{"message": str(error), "resource": "Search", "field": "q", "code": "invalid"}],
                    "documentation_url": DOCS_SEARCH,
                    "status": "422",
                },
            )
        chunk = result.ids[(page - 1) * per_page : min(page * per_page, RESULT_CAP)]
        total, incomplete = result.total, self.faults.take_incomplete_search()
        if incomplete:
            # Timed out half way: GitHub counts and returns what it found by then.
            total, chunk = total // 2, chunk[: len(chunk) // 2]
        items = self._page_of_objects(chunk, extra='"score":1.0')
        body = f'{{"total_count":{total},"incomplete_results":{"true" if incomplete else "false"},"items":{items}}}'
        reply = Reply(200, encode_body(body), {})
        last_page = max(1, math.ceil(min(result.total, RESULT_CAP) / per_page))
        link = link_header(f"{self.base_url}/search/repositories", query, page, last_page)
        if link:
            reply.headers["Link"] = link
        if self.after_page is not None:
            self.after_page("/search/repositories", query)
        return reply

    def _graphql(self, body: bytes, identity: str) -> Reply:
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return json_reply(400, {"message": "Problems parsing JSON", "documentation_url": DOCS_GRAPHQL_AUTH})
        result = self.graphql.execute(
            payload,
            hostile_mode=self.faults.hostile,
            budget=lambda: self.limiter.peek(identity, GRAPHQL, True),
        )
        return json_reply(result.status, result.body())


def _epoch(iso_text: str) -> float:
    return calendar.timegm(time.strptime(iso_text, "%Y-%m-%dT%H:%M:%SZ"))
