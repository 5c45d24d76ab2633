"""A small GraphQL executor: ``nodes(ids:)``, ``search(type: REPOSITORY)`` and ``rateLimit``.

It reads the query text with regular expressions, not a GraphQL parser: it finds those three root
fields (aliases allowed), takes arguments from literals or ``variables``, and returns every
Repository field listed in the package docstring whatever the selection set asks for.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fake_github import hostile
from tests.fake_github.objects import graphql_repository, iso
from tests.fake_github.ratelimit import Budget
from tests.fake_github.search import RESULT_CAP, SearchIndex, sort_order
from tests.fake_github.search_query import SearchSyntaxError, parse_query
from tests.fake_github.universe import OK, Universe

MAX_NODE_IDS = 100  # GitHub's ARGUMENT_LIMIT for nodes(ids:)
MAX_PAGE_SIZE = 100  # GitHub's limit for first/last on a connection
QUERY_COST = 1  # a nodes() query of up to 100 repositories costs about one point
_LEGACY_REPOSITORY = re.compile(r"^010:Repository(\d+)$")
_NODES = re.compile(r"(?:(?P<alias>\w+)\s*:\s*)?\bnodes\s*\(\s*ids\s*:\s*(?P<ids>\$\w+|\[[^\]]*\])\s*\)")
_SEARCH = re.compile(r"(?:(?P<alias>\w+)\s*:\s*)?\bsearch\s*\((?P<args>[^)]*)\)")
_ARGUMENT = re.compile(r'(\w+)\s*:\s*(\$\w+|"(?:[^"\\]|\\.)*"|-?\d+|\w+)')
_REPOSITORY_FRAGMENT = re.compile(r"\.\.\.\s*on\s+Repository\s*\{")
_SPREAD = re.compile(r"\.\.\.\s*(?:on\s+\w+)?")
_SELECTED_FIELD = re.compile(r"(?:\w+\s*:\s*)?(?P<name>\w+)")
_RATE_LIMIT = re.compile(r"(?:(?P<alias>\w+)\s*:\s*)?\brateLimit\b")


@dataclass
class GraphQLResult:
    """A GraphQL response body (always HTTP 200 unless the request itself is malformed)."""

    data: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    # A query the schema refuses (an unknown field) is never executed: its answer has errors and no data at all.
    executed: bool = True

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"data": self.data} if self.executed else {}
        if self.errors:
            body["errors"] = self.errors
        return body


class GraphQLError(Exception):
    """A request-level error: the whole response is ``{"data": null, "errors": [...]}``."""

    def __init__(self, error: dict[str, Any], status: int = 200) -> None:
        super().__init__(error.get("message"))
        self.error = error
        self.status = status


def decode_repository_node_id(node_id: Any) -> int | None:
    """The database id inside a legacy Repository node id, or None."""
    if not isinstance(node_id, str):
        return None
    try:
        decoded = base64.b64decode(node_id, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    match = _LEGACY_REPOSITORY.match(decoded)
    return int(match.group(1)) if match else None


class GraphQLExecutor:
    """Answer GraphQL requests from one universe.

    :param universe: the world to read.
    :param search_index: answers ``search(...)``.
    :param missing_fields: ``Repository`` fields the schema lacks (an older GitHub Enterprise Server).
    """

    def __init__(self, universe: Universe, search_index: SearchIndex, *, missing_fields: Sequence[str] = ()) -> None:
        self.universe = universe
        self.search_index = search_index
        self.missing_fields = tuple(missing_fields)

    def execute(self, payload: Any, *, hostile_mode: bool, budget: Callable[[], Budget]) -> GraphQLResult:
        """Run one request body; ``budget`` gives the graphql budget after this query's cost."""
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return GraphQLResult(
                errors=[{"message": "A query attribute must be specified and must be a string."}], status=400
            )
        query_text: str = payload["query"]
        variables = payload.get("variables") or {}
        if not isinstance(variables, dict):
            return GraphQLResult(errors=[{"message": "Variables are invalid JSON."}], status=400)
        undefined = self._undefined_fields(query_text) or self._unserved_fields(query_text)
        if undefined:
            return GraphQLResult(errors=undefined, executed=False)
        try:
            data = self._data(query_text, variables, hostile_mode, budget)
        except GraphQLError as error:
            return GraphQLResult(data=None, errors=[error.error], status=error.status)
        return GraphQLResult(data=data[0], errors=data[1])

    def _data(
        self, query_text: str, variables: dict[str, Any], hostile_mode: bool, budget: Callable[[], Budget]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        found = False
        for match in _NODES.finditer(query_text):
            found = True
            alias = match["alias"] or "nodes"
            ids = self._argument(match["ids"], variables, "ids")
            data[alias] = self._nodes(ids, alias, hostile_mode, errors, _location(query_text, match.start()))
        for match in _SEARCH.finditer(query_text):
            found = True
            alias = match["alias"] or "search"
            data[alias] = self._search(match["args"], variables, alias, hostile_mode)
        for match in _RATE_LIMIT.finditer(query_text):
            found = True
            state = budget()
            data[match["alias"] or "rateLimit"] = {
                "cost": QUERY_COST,
                "limit": state.limit,
                "remaining": state.remaining,
                "used": state.used,
                "resetAt": iso(state.reset),
                "nodeCount": sum(len(value) for value in data.values() if isinstance(value, list)),
            }
        if not found:
            raise GraphQLError(
                {
                    "type": "UNSUPPORTED",
                    "message": "This fake GitHub answers only nodes(ids:), search(type: REPOSITORY) and rateLimit.",
                }
            )
        return data, errors

    def _undefined_fields(self, query_text: str) -> list[dict[str, Any]]:
        """GitHub's validation errors for the missing ``Repository`` fields a query names, in its words."""
        errors = []
        for name in self.missing_fields:
            match = re.search(rf"\b{re.escape(name)}\b", query_text)
            if match is not None:
                errors.append(
                    {
                        "path": ["query", "nodes", "... on Repository", name],
                        "extensions": {"code": "undefinedField", "typeName": "Repository", "fieldName": name},
                        "locations": [_location(query_text, match.start())],
                        "message": f"Field '{name}' doesn't exist on type 'Repository'",
                    }
                )
        return errors

    def _unserved_fields(self, query_text: str) -> list[dict[str, Any]]:
        """Refusals of the ``Repository`` fields a query selects that this fake does not serve.

        GitHub answers every field a query selects, or refuses the query; a node silently without a
        field would load a column as if GitHub had sent null (a flag as false, a count as 0).
        """
        if not self.universe.ids:
            return []
        served = set(graphql_repository(self.universe.full(self.universe.ids[0])))
        return [
            {
                "path": ["query", "... on Repository", name],
                "extensions": {"code": "undefinedField", "typeName": "Repository", "fieldName": name},
                "locations": [_location(query_text, offset)],
                "message": f"This fake GitHub serves no Repository field '{name}': add it to "
                "tests.fake_github.objects.graphql_repository, equal to its REST field, and to the table of "
                "the package docstring",
            }
            for name, offset in _repository_selections(query_text)
            if name not in served
        ]

    @staticmethod
    def _argument(raw: str, variables: dict[str, Any], name: str) -> Any:
        """A literal or ``$variable`` argument value."""
        if raw.startswith("$"):
            variable = raw[1:]
            if variable not in variables:
                raise GraphQLError(
                    {
                        "extensions": {
                            "value": None,
                            "problems": [{"path": [], "explanation": "Expected value to not be null"}],
                        },
                        "locations": [{"line": 1, "column": 7}],
                        "message": f"Variable ${variable} of type for argument {name} was provided invalid value",
                    }
                )
            return variables[variable]
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw  # an enum value such as REPOSITORY

    def _nodes(
        self,
        ids: Any,
        alias: str,
        hostile_mode: bool,
        errors: list[dict[str, Any]],
        location: dict[str, int],
    ) -> list[dict[str, Any] | None]:
        if not isinstance(ids, list):
            raise GraphQLError(
                {"message": "Argument 'ids' on Field 'nodes' has an invalid value.", "locations": [location]}
            )
        if len(ids) > MAX_NODE_IDS:
            raise GraphQLError(
                {
                    "type": "ARGUMENT_LIMIT",
                    "path": [alias],
                    "locations": [location],
                    "message": f"You may not provide more than {MAX_NODE_IDS} node ids; you provided {len(ids)}.",
                }
            )
        nodes: list[dict[str, Any] | None] = []
        for index, node_id in enumerate(ids):
            repo_id = decode_repository_node_id(node_id)
            if (
                repo_id is None
                or self.universe.detail_status(repo_id, hostile_mode) != OK
                or repo_id in self.universe.graphql_hidden
            ):
                nodes.append(None)
                errors.append(
                    {
                        "type": "NOT_FOUND",
                        "path": [alias, index],
                        "locations": [location],
                        "message": f"Could not resolve to a node with the global id of '{node_id}'",
                    }
                )
                continue
            if repo_id in self.universe.saml_protected:
                nodes.append(None)
                errors.append(
                    {
                        "type": "FORBIDDEN",
                        "path": [alias, index],
                        "extensions": {"saml_failure": True},
                        "locations": [location],
                        "message": "Resource protected by organization SAML enforcement. You must grant your "
                        "Personal Access token access to this organization.",
                    }
                )
                continue
            nodes.append(self.repository_node(repo_id, hostile_mode))
        return nodes

    def repository_node(self, repo_id: int, hostile_mode: bool) -> dict[str, Any]:
        """The Repository node of an available id, damaged in hostile mode."""
        node = graphql_repository(self.universe.full(repo_id))
        kind = self.universe.hostile_kind(repo_id) if hostile_mode else None
        return node if kind is None else hostile.damage_graphql(kind, node)

    def _search(self, raw_args: str, variables: dict[str, Any], alias: str, hostile_mode: bool) -> dict[str, Any]:
        args = {name: self._argument(raw, variables, name) for name, raw in _ARGUMENT.findall(raw_args)}
        if str(args.get("type", "REPOSITORY")) != "REPOSITORY":
            raise GraphQLError(
                {"type": "UNSUPPORTED", "path": [alias], "message": "Only type: REPOSITORY is supported."}
            )
        first = args.get("first")
        if not isinstance(first, int) or first < 0:
            raise GraphQLError(
                {
                    "type": "MISSING_PAGINATION_BOUNDARIES",
                    "path": [alias],
                    "message": "You must provide a `first` or `last` value to properly paginate "
                    "the `search` connection.",
                }
            )
        if first > MAX_PAGE_SIZE:
            raise GraphQLError(
                {
                    "type": "EXCESSIVE_PAGINATION",
                    "path": [alias],
                    "message": f"Requesting {first} records on the `search` connection exceeds the `first` limit of "
                    f"{MAX_PAGE_SIZE} records.",
                }
            )
        offset = _cursor_offset(args.get("after"))
        try:
            query = parse_query(str(args.get("query", "")))
            sort, order = sort_order(query.sort, query.order)
            result = self.search_index.search(query, sort=sort, order=order, include_huge=hostile_mode)
        except SearchSyntaxError as error:
            raise GraphQLError({"type": "INVALID", "path": [alias], "message": str(error)}) from error
        reachable = min(result.total, RESULT_CAP)
        page = result.ids[offset : offset + first]
        nodes = [self.repository_node(repo_id, hostile_mode) for repo_id in page]
        cursors = [_cursor(offset + index + 1) for index in range(len(page))]
        return {
            "repositoryCount": result.total,
            "pageInfo": {
                "hasNextPage": offset + len(page) < reachable,
                "hasPreviousPage": offset > 0,
                "startCursor": cursors[0] if cursors else None,
                "endCursor": cursors[-1] if cursors else None,
            },
            "edges": [{"cursor": cursor, "node": node} for cursor, node in zip(cursors, nodes, strict=True)],
            "nodes": nodes,
        }


def _cursor(position: int) -> str:
    """GitHub's search cursor: base64 of ``cursor:<1-based position>``."""
    return base64.b64encode(f"cursor:{position}".encode()).decode()


def _cursor_offset(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        decoded = base64.b64decode(str(cursor), validate=True).decode()
        return max(0, int(decoded.removeprefix("cursor:")))
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise GraphQLError(
            {"type": "INVALID_CURSOR_ARGUMENTS", "message": f"`{cursor}` does not appear to be a valid cursor."}
        ) from error


def _repository_selections(query_text: str) -> list[tuple[str, int]]:
    """The fields (name, offset) each ``... on Repository { }`` of a query selects at its own level."""
    selected = []
    for fragment in _REPOSITORY_FRAGMENT.finditer(query_text):
        depth, position = 1, fragment.end()
        while depth and position < len(query_text):
            if depth == 1 and (spread := _SPREAD.match(query_text, position)):
                position = spread.end()
            elif depth == 1 and (field := _SELECTED_FIELD.match(query_text, position)):
                selected.append((field["name"], field.start("name")))
                position = field.end()
            else:
                char = query_text[position]
                depth += {"{": 1, "}": -1}.get(char, 0)
                if char == "(":
                    position = query_text.find(")", position)
                position += 1
    return selected


def _location(text: str, offset: int) -> dict[str, int]:
    line = text.count("\n", 0, offset) + 1
    return {"line": line, "column": offset - (text.rfind("\n", 0, offset) + 1) + 1}
