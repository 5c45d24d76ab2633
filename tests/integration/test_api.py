"""The repository API through Airflow's real API server app: plugin loading, Airflow login, the warehouse.

The app is built once per module the way ``airflow api-server`` builds it (``create_app``, plugins from the
project's plugins folder, SimpleAuthManager with a user and a passwords file); each test gets its own
warehouse database and a client whose lifespan opens a fresh connection pool on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg2
import pytest
from psycopg2 import sql
from psycopg2.extras import Json
from starlette.testclient import TestClient

from github_etl.api import queries
from github_etl.api.coalesce import AsyncCoalescer, Coalescer
from github_etl.api.config import ApiSettings
from github_etl.api.counting import RepositoryCounter
from github_etl.api.models import RepositoryPage, RepositorySort
from github_etl.api.paging import CursorPosition
from github_etl.api.pool import WarehousePool
from github_etl.hooks.warehouse import DatabaseConnection, apply_schema, ensure_snapshot_partition
from tests.fixtures.airflow import api_server_app

pytestmark = pytest.mark.integration

PREFIX = "/github-etl"
USERNAME = "analyst"
BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)
WAREHOUSE_PASSWORD = "Warehouse-Pa55word"
OPERATIONS = {
    ("/repositories/count", "get"): "count_repositories",
    ("/repositories", "get"): "list_repositories",
    ("/repositories/{owner}/{name}", "get"): "get_repository",
    ("/runs", "get"): "list_load_runs",
    ("/repositories/{owner}/{name}/history", "get"): "get_repository_history",
    ("/trending", "get"): "list_trending_repositories",
    ("/languages", "get"): "list_languages",
    ("/languages/shares", "get"): "list_language_shares",
}
DATA_URLS = [
    "/repositories/count",
    "/repositories",
    "/repositories/octo/hello",
    "/runs",
    "/repositories/octo/hello/history",
    "/trending",
    "/languages",
    "/languages/shares",
]


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def credentials() -> tuple[str, str]:
    """An Airflow user and a password made for this run."""
    return USERNAME, secrets.token_urlsafe(16)


@pytest.fixture(scope="module")
def airflow_app(
    airflow_db: None, credentials: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """Airflow's API server app, built as ``airflow api-server`` builds it, with authentication on."""
    username, password = credentials
    passwords_file = tmp_path_factory.mktemp("auth") / "simple_auth_manager_passwords.json"
    with api_server_app(passwords_file, {username: ("viewer", password)}) as app:
        yield app


@pytest.fixture(scope="module")
def token(airflow_app: Any, credentials: tuple[str, str]) -> str:
    """A JWT obtained the way a client obtains one: ``POST /auth/token``."""
    username, password = credentials
    response = TestClient(airflow_app).post("/auth/token", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


@contextlib.contextmanager
def _client(app: Any, token: str) -> Iterator[TestClient]:
    # Entering the client runs the lifespans, which open the API's connection pool.
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


@pytest.fixture
def client(
    airflow_app: Any, token: str, pg_url: str, warehouse: DatabaseConnection, monkeypatch
) -> Iterator[TestClient]:
    """An authenticated client of the API server, whose warehouse is this test's database."""
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", pg_url)
    with _client(airflow_app, token) as client:
        yield client


@pytest.fixture
def client_without_warehouse(airflow_app: Any, token: str, monkeypatch) -> Iterator[TestClient]:
    """An authenticated client with no warehouse defined: for answers that must come before any query."""
    monkeypatch.delenv("AIRFLOW_CONN_POSTGRES_DEFAULT", raising=False)
    with _client(airflow_app, token) as client:
        yield client


# -- builders -------------------------------------------------------------------------------------


def _repo(repo_id: int, **overrides: Any) -> dict[str, Any]:
    owner = overrides.pop("owner_login", f"owner{repo_id}")
    name = overrides.pop("name", f"repo{repo_id}")
    row = {
        "id": repo_id,
        "node_id": f"R_{repo_id}",
        "full_name": f"{owner}/{name}",
        "name": name,
        "owner_login": owner,
        "language": "Python",
        "topics": [],
        "stargazers_count": 0,
        "archived": False,
        "created_at": BASE_TIME + timedelta(days=repo_id),
        "pushed_at": BASE_TIME + timedelta(days=1000 - repo_id),
        "first_seen_at": BASE_TIME,
        "last_seen_at": BASE_TIME,
    }
    row.update(overrides)
    return row


def _snapshot(repo_id: int, snapshot_date: date, **overrides: Any) -> dict[str, Any]:
    row = {"repo_id": repo_id, "snapshot_date": snapshot_date, "stargazers_count": 0, "forks_count": 1}
    row["open_issues_count"] = 2
    return row | overrides


def _insert(db: DatabaseConnection, table: str, *rows: dict[str, Any]) -> None:
    if table == "repository_snapshots":  # a month's partition exists once a load has written to it
        for day in {row["snapshot_date"] for row in rows}:
            ensure_snapshot_partition(db, day)
    with db.cursor() as cur:
        for row in rows:
            cur.execute(
                sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    sql.Identifier("github", table),
                    sql.SQL(", ").join(map(sql.Identifier, row)),
                    sql.SQL(", ").join(sql.Placeholder() * len(row)),
                ),
                list(row.values()),
            )
    db.commit()


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def _expected_order(rows: list[dict[str, Any]], sort: str) -> list[int]:
    """Ids in the API's order, computed independently: key descending, id descending, missing keys last."""
    column = {"stars": "stargazers_count", "created": "created_at", "pushed": "pushed_at"}[sort]
    with_key = sorted((r for r in rows if r[column] is not None), key=lambda r: (r[column], r["id"]), reverse=True)
    without_key = sorted((r for r in rows if r[column] is None), key=lambda r: r["id"], reverse=True)
    return [r["id"] for r in with_key + without_key]


def _closed_port() -> socket.socket:
    """A socket bound to a port but not listening: connecting to it is refused, and no one else can take it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


# -- happy paths ----------------------------------------------------------------------------------


def test_count_counts_every_repository(client, warehouse):
    _insert(warehouse, "repositories", *(_repo(i) for i in range(1, 8)), _repo(8, deleted_at=BASE_TIME))

    response = client.get(f"{PREFIX}/repositories/count")

    assert response.status_code == 200
    assert response.json() == {"count": 8}


def test_list_returns_repositories_with_every_declared_field(client, warehouse):
    row = _repo(
        42,
        owner_login="Octo",
        name="hello",
        description="Hello, world",
        topics=["cli", "tools"],
        stargazers_count=7,
        license_spdx_id="MIT",
        pushed_at=None,
    )
    _insert(warehouse, "repositories", row)

    body = client.get(f"{PREFIX}/repositories").json()

    assert body["next_cursor"] is None
    [item] = body["items"]
    assert item["full_name"] == "Octo/hello"
    assert item["topics"] == ["cli", "tools"]
    assert item["stargazers_count"] == 7
    assert item["license_spdx_id"] == "MIT"
    assert item["pushed_at"] is None
    assert datetime.fromisoformat(item["created_at"]) == row["created_at"]
    assert item["deleted_at"] is None


def test_list_page_is_byte_for_byte_what_the_response_model_would_serialize(client, warehouse):
    """The list page is serialized without the model (app.py): the same bytes, hostile text and microseconds too."""
    hostile = 'quote " backslash \\ newline \n tab \t bell \x07 </script> \u2028 \U0001f600 ünïcode \x7f'
    rows = [
        _repo(
            1,
            description=hostile,
            homepage="https://example.com/?a=1&b=<2>",
            topics=["emoji-\U0001f600", "plain"],
            owner_id=2**53 + 1,
            fork=True,
            is_template=True,
            first_seen_at=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
            last_seen_at=datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            deleted_at=datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
            deleted_reason="not_found",
        ),
        _repo(2, pushed_at=None, language=None, description=""),
    ]
    _insert(warehouse, "repositories", *rows)

    response = client.get(f"{PREFIX}/repositories")

    with warehouse.cursor() as cur:
        cur.execute("SET TimeZone = 'UTC'")
        # The list's order: stars (equal here), then id, descending.
        cur.execute(f"SELECT {', '.join(queries.REPOSITORY_COLUMNS)} FROM github.repositories ORDER BY id DESC")
        stored = [dict(zip(queries.REPOSITORY_COLUMNS, row, strict=True)) for row in cur.fetchall()]
    warehouse.rollback()
    assert response.content == RepositoryPage(items=stored, next_cursor=None).model_dump_json().encode()
    assert response.json()["items"][1]["last_seen_at"] == "2024-05-06T01:38:09.500000Z"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"language": "Go"}, [3, 2], id="language"),
        pytest.param({"language": "go"}, [3, 2], id="language-in-any-case"),
        pytest.param({"owner": "OCTO"}, [4, 1], id="owner-case-insensitive"),
        pytest.param({"owner": "@octo"}, [4, 1], id="owner-as-a-mention"),
        pytest.param({"language": '"Go"'}, [3, 2], id="language-quoted-as-in-github-search"),
        pytest.param({"topic": '"cli"'}, [5, 1], id="topic-quoted"),
        pytest.param({"topic": "cli"}, [5, 1], id="topic"),
        pytest.param({"topic": "CLI"}, [5, 1], id="topic-in-any-case"),
        pytest.param({"min_stars": 30}, [5, 4, 3], id="min-stars"),
        pytest.param({"archived": "true"}, [2], id="archived"),
        pytest.param({"archived": "false"}, [5, 4, 3, 1], id="not-archived"),
        pytest.param({"language": "Go", "min_stars": 30}, [3], id="language-and-min-stars"),
        pytest.param({"owner": "octo", "topic": "cli", "archived": "false"}, [1], id="three-filters"),
    ],
)
def test_filters(client, warehouse, params, expected):
    _insert(
        warehouse,
        "repositories",
        _repo(1, owner_login="octo", topics=["cli"], stargazers_count=10),
        _repo(2, language="Go", archived=True, stargazers_count=20),
        _repo(3, language="Go", stargazers_count=30),
        _repo(4, owner_login="Octo", name="other", stargazers_count=40),
        _repo(5, language=None, topics=["cli", "web"], stargazers_count=50),
    )

    assert _ids(client.get(f"{PREFIX}/repositories", params=params)) == expected


@pytest.mark.parametrize("sort", ["stars", "created", "pushed"])
def test_sort_orders_descending_with_id_tie_breaker_and_missing_dates_last(client, warehouse, sort):
    rows = [
        _repo(1, stargazers_count=5, created_at=BASE_TIME, pushed_at=None),
        _repo(2, stargazers_count=5, created_at=BASE_TIME, pushed_at=BASE_TIME),
        _repo(
            3, stargazers_count=9, created_at=BASE_TIME - timedelta(days=1), pushed_at=BASE_TIME + timedelta(hours=1)
        ),
        _repo(4, stargazers_count=1, created_at=BASE_TIME + timedelta(days=3), pushed_at=None),
        _repo(5, stargazers_count=5, created_at=BASE_TIME - timedelta(days=1), pushed_at=BASE_TIME),
    ]
    _insert(warehouse, "repositories", *rows)

    ids = _ids(client.get(f"{PREFIX}/repositories", params={"sort": sort}))

    assert ids == _expected_order(rows, sort)
    assert ids == {"stars": [3, 5, 2, 1, 4], "created": [4, 2, 1, 5, 3], "pushed": [3, 5, 2, 4, 1]}[sort]


def test_default_sort_is_stars(client, warehouse):
    _insert(warehouse, "repositories", _repo(1, stargazers_count=1), _repo(2, stargazers_count=3), _repo(3))

    assert _ids(client.get(f"{PREFIX}/repositories")) == [2, 1, 3]


@pytest.mark.parametrize("sort", ["stars", "created", "pushed"])
@pytest.mark.parametrize("limit", [1, 2, 7])
def test_cursor_paging_visits_every_row_once_in_order(client, warehouse, sort, limit):
    # Few distinct keys (ties across page boundaries) and some missing push dates (the last segment).
    rows = [
        _repo(
            i,
            stargazers_count=i % 4,
            created_at=BASE_TIME + timedelta(days=i % 3),
            pushed_at=None if i % 3 == 0 else BASE_TIME + timedelta(hours=i % 2),
        )
        for i in range(1, 24)
    ]
    _insert(warehouse, "repositories", *rows)

    seen: list[int] = []
    cursor = None
    for _ in range(len(rows) + 1):
        params = {"sort": sort, "limit": limit} | ({"cursor": cursor} if cursor else {})
        response = client.get(f"{PREFIX}/repositories", params=params)
        page = _ids(response)
        assert len(page) <= limit
        seen += page
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break

    assert seen == _expected_order(rows, sort)
    assert len(seen) == len(set(seen)) == len(rows)


def _walk(client: TestClient, sort: str, between_pages: Any) -> list[int]:
    """Every id of a paging through the list, two at a time, calling ``between_pages(page_number)`` after each page."""
    seen: list[int] = []
    cursor = None
    for number in range(100):
        params = {"sort": sort, "limit": 2} | ({"cursor": cursor} if cursor else {})
        response = client.get(f"{PREFIX}/repositories", params=params)
        seen += _ids(response)
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return seen
        between_pages(number)
    raise AssertionError("the paging never ended")


def test_paging_by_creation_sees_every_repository_once_while_loads_commit_between_pages(client, warehouse):
    rows = [_repo(i, stargazers_count=i) for i in range(1, 10)]
    _insert(warehouse, "repositories", *rows)

    def load(number: int) -> None:
        # What a load commits: every repository's stars and push time move (the keys of the other sorts),
        # and a new one is created, dated after all the others.
        with warehouse.cursor() as cur:
            cur.execute(
                "UPDATE github.repositories SET stargazers_count = 100 - stargazers_count,"
                " pushed_at = pushed_at + interval '1 day' * (id * %s)",
                (number + 1,),
            )
        warehouse.commit()
        _insert(warehouse, "repositories", _repo(100 + number, created_at=BASE_TIME + timedelta(days=500)))

    seen = _walk(client, "created", load)

    assert seen == [i for i in range(9, 0, -1)]


def test_paging_by_stars_skips_a_repository_whose_stars_rise_past_the_page_meanwhile(client, warehouse):
    _insert(warehouse, "repositories", *(_repo(i, stargazers_count=i) for i in range(1, 10)))

    def load(number: int) -> None:
        if number == 0:  # repository 5, not listed yet, rises above the pages already read
            with warehouse.cursor() as cur:
                cur.execute("UPDATE github.repositories SET stargazers_count = 50 WHERE id = 5")
            warehouse.commit()

    # The documented limit of keyset paging over a key that changes: only creation order is safe.
    assert _walk(client, "stars", load) == [9, 8, 7, 6, 4, 3, 2, 1]


def test_cursor_paging_keeps_the_filters(client, warehouse):
    _insert(
        warehouse,
        "repositories",
        *(_repo(i, language="Go" if i % 2 else "C", stargazers_count=i) for i in range(1, 11)),
    )

    first = client.get(f"{PREFIX}/repositories", params={"language": "Go", "limit": 3}).json()
    second = client.get(f"{PREFIX}/repositories", params={"language": "Go", "limit": 3, "cursor": first["next_cursor"]})

    assert [item["id"] for item in first["items"]] == [9, 7, 5]
    assert _ids(second) == [3, 1]
    assert second.json()["next_cursor"] is None


def test_detail_returns_the_repository_and_its_history_newest_first(client, warehouse):
    _insert(warehouse, "repositories", _repo(7, owner_login="Octo", name="Hello", stargazers_count=12), _repo(8))
    _insert(
        warehouse,
        "repository_snapshots",
        *(_snapshot(7, date(2024, 1, day), stargazers_count=day) for day in (1, 3, 2)),
        _snapshot(8, date(2024, 1, 9), stargazers_count=99),
    )

    response = client.get(f"{PREFIX}/repositories/octo/hello")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["full_name"], body["stargazers_count"]) == (7, "Octo/Hello", 12)
    assert body["snapshots"] == [
        {"snapshot_date": f"2024-01-0{day}", "stargazers_count": day, "forks_count": 1, "open_issues_count": 2}
        for day in (3, 2, 1)
    ]
    limited = client.get(f"{PREFIX}/repositories/Octo/Hello", params={"history_limit": 1}).json()
    assert [s["snapshot_date"] for s in limited["snapshots"]] == ["2024-01-03"]


def test_detail_prefers_the_live_repository_of_a_reused_name(client, warehouse):
    _insert(
        warehouse,
        "repositories",
        _repo(1, owner_login="octo", name="hello", deleted_at=BASE_TIME, last_seen_at=BASE_TIME + timedelta(days=9)),
        _repo(2, owner_login="octo", name="hello"),
    )

    assert client.get(f"{PREFIX}/repositories/octo/hello").json()["id"] == 2


@pytest.mark.parametrize("path", ["/repositories/octo/absent", "/repositories/nobody/hello"])
def test_detail_of_an_unknown_repository_is_404(client, warehouse, path):
    _insert(warehouse, "repositories", _repo(1, owner_login="octo", name="hello"))

    response = client.get(f"{PREFIX}{path}")

    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


def test_runs_are_listed_newest_first(client, warehouse):
    def run(day: int) -> dict[str, Any]:
        logical = BASE_TIME + timedelta(days=day)
        return {
            "run_id": f"scheduled__{logical.date()}",
            "dag_id": "github_repositories",
            "logical_date": logical,
            "observed_at": logical + timedelta(hours=1),
            "mode": "search",
            "inserted": day,
            "started_at": logical,
            "finished_at": logical + timedelta(minutes=5),
        }

    unreachable = [{"second": "2024-01-04T10:00:00Z", "matches": 1200, "unreachable": 200}]
    reasons = {"wrong_type:stargazers_count": 2, "missing_field:full_name": 1}
    _insert(
        warehouse,
        "load_runs",
        run(1),
        {**run(3), "unreachable": Json(unreachable), "duplicates": 4, "rejected": 3, "rejected_reasons": Json(reasons)},
        {**run(2), "checks_passed_at": BASE_TIME + timedelta(days=2, minutes=6), "generation": 7},
    )

    everything = client.get(f"{PREFIX}/runs").json()["items"]
    latest = client.get(f"{PREFIX}/runs", params={"limit": 2}).json()["items"]

    assert [r["inserted"] for r in everything] == [3, 2, 1]
    assert [r["run_id"] for r in latest] == ["scheduled__2024-01-04", "scheduled__2024-01-03"]
    assert everything[0]["mode"] == "search"
    assert everything[0]["observed_at"] == "2024-01-04T01:00:00Z"
    assert (everything[0]["unreachable"], everything[0]["duplicates"]) == (unreachable, 4)
    assert (everything[1]["unreachable"], everything[1]["duplicates"]) == ([], 0)
    assert (everything[0]["rejected"], everything[0]["rejected_reasons"]) == (3, reasons)
    assert (everything[1]["rejected"], everything[1]["rejected_reasons"]) == (0, {})
    # Whether a run's data passed its quality checks (null: not, or not yet), and the write generation an
    # incremental reader stops at.
    assert (everything[1]["checks_passed_at"], everything[1]["generation"]) == ("2024-01-03T00:06:00Z", 7)
    assert everything[0]["checks_passed_at"] is None


def test_runs_are_listed_by_when_they_finished_whether_their_checks_passed_and_their_dag(client, warehouse):
    """A backfill of a month back that loads after today's run: last to finish, whatever its logical date."""

    def run(
        run_id: str, logical_day: int, finished_day: int, *, passed: bool, dag_id: str = "github_repositories"
    ) -> dict[str, Any]:
        logical = BASE_TIME + timedelta(days=logical_day)
        finished = BASE_TIME + timedelta(days=finished_day, minutes=5)
        return {
            "run_id": run_id,
            "dag_id": dag_id,
            "logical_date": logical,
            "observed_at": finished - timedelta(minutes=4),
            "mode": "sample",
            "started_at": finished - timedelta(minutes=5),
            "finished_at": finished,
            "checks_passed_at": finished + timedelta(minutes=1) if passed else None,
        }

    _insert(
        warehouse,
        "load_runs",
        run("today", 40, 40, passed=True),
        run("backfill_a", 10, 41, passed=False),
        run("backfill_b", 11, 42, passed=False),
        run("yesterday", 39, 39, passed=True),
        run("rust", 39, 39, passed=True, dag_id="github_search_rust"),
    )

    def run_ids(**params: Any) -> list[str]:
        response = client.get(f"{PREFIX}/runs", params=params)
        assert response.status_code == 200, response.text
        return [item["run_id"] for item in response.json()["items"]]

    harvest = {"dag_id": "github_repositories"}
    assert run_ids(**harvest) == ["today", "yesterday", "backfill_b", "backfill_a"]
    assert run_ids(sort="finished", **harvest) == ["backfill_b", "backfill_a", "today", "yesterday"]
    assert run_ids(sort="finished", limit=1) == ["backfill_b"]
    assert run_ids(sort="finished", checks_passed="true", limit=1) == ["today"]
    assert run_ids(checks_passed="false") == ["backfill_b", "backfill_a"]
    # Each harvest's runs, or every DAG's (the same logical date: the run ids, descending, decide).
    assert run_ids(dag_id="github_search_rust") == ["rust"]
    assert run_ids(checks_passed="true") == ["today", "yesterday", "rust"]
    assert run_ids(dag_id="github_absent") == []
    for refused in ({"sort": "started"}, {"dag_id": "two words"}, {"dag_id": ""}):
        assert client.get(f"{PREFIX}/runs", params=refused).status_code == 422, refused


# -- authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", DATA_URLS)
@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-credentials"),
        pytest.param("Bearer not-a-jwt", id="garbage-token"),
        pytest.param("Bearer eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJhbmFseXN0In0.c2lnbmF0dXJl", id="forged-token"),
        pytest.param("Basic YW5hbHlzdDpwYXNzd29yZA==", id="basic-auth"),
    ],
)
def test_data_endpoints_require_an_airflow_login(client_without_warehouse, url, authorization):
    del client_without_warehouse.headers["Authorization"]
    headers = {"Authorization": authorization} if authorization else {}

    response = client_without_warehouse.get(f"{PREFIX}{url}", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_token_signed_with_another_secret_is_rejected(client_without_warehouse, token):
    header, payload, _signature = token.split(".")
    client_without_warehouse.headers["Authorization"] = f"Bearer {header}.{payload}.{'A' * 86}"

    assert client_without_warehouse.get(f"{PREFIX}/repositories/count").status_code == 401


def test_airflow_ui_session_cookie_is_accepted(client, token, warehouse):
    _insert(warehouse, "repositories", _repo(1))
    del client.headers["Authorization"]
    client.cookies.set("_token", token)

    response = client.get(f"{PREFIX}/repositories/count")

    assert response.status_code == 200
    assert response.json() == {"count": 1}


def _plugin_app(airflow_app: Any) -> Any:
    """The repository API app as Airflow's server mounted it."""
    [mount] = [route for route in airflow_app.routes if getattr(route, "path", None) == PREFIX]
    return mount.app


def test_a_revoked_token_is_refused_once_its_acceptance_lapses(airflow_app, client, credentials, monkeypatch):
    from airflow.api_fastapi.app import get_auth_manager

    from github_etl.api.security import AcceptedTokens

    now = [0.0]
    state = _plugin_app(airflow_app).state
    monkeypatch.setattr(state, "accepted_tokens", AcceptedTokens(2.0, clock=lambda: now[0]), raising=False)
    username, password = credentials
    token = client.post("/auth/token", json={"username": username, "password": password}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{PREFIX}/repositories/count", headers=headers).status_code == 200

    get_auth_manager().revoke_token(token)
    # For the seconds an acceptance is reused, the token still opens this API (GITHUB_ETL_API_AUTH_CACHE_SECONDS)...
    assert client.get(f"{PREFIX}/repositories/count", headers=headers).status_code == 200
    now[0] += 2.0
    # ...then Airflow is asked again, and refuses it.
    refused = client.get(f"{PREFIX}/repositories/count", headers=headers)
    assert refused.status_code == 401
    assert refused.json() == {"detail": "Invalid JWT token"}
    # Refusals are not remembered, and other tokens are not affected.
    assert client.get(f"{PREFIX}/repositories/count", headers=headers).status_code == 401
    assert client.get(f"{PREFIX}/repositories/count").status_code == 200


def test_form_encoded_login_used_by_swagger_ui_gives_a_working_token(client, credentials):
    username, password = credentials
    login = client.post("/auth/token", data={"username": username, "password": password})
    assert login.status_code == 201

    response = client.get(
        f"{PREFIX}/repositories/count", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )

    assert response.status_code == 200


def test_wrong_password_gets_no_token(client_without_warehouse, credentials):
    response = client_without_warehouse.post("/auth/token", json={"username": credentials[0], "password": "wrong"})

    assert response.status_code == 401


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "cursor", "expected"),
    [
        ("stars", "n.5", []),  # the stars of every row are known: nothing comes after a row without
        ("stars", "9" * 19 + "." + "9" * 19, [3, 2, 1]),  # beyond bigint: read as the largest position
        ("stars", "-" + "9" * 19 + ".1", []),
        ("stars", "20.-5", [1]),  # ids below any real one
        ("created", "n." + "9" * 19, []),  # no repository lacks its creation date
        ("created", "-" + "9" * 19 + ".0", []),  # before year 1
        ("created", "9" * 19 + ".0", [3, 2, 1]),  # after year 9999
        ("pushed", "30.3", []),  # a stars cursor given to another sort: a position there, 30 µs after 1970
    ],
)
def test_every_cursor_of_the_documented_grammar_is_answered(client, warehouse, sort, cursor, expected):
    _insert(warehouse, "repositories", *(_repo(i, stargazers_count=10 * i) for i in (1, 2, 3)))

    assert _ids(client.get(f"{PREFIX}/repositories", params={"sort": sort, "cursor": cursor})) == expected


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 100_000}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"min_stars": -1}, "min_stars"),
        ({"min_stars": 2**31}, "min_stars"),
        ({"sort": "bogus"}, "sort"),
        ({"archived": "maybe"}, "archived"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": "e30"}, "cursor"),  # the base64 cursors of earlier versions
        ({"cursor": "12"}, "cursor"),
        ({"cursor": "1.x"}, "cursor"),
        ({"cursor": "n.n"}, "cursor"),
        ({"cursor": "1.2.3"}, "cursor"),
        ({"cursor": "1" * 20 + ".1"}, "cursor"),
        ({"cursor": "x" * 600}, "cursor"),
        ({"language": ""}, "language"),
        ({"langauge": "Python"}, "langauge"),  # a typo is an error, not a silently ignored filter
    ],
)
def test_invalid_list_parameters_are_422_naming_the_parameter(client_without_warehouse, params, parameter):
    response = client_without_warehouse.get(f"{PREFIX}/repositories", params=params)

    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [error["loc"] for error in errors] == [["query", parameter]]
    assert errors[0]["msg"]


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/runs?limit=0", "limit"),
        ("/runs?limit=501", "limit"),
        ("/repositories/octo/hello?history_limit=0", "history_limit"),
        # A filter the count does not take, a typo: errors, not silently ignored.
        ("/repositories/count?language=Python", "language"),
        ("/repositories/octo/hello?histroy_limit=5", "histroy_limit"),
    ],
)
def test_invalid_parameters_of_other_endpoints_are_422(client_without_warehouse, url, parameter):
    response = client_without_warehouse.get(f"{PREFIX}{url}")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == parameter


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/repositories?language=Python&language=Go", "language"),
        ("/repositories?limit=1&limit=2", "limit"),
        ("/repositories/octo/hello?history_limit=1&history_limit=1", "history_limit"),
        ("/trending?window_days=1&window_days=30", "window_days"),
        ("/repositories/octo/hello/history?days=3&days=4", "days"),
    ],
)
def test_a_parameter_given_twice_is_422_not_its_last_value(client_without_warehouse, url, parameter):
    response = client_without_warehouse.get(f"{PREFIX}{url}")

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (["query", parameter], "Give this parameter once")


HARMLESS_STRINGS = [
    pytest.param("' OR '1'='1", id="sql-or"),
    pytest.param("x'; DROP TABLE github.repositories; --", id="sql-drop"),
    pytest.param("%", id="like-wildcard"),
    pytest.param("_", id="like-single"),
    pytest.param("\\", id="backslash"),
    pytest.param("ünïcødé 🐍 中文", id="unicode"),
    pytest.param("\u202egnp.exe", id="bidi-override"),
    pytest.param("a" * 255, id="longest-accepted"),
]


@pytest.mark.parametrize("parameter", ["language", "owner", "topic"])
@pytest.mark.parametrize("value", HARMLESS_STRINGS)
def test_hostile_filter_values_match_nothing_and_change_nothing(client, warehouse, parameter, value):
    _insert(warehouse, "repositories", _repo(1, owner_login="octo", topics=["cli"]))

    response = client.get(f"{PREFIX}/repositories", params={parameter: value})

    assert _ids(response) == []
    assert client.get(f"{PREFIX}/repositories/count").json() == {"count": 1}


@pytest.mark.parametrize("value", HARMLESS_STRINGS)
def test_hostile_path_values_are_404(client, warehouse, value):
    _insert(warehouse, "repositories", _repo(1, owner_login="octo", name="hello"))

    response = client.get(f"{PREFIX}/repositories/{quote(value, safe='')}/hello")

    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    ["/repositories/octo/hello%2Fhistory", "/repositories/octo%2Fhello", "/repositories/octo/hello%2fhistory"],
)
def test_an_encoded_slash_in_a_path_segment_is_404_not_another_route(client, warehouse, path):
    """A slash in an owner or name is a 404 (the path reaches no operation); percent-encoded it is decoded before
    routing, and would reach the repository's history, or its detail, instead."""
    _insert(warehouse, "repositories", _repo(1, owner_login="octo", name="hello"))

    response = client.get(f"{PREFIX}{path}")

    assert response.status_code == 404, response.text[:200]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("parameter", ["language", "owner", "topic"])
@pytest.mark.parametrize("value", [pytest.param("a\x00b", id="nul"), pytest.param("x" * 10_240, id="10kb")])
def test_nul_bytes_and_huge_strings_are_422(client_without_warehouse, parameter, value):
    response = client_without_warehouse.get(f"{PREFIX}/repositories", params={parameter: value})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", parameter]


@pytest.mark.parametrize("path", ["/repositories/oc%00to/hello", "/repositories/octo/" + "x" * 10_240])
def test_nul_bytes_and_huge_strings_in_the_path_are_422(client_without_warehouse, path):
    assert client_without_warehouse.get(f"{PREFIX}{path}").status_code == 422


@pytest.mark.parametrize("value", ["octo/hello", ".", "..", "oc\nto"])
@pytest.mark.parametrize("path", ["/repositories/{owner}/{name}", "/repositories/{owner}/{name}/history"])
def test_the_document_allows_no_path_segment_a_url_cannot_carry(client_without_warehouse, path, value):
    # A slash splits the segment, a client resolves . and .. away, and the route of Airflow's mount of the plugin
    # matches no line feed: such a request never reaches the operation, so the document must not allow it.
    del client_without_warehouse.headers["Authorization"]
    spec = client_without_warehouse.get(f"{PREFIX}/openapi.json").json()

    for parameter in spec["paths"][path]["get"]["parameters"]:
        if parameter["in"] == "path":
            assert not re.search(parameter["schema"]["pattern"], value), (parameter["name"], value)
            for name in (".github", "...", "a.b-c_d", "ünïcødé"):  # names GitHub allows, or may one day
                assert re.search(parameter["schema"]["pattern"], name), (parameter["name"], name)


def test_unicode_values_match_exactly(client, warehouse):
    _insert(warehouse, "repositories", _repo(1, language="日本語"), _repo(2, language="Python"))

    assert _ids(client.get(f"{PREFIX}/repositories", params={"language": "日本語"})) == [1]


def test_undecodable_percent_escapes_do_not_fail(client, warehouse):
    _insert(warehouse, "repositories", _repo(1))

    assert client.get(f"{PREFIX}/repositories?owner=%FF%FE").status_code == 200
    assert client.get(f"{PREFIX}/repositories/%FF/hello").status_code == 404


# -- the warehouse down -----------------------------------------------------------------------------


def test_unreachable_warehouse_is_503_with_a_clear_message(airflow_app, token, monkeypatch, caplog):
    with contextlib.closing(_closed_port()) as sock:
        port = sock.getsockname()[1]
        monkeypatch.setenv(
            "AIRFLOW_CONN_POSTGRES_DEFAULT", f"postgresql://etl:{WAREHOUSE_PASSWORD}@127.0.0.1:{port}/warehouse"
        )
        with _client(airflow_app, token) as client:
            responses = [client.get(f"{PREFIX}{url}") for url in DATA_URLS]

    for response in responses:
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        assert response.json()["detail"] == (
            "The warehouse is unavailable: it cannot be reached, or the connection to it was lost. "
            "The API server's log says why."
        )
        # Where the warehouse is goes to the log only, never to a reader of the API.
        assert str(port) not in response.text
        assert WAREHOUSE_PASSWORD not in response.text
        assert "Traceback" not in response.text
    assert f"127.0.0.1:{port}/warehouse" in caplog.text


def test_undefined_warehouse_connection_is_503(client_without_warehouse):
    response = client_without_warehouse.get(f"{PREFIX}/repositories/count")

    assert response.status_code == 503
    assert response.json()["detail"] == (
        "The warehouse is unavailable: the API server's connection to it is not defined or cannot be read. "
        "The API server's log says why."
    )


@pytest.mark.parametrize("path", ["/repositories", "/repositories/octo/alpha"])
def test_a_warehouse_created_before_a_column_of_the_api_is_503_saying_what_adds_it(client, warehouse, path, caplog):
    """An API server upgraded before the DAG's next run reads a column the warehouse does not have yet."""
    _insert(warehouse, "repositories", _repo(1, owner_login="octo", name="alpha"))
    with warehouse.cursor() as cur:
        cur.execute("ALTER TABLE github.repositories DROP COLUMN is_template")
    warehouse.commit()

    with caplog.at_level(logging.WARNING):
        response = client.get(f"{PREFIX}{path}")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert response.json()["detail"] == (
        "The warehouse lacks a column this version reads, as it was created before the column was added: the next "
        "run of the github_repositories DAG fails naming the ALTER TABLE that adds it."
    )
    assert 'column "is_template" does not exist' in caplog.text


def test_pooled_connections_killed_by_the_server_are_replaced(client, warehouse, pg_url):
    _insert(warehouse, "repositories", _repo(1))
    assert client.get(f"{PREFIX}/repositories").status_code == 200

    admin = psycopg2.connect(pg_url)
    try:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'github_etl_api'"
            )
            assert cur.fetchone()[0] >= 1
    finally:
        admin.close()

    assert _ids(client.get(f"{PREFIX}/repositories")) == [1]


SESSION_SETTINGS = "SELECT current_setting('statement_timeout'), current_setting('default_transaction_read_only')"


def test_api_statements_are_read_only_and_timed_out_without_leaving_a_setting_on_the_session(warehouse, pg_url):
    """Behind PgBouncer in transaction mode, the server connection that ran an API statement goes next to
    another client of the same role, a load say, with whatever the statement left on its session."""
    with psycopg2.connect(pg_url) as fresh, fresh.cursor() as cur:
        cur.execute(SESSION_SETTINGS)
        role_settings = cur.fetchone()
    fresh.close()

    def read_write_and_wait(db: DatabaseConnection) -> tuple[Any, Any]:
        with db.cursor() as cur:
            cur.execute("SELECT current_setting('statement_timeout'), current_setting('transaction_read_only')")
            within = cur.fetchone()
            with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
                cur.execute("CREATE TEMPORARY TABLE written (id integer)")
            with pytest.raises(psycopg2.errors.QueryCanceled):
                cur.execute("SELECT pg_sleep(60)")
        # A cursor of psycopg2's own class, as the pooler's next client would use the server session.
        with psycopg2.extensions.cursor(db.connection) as cur:
            cur.execute(SESSION_SETTINGS)
            return within, cur.fetchone()

    pool = WarehousePool(ApiSettings(statement_timeout=0.05), dsn=pg_url)
    try:
        within, after = pool.run(read_write_and_wait)
        assert pool.run(queries.generation_and_count) == (0, 0)  # an explicit transaction works too
    finally:
        pool.close()

    assert within == ("50ms", "on")
    assert after == role_settings


# -- documentation ----------------------------------------------------------------------------------


def test_openapi_lists_every_operation_with_its_models(client_without_warehouse):
    del client_without_warehouse.headers["Authorization"]  # the description of the API is public

    spec = client_without_warehouse.get(f"{PREFIX}/openapi.json").json()

    operations = {
        (path, method): operation["operationId"]
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }
    assert operations == OPERATIONS
    assert spec["servers"] == [{"url": PREFIX}]
    for path, method in OPERATIONS:
        operation = spec["paths"][path][method]
        assert operation["security"], f"{path} declares no authentication"
        assert {"200", "401", "422", "503"} <= set(operation["responses"])
        # Every error is described with its body, as docs/api.md shows it: {"detail": "..."}.
        for code in {"401", "404", "503"} & set(operation["responses"]):
            body = operation["responses"][code]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/ErrorMessage"}, (path, code)
        # The headers a client acts on, as docs/api.md names them: whom to log in with, and when to retry.
        headers = {code: operation["responses"][code].get("headers", {}) for code in ("401", "503")}
        assert headers["401"]["WWW-Authenticate"]["required"] is True, path
        assert headers["503"]["Retry-After"]["required"] is True, path
        assert headers["503"]["Retry-After"]["schema"]["type"] == "integer", path
    page = spec["paths"]["/repositories"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert page == {"$ref": "#/components/schemas/RepositoryPage"}
    components = spec["components"]
    assert {"Repository", "RepositoryDetail", "Snapshot", "LoadRun", "RepositoryCount"} <= set(components["schemas"])
    assert components["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/auth/token"


def test_openapi_describes_every_field_of_every_answer(client_without_warehouse):
    """A client developer reads what each field holds in Swagger; GitHub's columns as the warehouse says."""
    spec = client_without_warehouse.get(f"{PREFIX}/openapi.json").json()

    undescribed = [
        f"{name}.{field}"
        for name, schema in spec["components"]["schemas"].items()
        if name not in ("HTTPValidationError", "ValidationError")
        for field, definition in schema.get("properties", {}).items()
        if not definition.get("description")
    ]
    assert undescribed == []
    properties = spec["components"]["schemas"]["Repository"]["properties"]
    assert properties["watchers_count"]["description"].startswith("Stars again")


def test_swagger_ui_is_served_from_this_server_only(client_without_warehouse):
    del client_without_warehouse.headers["Authorization"]

    page = client_without_warehouse.get(f"{PREFIX}/docs")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text
    assert not re.search(r"https?:|//[\w-]+\.[\w.-]+", page.text), "the page names another host"
    references = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: '([^']+)'""", page.text)
    urls = {url for pair in references for url in pair if url}
    assert urls == {
        f"{PREFIX}/static/swagger-ui-bundle.js",
        f"{PREFIX}/static/swagger-ui.css",
        f"{PREFIX}/static/favicon-32x32.png",
        f"{PREFIX}/openapi.json",
    }
    for url in urls:
        asset = client_without_warehouse.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    # A screen reader reads the page in its language only when the page names it (axe-core: html-has-lang).
    assert re.search(r"<html[^>]*\blang=\"en\"", page.text), page.text[:200]


def test_swagger_ui_logs_in_at_airflow_s_token_endpoint_under_its_base_path(monkeypatch):
    from fastapi import FastAPI

    from github_etl.api.app import create_app

    # Served under a path, Airflow's app has that root path and mounts the plugin's app below it.
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://127.0.0.1/airflow/")
    airflow = FastAPI(root_path="/airflow")
    airflow.mount(PREFIX, create_app())
    client = TestClient(airflow, base_url="http://127.0.0.1")

    spec = client.get(f"/airflow{PREFIX}/openapi.json").json()
    page = client.get(f"/airflow{PREFIX}/docs").text

    # Authorize posts the login to tokenUrl on this host: /auth/token would miss Airflow (405).
    assert spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == (
        "/airflow/auth/token"
    )
    assert spec["servers"] == [{"url": f"/airflow{PREFIX}"}]
    assert f"url: '/airflow{PREFIX}/openapi.json'" in page


@pytest.mark.parametrize("name", ["../../../../etc/passwd", "swagger-editor-bundle.js", "index.html"])
def test_only_the_swagger_ui_assets_are_served(client_without_warehouse, name):
    assert client_without_warehouse.get(f"{PREFIX}/static/{quote(name, safe='')}").status_code == 404


def test_the_plugin_links_the_docs_from_the_airflow_ui(client_without_warehouse):
    plugins = client_without_warehouse.get("/api/v2/plugins").json()["plugins"]

    [plugin] = [p for p in plugins if p["name"] == "github_etl"]
    assert plugin["fastapi_apps"][0]["url_prefix"] == PREFIX
    [view] = [v for v in plugin["external_views"] if v["name"] == "GitHub repositories API"]
    assert view["href"] == "github-etl/docs"
    assert (view["destination"], view["category"]) == ("nav", "docs")


# -- indexes ----------------------------------------------------------------------------------------


class _RecordingConnection(DatabaseConnection):
    """Remembers every statement exactly as sent, so EXPLAIN sees what the API runs."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn, connect_retries=0)
        self.statements: list[str] = []

    @contextlib.contextmanager
    def cursor(self) -> Iterator[Any]:
        with super().cursor() as cur:
            yield cur
            # A cursor that only rendered a statement's text (the first query of its shape) ran nothing.
            if cur.query is not None:
                self.statements.append(cur.query.decode())


@pytest.fixture
def many_repositories(warehouse: DatabaseConnection) -> None:
    """20,000 repositories, spread over languages, owners and stars, then ANALYZEd like a real table."""
    with warehouse.cursor() as cur:
        cur.execute(
            """
            INSERT INTO github.repositories
                (id, node_id, full_name, name, owner_login, language, topics, stargazers_count, archived,
                 created_at, pushed_at, first_seen_at, last_seen_at)
            SELECT g, 'R_' || g, 'owner' || g % 500 || '/repo' || g, 'repo' || g, 'owner' || g % 500,
                   (ARRAY['Python', 'Go', 'Rust', 'C', 'Java', 'Ruby', 'Haskell', NULL])[1 + g % 8],
                   ARRAY['topic' || g % 50], (g::bigint * 7919) % 5000, g % 17 = 0,
                   timestamptz '2015-01-01' + g * interval '1 hour',
                   CASE WHEN g % 40 = 0 THEN NULL ELSE timestamptz '2020-01-01' + g * interval '7 minutes' END,
                   now(), now()
            FROM generate_series(1, 20000) AS g
            """
        )
    warehouse.commit()
    with warehouse.cursor() as cur:
        cur.execute("ANALYZE github.repositories")
    warehouse.commit()


@pytest.mark.parametrize(
    ("filters", "sort", "after"),
    [
        pytest.param(queries.RepositoryFilter(), RepositorySort.STARS, None, id="default"),
        pytest.param(queries.RepositoryFilter(), RepositorySort.STARS, (2500, 10000), id="default-next-page"),
        pytest.param(queries.RepositoryFilter(language="Python"), RepositorySort.STARS, None, id="language"),
        pytest.param(queries.RepositoryFilter(language="Python", min_stars=10), RepositorySort.STARS, None, id="bench"),
        pytest.param(queries.RepositoryFilter(owner="OWNER7"), RepositorySort.STARS, None, id="owner"),
        pytest.param(queries.RepositoryFilter(topic="topic7"), RepositorySort.STARS, None, id="topic"),
        pytest.param(queries.RepositoryFilter(), RepositorySort.PUSHED, None, id="pushed"),
        pytest.param(queries.RepositoryFilter(), RepositorySort.CREATED, None, id="created"),
    ],
)
def test_list_queries_are_answered_from_an_index(pg_url, many_repositories, filters, sort, after):
    position = CursorPosition(sort, after[0], after[1]) if after else None
    db = _RecordingConnection(pg_url)
    try:
        rows, _ = queries.list_repositories(db, filters, sort, position, limit=50)
        assert rows
        for statement in list(db.statements):
            with db.cursor() as cur:
                cur.execute(f"EXPLAIN {statement}")
                plan = "\n".join(line for (line,) in cur.fetchall())
            assert "Seq Scan on repositories" not in plan, plan
            assert "Index" in plan, plan
    finally:
        db.close()


# -- coalesced count ------------------------------------------------------------------------------


def test_coalescer_never_serves_a_caller_an_execution_that_started_before_it():
    executions: list[int] = []
    first_running = threading.Event()
    release_first = threading.Event()

    def count() -> int:
        executions.append(len(executions) + 1)
        generation = len(executions)
        if generation == 1:
            first_running.set()
            assert release_first.wait(timeout=30)
        return generation

    coalesced = Coalescer(count)
    with ThreadPoolExecutor(max_workers=6) as pool:
        first = pool.submit(coalesced)
        assert first_running.wait(timeout=30)
        late = [pool.submit(coalesced) for _ in range(5)]
        release_first.set()
        assert first.result(timeout=30) == 1
        assert all(future.result(timeout=30) >= 2 for future in late)
    assert len(executions) <= 1 + len(late)


def test_coalescer_hands_the_error_to_the_callers_it_serves():
    def fail() -> int:
        raise RuntimeError("warehouse down")

    with pytest.raises(RuntimeError, match="warehouse down"):
        Coalescer(fail)()


def test_async_coalescer_serves_late_callers_with_an_execution_that_started_after_them():
    async def scenario() -> tuple[list[int], list[int]]:
        executions: list[int] = []
        release_first = asyncio.Event()

        async def count() -> int:
            executions.append(len(executions) + 1)
            generation = len(executions)
            if generation == 1:
                await release_first.wait()
            return generation

        coalesced = AsyncCoalescer(count)
        first = asyncio.ensure_future(coalesced())
        while not executions:  # until the first execution is under way
            await asyncio.sleep(0)
        late = [asyncio.ensure_future(coalesced()) for _ in range(5)]
        release_first.set()
        return [await first, *await asyncio.gather(*late)], executions

    results, executions = asyncio.run(scenario())
    # The five late callers share the second execution: one execution per wave, not one per caller.
    assert results == [1, 2, 2, 2, 2, 2]
    assert executions == [1, 2]


def test_async_coalescer_hands_the_error_to_the_callers_it_serves():
    async def fail() -> int:
        raise RuntimeError("warehouse down")

    async def scenario() -> list[BaseException | int]:
        coalesced = AsyncCoalescer(fail)
        return await asyncio.gather(coalesced(), coalesced(), return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert [str(outcome) for outcome in outcomes] == ["warehouse down", "warehouse down"]


# -- the repository count ---------------------------------------------------------------------------


class _CountingRunner:
    """``WarehousePool.run`` on one autocommit connection, remembering every statement run."""

    def __init__(self, dsn: str) -> None:
        self.db = _RecordingConnection(dsn)
        self.db.connection.autocommit = True

    def __call__(self, work: Any) -> Any:
        return work(self.db)

    def full_counts(self) -> int:
        return sum("count(*)" in statement for statement in self.db.statements)


def _generation(db: DatabaseConnection) -> int:
    with db.cursor() as cur:
        cur.execute("SELECT generation FROM github.repositories_generation")
        return cur.fetchone()[0]


def test_every_statement_writing_repositories_moves_the_generation_once(warehouse):
    before = _generation(warehouse)
    _insert(warehouse, "repositories", _repo(1))
    with warehouse.cursor() as cur:
        cur.execute("INSERT INTO github.repositories SELECT * FROM github.repositories LIMIT 0")
        cur.execute("UPDATE github.repositories SET stargazers_count = stargazers_count + 1")
        cur.execute("DELETE FROM github.repositories WHERE id = -1")
        cur.execute("TRUNCATE github.repositories CASCADE")
    warehouse.commit()
    # One per statement, rows or no rows: _insert's INSERT, INSERT, UPDATE, DELETE, TRUNCATE; and one for the
    # write generation _insert's row took by default (github.write_generation, once per transaction).
    assert _generation(warehouse) == before + 6
    warehouse.rollback()
    with warehouse.cursor() as cur:
        cur.execute("UPDATE github.repositories SET stargazers_count = 0")
    warehouse.rollback()
    assert _generation(warehouse) == before + 6


def test_count_is_exact_after_every_write_and_counts_only_after_a_write(warehouse, pg_url):
    runner = _CountingRunner(pg_url)
    counter = RepositoryCounter(runner)
    try:
        assert counter() == 0
        _insert(warehouse, "repositories", *(_repo(i) for i in range(1, 4)))
        assert counter() == 3
        counts_so_far = runner.full_counts()
        assert [counter() for _ in range(5)] == [3] * 5
        assert runner.full_counts() == counts_so_far  # the table did not change: no count(*)
        with warehouse.cursor() as cur:
            cur.execute("DELETE FROM github.repositories WHERE id = 2")
        warehouse.commit()
        assert counter() == 2
        with warehouse.cursor() as cur:
            cur.execute("TRUNCATE github.repositories CASCADE")
        warehouse.commit()
        assert counter() == 0
    finally:
        runner.db.close()


def test_count_endpoint_sees_a_write_committed_before_the_request(client, warehouse):
    _insert(warehouse, "repositories", _repo(1))
    assert client.get(f"{PREFIX}/repositories/count").json() == {"count": 1}
    _insert(warehouse, "repositories", _repo(2), _repo(3))

    assert client.get(f"{PREFIX}/repositories/count").json() == {"count": 3}


def test_a_repeated_page_is_read_once_until_a_write_moves_the_generation(client, warehouse, monkeypatch):
    reads: list[queries.RepositoryFilter] = []
    list_repositories = queries.list_repositories

    def recording(db, filters, *args):
        reads.append(filters)
        return list_repositories(db, filters, *args)

    monkeypatch.setattr(queries, "list_repositories", recording)
    _insert(warehouse, "repositories", _repo(1, language="Python"), _repo(2, language="Go"))
    url = f"{PREFIX}/repositories?language=Python"

    first, second = client.get(url), client.get(url)
    other = client.get(f"{PREFIX}/repositories?language=Go")
    assert first.json() == second.json()
    assert first.headers["content-type"] == "application/json"
    assert _ids(first) == [1]
    assert _ids(other) == [2]
    assert len(reads) == 2  # the second Python page came from the cache

    _insert(warehouse, "repositories", _repo(3, language="Python"))
    assert sorted(_ids(client.get(url))) == [1, 3]
    assert len(reads) == 3


def test_list_pages_are_read_every_time_without_a_page_cache(airflow_app, client, warehouse, monkeypatch):
    reads: list[object] = []
    list_repositories = queries.list_repositories
    monkeypatch.setattr(queries, "list_repositories", lambda *args: reads.append(args) or list_repositories(*args))
    client.get(f"{PREFIX}/repositories/count")  # the lifespan has made the warehouse state
    warehouse_state = _plugin_app(airflow_app).state.warehouse
    monkeypatch.setattr(warehouse_state.pages, "max_bytes", 0)
    _insert(warehouse, "repositories", _repo(1))

    for _ in range(3):
        assert _ids(client.get(f"{PREFIX}/repositories")) == [1]

    assert len(reads) == 3


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        pytest.param("C++", [1], id="plus-signs-unencoded-as-users-type-them"),
        pytest.param('"C++"', [1], id="quoted-and-unencoded"),
        pytest.param("c++", [1], id="any-case"),
        pytest.param("C%2B%2B", [1], id="encoded"),
        pytest.param("Objective-C++", [3], id="longer-name"),
        pytest.param("C", [2], id="the-language-without-them"),
        pytest.param("Jupyter+Notebook", [4], id="a-plus-between-words-is-a-space"),
    ],
)
def test_a_language_ending_in_plus_signs_is_found_when_typed_into_a_url_unencoded(client, warehouse, typed, expected):
    """A query string reads ``+`` as a space: ``?language=C++`` arrives as ``C`` and two spaces, which no
    language name ends with, so trailing spaces are read back as the plus signs they were typed as."""
    languages = ["C++", "C", "Objective-C++", "Jupyter Notebook"]
    _insert(warehouse, "repositories", *(_repo(i, language=name) for i, name in enumerate(languages, start=1)))

    assert _ids(client.get(f"{PREFIX}/repositories?language={typed}")) == expected


# -- least privilege --------------------------------------------------------------------------------


def test_every_endpoint_answers_on_the_read_only_role(airflow_app, token, least_privilege_roles, monkeypatch):
    """The DAG's role owns what it created; the reader sees it, a month's partition made later included."""
    with DatabaseConnection(least_privilege_roles.etl_url, connect_retries=0) as etl:
        apply_schema(etl)
        _insert(etl, "repositories", _repo(1, owner_login="octo", name="hello"))
        days = [date(2024, 1, 31), date(2024, 2, 1)]
        _insert(etl, "repository_snapshots", *(_snapshot(1, day, stargazers_count=n) for n, day in enumerate(days)))
        with etl.cursor() as cur:
            for day in days:
                cur.execute("SELECT github.refresh_day_summaries(%s)", (day,))
        etl.commit()
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", least_privilege_roles.reader_url)

    with _client(airflow_app, token) as client:
        responses = {url: client.get(f"{PREFIX}{url}") for url in DATA_URLS}
        trending = client.get(f"{PREFIX}/trending", params={"window_days": 1, "end_date": "2024-02-01"})

    assert {url: r.status_code for url, r in responses.items()} == dict.fromkeys(DATA_URLS, 200)
    assert responses["/repositories/count"].json() == {"count": 1}
    assert [item["id"] for item in trending.json()["items"]] == [1]


def test_a_table_withheld_from_the_read_only_role_is_a_503_naming_it_and_the_grant(
    airflow_app, token, least_privilege_roles, monkeypatch
):
    """A DBA who granted SELECT table by table, not by default privileges, misses a table a later version adds."""
    with DatabaseConnection(least_privilege_roles.etl_url, connect_retries=0) as etl:
        apply_schema(etl)
        with etl.cursor() as cur:
            reader = urlsplit(least_privilege_roles.reader_url).username
            cur.execute(sql.SQL("REVOKE SELECT ON github.language_days FROM {}").format(sql.Identifier(reader)))
        etl.commit()
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", least_privilege_roles.reader_url)

    with _client(airflow_app, token) as client:
        withheld = client.get(f"{PREFIX}/languages")
        listed = client.get(f"{PREFIX}/repositories")

    assert withheld.status_code == 503, withheld.text
    assert withheld.json()["detail"].startswith(
        "The warehouse does not let the API server's role read the table language_days: a DBA grants it USAGE"
    )
    assert listed.status_code == 200


# -- headers --------------------------------------------------------------------------------------

DATA_ROUTES = [
    "/repositories/count",
    "/repositories",
    "/repositories/octo/hello",
    "/repositories/octo/hello/history",
    "/runs",
    "/trending",
    "/languages",
    "/languages/shares",
]


@pytest.mark.parametrize("route", DATA_ROUTES)
def test_data_behind_the_login_is_not_stored_by_a_browser_or_proxy_nor_sniffed(client, route):
    """Chromium keeps a fetch() answer without Cache-Control on disk, and serves it after its user logged out."""
    response = client.get(f"{PREFIX}{route}")

    assert response.status_code in (200, 404), response.text
    assert (response.headers["Cache-Control"], response.headers["X-Content-Type-Options"]) == ("no-store", "nosniff")


@pytest.mark.parametrize(
    ("route", "caching"),
    [
        ("/ui/", "no-cache"),
        ("/docs", "no-store"),
        ("/ui/static/insights.js", "no-cache"),
        ("/openapi.json", "no-store"),
    ],
)
def test_the_page_its_assets_and_the_docs_forbid_mime_sniffing(client, route, caching):
    """They carry no data: the page and its scripts keep their own caching."""
    response = client.get(f"{PREFIX}{route}")

    assert response.status_code == 200, response.text
    assert (response.headers["Cache-Control"], response.headers["X-Content-Type-Options"]) == (caching, "nosniff")
