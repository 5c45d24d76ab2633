"""Load test of the repository API as deployed: ``airflow api-server`` with the plugin, Airflow login on.

Fills a throwaway database with generated repositories (``generate_series``, indexes built after the rows),
starts Airflow's API server on 127.0.0.1 with SimpleAuthManager and that database as ``postgres_default``,
logs in through ``POST /auth/token`` and calls each endpoint from one client, then from ``--clients``
concurrent keep-alive connections (:mod:`bench.http_load`: asyncio, raw sockets, a few microseconds of
CPU per request, so the generator takes little from the server it shares the machine with). Besides the
API's count and filtered list it measures the floor under any plugin route: a trivial route of a second
plugin (the same Airflow login dependency, no database), the same route without login, and Airflow's own
logged-in ``/ui/config``. It reports requests/s, latency percentiles and errors, says whether p95 < 50 ms
is met at ``--clients``, and removes everything it made.

The views over time (a repository's history, trending, languages) are measured on ``--days`` days of
snapshots of every repository (a month's partition filled by ``generate_series`` and keyed afterwards,
then each day's summaries built by the function the load calls), with ``--insight-clients`` clients
against their own target, p95 < 100 ms; every request of those asks for something different.

Usage::

    .venv/bin/python bench/api_bench.py [--rows N] [--days N] [--clients N] [--insight-clients N]
        [--seconds S] [--workers N]

``GITHUB_ETL_BENCH_POSTGRES_URL`` names the PostgreSQL server (default: the local one, as ``postgres``); the
role must be allowed to create databases. Clients, server and PostgreSQL share this machine's CPUs, so the
figures are those of a saturated host, a floor rather than a ceiling.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psutil
import psycopg2
import requests
from psycopg2 import sql

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)]

from bench.http_load import run_load  # noqa: E402
from config.airflow_local_settings import GC_THRESHOLD_VARIABLE  # noqa: E402
from github_etl.hooks.warehouse import DatabaseConnection, apply_schema  # noqa: E402
from github_etl.load import MERGE_WORK_MEM  # noqa: E402
from github_etl.settings import DEFAULT_SQL_DIR  # noqa: E402
from tools.airflow_processes import AirflowProcesses, free_port  # noqa: E402

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
HOST = "127.0.0.1"
USERNAME = "bench"


class DistinctListPaths(Sequence[str]):
    """Filtered list requests that are all different (language and lowest star count vary), each a full page.

    What a client asking for pages nobody asked for since the last load gets: the page is read and
    serialized, the API's page cache only costs its bookkeeping.
    """

    LANGUAGES = ("Python", "JavaScript", "TypeScript", "Go", "Rust", "Java", "C", "C++", "Ruby")

    def __len__(self) -> int:
        # 5,000 star thresholds per language: every page full with the generated stars, and more distinct
        # requests than a measurement makes.
        return len(self.LANGUAGES) * 5_000

    def __getitem__(self, index):  # type: ignore[override]
        language = self.LANGUAGES[index % len(self.LANGUAGES)]
        return f"/github-etl/repositories?language={quote(language)}&min_stars={10 + index // len(self.LANGUAGES)}"


# The endpoints the target is about. The filtered list is asked as the issue asks it, one page over and
# over (served from the page cache after its first read), and as pages that are all different.
ENDPOINTS: dict[str, str | Sequence[str]] = {
    "count": "/github-etl/repositories/count",
    "filtered_list": "/github-etl/repositories?language=Python&min_stars=10",
    "filtered_list_distinct": DistinctListPaths(),
}
# The views over time, each request different: a random repository's month, trending over a day or a
# week with and without filters, the languages of a random day against a random window.
INSIGHT_CLIENTS = 20
INSIGHT_TARGET_P95_MS = 100.0
# GITHUB_ETL_GC_THRESHOLD of the API server in docker-compose.yaml and the Helm values.
DEPLOYED_GC_THRESHOLD = 50_000
# The first day of the generated snapshots; a month of 30 days, so that they fill one partition.
FIRST_DAY = date(2025, 6, 1)


class InsightPaths(Sequence[str]):
    """Requests of one view over time, all different, spread over the generated repositories and days.

    :param kind: ``history``, ``trending`` or ``languages``.
    :param rows: repositories generated.
    :param days: days of snapshots generated.
    """

    LANGUAGES = DistinctListPaths.LANGUAGES
    # A prime stride visits the repositories in an order unrelated to their ids.
    STRIDE = 7_919

    def __init__(self, kind: str, rows: int, days: int) -> None:
        self.kind, self.rows, self.days = kind, rows, days

    def __len__(self) -> int:
        return 100_000

    def __getitem__(self, index):  # type: ignore[override]
        if self.kind == "history":
            g = 1 + (index * self.STRIDE) % self.rows
            return f"/github-etl/repositories/owner{g % 50000}/repo{g}/history?days={self.days}"
        if self.kind == "trending":
            window = (1, 7)[index % 2]
            end = FIRST_DAY + timedelta(days=self.days - 1 - index % max(1, self.days - window))
            path = f"/github-etl/trending?window_days={window}&end_date={end}&limit=25"
            extra = index // 2 % 4
            if extra == 1:
                path += f"&language={quote(self.LANGUAGES[index % len(self.LANGUAGES)])}"
            elif extra == 2:
                path += f"&topic=topic{index % 100}"
            elif extra == 3:
                path += f"&min_stars={100 * (index % 50)}"
            return path
        day = FIRST_DAY + timedelta(days=index % self.days)
        return f"/github-etl/languages?date={day}&window_days={1 + index % 30}"


# Reported, but not part of the target: the request is one filtered list.
BEYOND_TARGET = {"filtered_list_distinct"}
FLOOR_PREFIX = "/bench-floor"
# What any plugin route costs before its own work, under the same load.
FLOORS = {
    # A route of a second plugin behind the API's own login and DAG permission check, doing nothing: the floor.
    "floor_plugin_login": f"{FLOOR_PREFIX}/ping",
    # The same without login: what Airflow's server, middlewares and the mount cost alone.
    "floor_plugin_anonymous": f"{FLOOR_PREFIX}/ping-anonymous",
    # Airflow's own cheapest logged-in route (no query).
    "airflow_ui_config": "/ui/config",
}
# The floor plugin: installed beside the project's plugin in the benchmark's own plugins folder.
FLOOR_PLUGIN = f"""
from typing import Annotated

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI

from github_etl.api.security import require_dag_reader

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/ping", dependencies=[Depends(require_dag_reader)])
async def ping() -> dict:
    return {{"ok": True}}


@app.get("/ping-anonymous")
async def ping_anonymous() -> dict:
    return {{"ok": True}}


class BenchFloorPlugin(AirflowPlugin):
    name = "bench_floor"
    fastapi_apps = [{{"app": app, "url_prefix": "{FLOOR_PREFIX}", "name": "bench floor"}}]
"""
# The same endpoints one request at a time: latency without queueing.
SINGLE_CLIENT_SECONDS = 5.0
TARGET_P95_MS = 50.0
# Building Airflow's app takes a while on a small machine (every core route is declared at start-up).
SERVER_START_TIMEOUT = 300.0
WARM_UP_SECONDS = 1.0

FILL_SQL = """
INSERT INTO github.repositories
    (id, node_id, full_name, name, owner_login, owner_type, description, html_url, language, license_spdx_id,
     topics, stargazers_count, forks_count, open_issues_count, watchers_count, size, default_branch,
     fork, archived, visibility, created_at, updated_at, pushed_at, first_seen_at, last_seen_at)
SELECT g, 'R_' || g, 'owner' || g % 50000 || '/repo' || g, 'repo' || g, 'owner' || g % 50000, 'User',
       'Generated repository ' || g, 'https://github.com/owner' || g % 50000 || '/repo' || g,
       (ARRAY['Python', 'JavaScript', 'TypeScript', 'Go', 'Rust', 'Java', 'C', 'C++', 'Ruby', NULL])[1 + g % 10],
       'MIT', ARRAY['topic' || g % 100, 'topic' || g % 7],
       -- A long tail like GitHub's: most repositories have a few stars, a few have very many.
       ((g::bigint * 7919) % 100000) / (1 + g % 97), g % 1000, g % 300, g % 500, g % 100000, 'main',
       g % 13 = 0, g % 17 = 0, 'public',
       timestamptz '2010-01-01' + (g::bigint * 37 % 400000000) * interval '1 second',
       timestamptz '2024-01-01' + (g % 86400) * interval '1 second',
       CASE WHEN g % 50 = 0 THEN NULL
            ELSE timestamptz '2015-01-01' + (g::bigint * 53 % 300000000) * interval '1 second' END,
       now(), now()
FROM generate_series(1, {rows}) AS g
"""

# One day of snapshots of every repository, in id order. Stars grow by a few a day for one repository in
# ten (a month of growth ending on the repository's current count) and stay put for the others.
SNAPSHOT_DAY_SQL = """
INSERT INTO {partition} (repo_id, snapshot_date, stargazers_count, forks_count, open_issues_count, generation)
SELECT id, %(day)s,
       greatest(0, stargazers_count - CASE WHEN id %% 10 = 0 THEN (id * 31 %% 50) * %(days_left)s ELSE 0 END),
       forks_count, open_issues_count, generation
FROM github.repositories
ORDER BY id
"""


def run(
    n_rows: int = 1_000_000,
    clients: int = 50,
    seconds: float = 10,
    workers: int = 2,
    *,
    days: int = 30,
    insight_clients: int = INSIGHT_CLIENTS,
    only_insights: bool = False,
    gc_threshold: int = DEPLOYED_GC_THRESHOLD,
) -> dict[str, Any]:
    """Measure the API under load and return the figures.

    :param n_rows: repositories generated.
    :param clients: concurrent clients (keep-alive connections) per endpoint.
    :param seconds: measuring time per endpoint.
    :param workers: API server worker processes.
    :param days: days of snapshots of every repository, at most 30 (one month's partition).
    :param insight_clients: concurrent clients of the views over time.
    :param only_insights: measure the views over time alone (no count, list or floors).
    :param gc_threshold: the API server's ``GITHUB_ETL_GC_THRESHOLD``; 0 leaves Python's default.
    :returns: ``{"rows": ..., "clients": ..., "endpoints": {name: {"1": figures, str(clients): figures}},
        "floors": {name: {...}}, "target_met": bool, "insights": {name: {...}}, "insights_target_met": bool,
        "snapshot_fill": {...}}``, figures being ``{"requests", "errors", "rps", "p50_ms", "p95_ms",
        "p99_ms", "max_ms", "first_error"}``.
    """
    server_url = os.environ.get("GITHUB_ETL_BENCH_POSTGRES_URL", DEFAULT_SERVER_URL)
    with _throwaway_database(server_url) as database_url:
        started = time.perf_counter()
        _fill(database_url, n_rows)
        print(f"filled {n_rows:,} repositories in {time.perf_counter() - started:.1f} s", flush=True)
        snapshot_fill = _fill_snapshots(database_url, days)
        with _api_server(database_url, workers, gc_threshold) as (port, token):
            measured = {} if only_insights else ENDPOINTS
            endpoints = {name: _measure(name, port, path, token, clients, seconds) for name, path in measured.items()}
            floors = {} if only_insights else FLOORS
            floors = {name: _measure(name, port, path, token, clients, seconds) for name, path in floors.items()}
            insights = {
                kind: _measure(
                    kind, port, InsightPaths(kind, n_rows, days), token, insight_clients, seconds, INSIGHT_TARGET_P95_MS
                )
                for kind in ("history", "trending", "languages")
            }
    met = all(_meets(figures[str(clients)]) for name, figures in endpoints.items() if name not in BEYOND_TARGET)
    if endpoints:
        verdict = "MET" if met else "MISSED"
        print(f"target p95 < {TARGET_P95_MS:.0f} ms at {clients} clients (count, filtered list): {verdict}", flush=True)
    insights_met = all(_meets(figures[str(insight_clients)], INSIGHT_TARGET_P95_MS) for figures in insights.values())
    for kind, figures in insights.items():
        print(f"  {kind}: p95 {figures[str(insight_clients)]['p95_ms']} ms at {insight_clients} clients")
    print(
        f"target p95 < {INSIGHT_TARGET_P95_MS:.0f} ms at {insight_clients} clients (history, trending, languages)"
        f" on {n_rows:,} repositories x {days} days: {'MET' if insights_met else 'MISSED'}",
        flush=True,
    )
    for name in sorted(BEYOND_TARGET & set(endpoints)):
        beyond = endpoints[name][str(clients)]
        print(f"  beyond the target, {name}: p95 {beyond['p95_ms']} ms ({'meets' if _meets(beyond) else 'misses'})")
    return {
        "rows": n_rows,
        "clients": clients,
        "seconds": seconds,
        "workers": workers,
        "gc_threshold": gc_threshold or None,
        "endpoints": endpoints,
        "floors": floors,
        "target_met": met if endpoints else None,
        "days": days,
        "snapshot_fill": snapshot_fill,
        "insight_clients": insight_clients,
        "insights": insights,
        "insights_target_met": insights_met,
    }


def _measure(
    name: str,
    port: int,
    path: str | Sequence[str],
    token: str,
    clients: int,
    seconds: float,
    target_ms: float = TARGET_P95_MS,
) -> dict[str, Any]:
    """Figures of ``path`` with one client, then with ``clients``, keyed ``"1"`` and ``str(clients)``.

    The figures of the concurrent run include how its connections were spread over the server's worker
    processes, counted halfway through the window: a worker holding most of them sets the tail latency.
    """
    headers = {"Authorization": f"Bearer {token}"}
    figures = {}
    for n, window in ((1, SINGLE_CLIENT_SECONDS), (clients, seconds)):
        spread: list[list[int]] = []
        census = threading.Timer(WARM_UP_SECONDS + window / 2, _take_census, (spread, port))
        if n > 1:
            census.start()
        # The warm-up runs on the measured connections: they are open, and spread over the workers, when timing starts.
        result = run_load(HOST, port, path, connections=n, seconds=window, headers=headers, warmup=WARM_UP_SECONDS)
        if n > 1:
            census.join()
        figures[str(n)] = {**result.summary(), "connections_per_worker": spread[0] if spread else []}
        print(_format(f"{name} x{n}", figures[str(n)], target_ms), flush=True)
    return figures


def _take_census(into: list[list[int]], port: int) -> None:
    into.append(_connections_per_process(port))


def _connections_per_process(port: int) -> list[int]:
    """Established connections to ``port`` per server process, most first; empty where the OS does not say."""
    try:
        connections = psutil.net_connections("tcp")
    except (psutil.AccessDenied, OSError):
        return []
    per_process = Counter(
        c.pid for c in connections if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED and c.pid
    )
    return sorted(per_process.values(), reverse=True)


# -- the warehouse --------------------------------------------------------------------------------


@contextlib.contextmanager
def _throwaway_database(server_url: str) -> Iterator[str]:
    name = f"github_etl_bench_{uuid.uuid4().hex[:12]}"
    _autocommit(server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        _autocommit(server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _autocommit(url: str, statement: sql.Composable) -> None:
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def _fill(database_url: str, n_rows: int) -> None:
    """Generate the rows with the secondary indexes dropped, then let the schema build them in bulk."""
    db = DatabaseConnection(database_url, connect_retries=0)
    try:
        apply_schema(db)
        with db.cursor() as cur:
            cur.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'github' AND tablename = 'repositories'"
                " AND indexname <> 'repositories_pkey'"
            )
            for (index,) in cur.fetchall():
                cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier("github", index)))
            cur.execute(sql.SQL(FILL_SQL).format(rows=sql.Literal(n_rows)))
        db.commit()
        apply_schema(db)
        db.connection.autocommit = True  # VACUUM cannot run in a transaction
        with db.cursor() as cur:
            # Sets the visibility map, so count(*) is an index-only scan, as on a table autovacuum keeps.
            cur.execute("VACUUM (ANALYZE) github.repositories")
    finally:
        db.close()


def _fill_snapshots(database_url: str, days: int) -> dict[str, Any]:
    """``days`` days of snapshots of every repository, then each day's summaries as the load builds them.

    The month's partition is filled unindexed, keyed, then attached, as a bulk load would; the summaries
    are built a day at a time by ``github.refresh_day_summaries``, each day's time being what the daily
    load spends on them.
    """
    if not 1 <= days <= 30:
        raise ValueError(f"days must be 1 to 30 (one month's partition), got {days}")
    partition = sql.Identifier("github", f"repository_snapshots_{FIRST_DAY:%Y_%m}")
    db = DatabaseConnection(database_url, connect_retries=0)
    try:
        began = time.perf_counter()
        with db.cursor() as cur:
            cur.execute(sql.SQL("CREATE TABLE {} (LIKE github.repository_snapshots)").format(partition))
            for offset in range(days):
                day = FIRST_DAY + timedelta(days=offset)
                cur.execute(
                    sql.SQL(SNAPSHOT_DAY_SQL).format(partition=partition), {"day": day, "days_left": days - 1 - offset}
                )
            cur.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (repo_id, snapshot_date)").format(partition))
            cur.execute(
                sql.SQL(
                    "ALTER TABLE github.repository_snapshots ATTACH PARTITION {} FOR VALUES FROM (%s) TO (%s)"
                ).format(partition),
                (FIRST_DAY, date(FIRST_DAY.year + FIRST_DAY.month // 12, FIRST_DAY.month % 12 + 1, 1)),
            )
        db.commit()
        filled = time.perf_counter() - began
        db.connection.autocommit = True
        with db.cursor() as cur:
            cur.execute(sql.SQL("VACUUM (ANALYZE) {}").format(partition))
        refreshes = []
        with db.cursor() as cur:
            # The load's own settings for its transaction (github_etl.load._tune_transaction).
            cur.execute("SET work_mem = %s", (MERGE_WORK_MEM,))
            cur.execute("SET jit = off")
            for offset in range(days):
                began = time.perf_counter()
                cur.execute("SELECT github.refresh_day_summaries(%s)", (FIRST_DAY + timedelta(days=offset),))
                refreshes.append(time.perf_counter() - began)
        db.connection.autocommit = True
        with db.cursor() as cur:
            # As autovacuum leaves tables written once: all-visible, so the gains' indexes answer alone.
            cur.execute(
                "VACUUM (ANALYZE) github.star_gains, github.star_gain_topics, github.language_days,"
                " github.star_gain_windows"
            )
    finally:
        db.close()
    figures = {
        "days": days,
        "snapshots_seconds": round(filled, 1),
        "summaries_seconds": round(sum(refreshes), 1),
        "summaries_last_day_seconds": round(refreshes[-1], 2),
    }
    print(
        f"filled {days} days of snapshots in {figures['snapshots_seconds']} s; day summaries in"
        f" {figures['summaries_seconds']} s (the last day's, as a daily load builds them: "
        f"{figures['summaries_last_day_seconds']} s)",
        flush=True,
    )
    return figures


# -- the API server -------------------------------------------------------------------------------


@contextlib.contextmanager
def _api_server(database_url: str, workers: int, gc_threshold: int) -> Iterator[tuple[int, str]]:
    """``airflow api-server`` on a free port of 127.0.0.1; yields its port and a token of its user.

    Its ``$AIRFLOW_HOME/config`` is the project's, as in the image, and ``gc_threshold`` (unless 0) its
    ``GITHUB_ETL_GC_THRESHOLD``, as the deployment files set it.
    """
    home = Path(tempfile.mkdtemp(prefix="github-etl-bench-airflow-"))
    password = secrets.token_urlsafe(16)
    passwords_file = home / "passwords.json"
    passwords_file.write_text(json.dumps({USERNAME: password}))
    (home / "dags").mkdir()
    plugins = home / "plugins"
    plugins.mkdir()
    # Airflow follows symbolic links when it scans the plugins folder.
    (plugins / "github_etl").symlink_to(PROJECT_ROOT / "plugins" / "github_etl", target_is_directory=True)
    (plugins / "bench_floor.py").write_text(FLOOR_PLUGIN)
    (home / "config").symlink_to(PROJECT_ROOT / "config", target_is_directory=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW_CONN_POSTGRES_DEFAULT": database_url,
        "GITHUB_ETL_SQL_DIR": str(DEFAULT_SQL_DIR),
    }
    env.pop(GC_THRESHOLD_VARIABLE, None)
    if gc_threshold:
        env[GC_THRESHOLD_VARIABLE] = str(gc_threshold)
    processes = AirflowProcesses(env, log_dir=home / "process-logs")
    try:
        processes.run("db", "migrate", timeout=SERVER_START_TIMEOUT)
        port = free_port()
        base_url = f"http://{HOST}:{port}"
        processes.start("api-server", "api-server", "--host", HOST, "--port", str(port), "--workers", str(workers))
        processes.wait(lambda: _serving(base_url), timeout=SERVER_START_TIMEOUT, what=f"{base_url} to serve")
        credentials = {"username": USERNAME, "password": password}
        login = requests.post(f"{base_url}/auth/token", json=credentials, timeout=30)
        login.raise_for_status()
        yield port, login.json()["access_token"]
    finally:
        processes.stop()
        shutil.rmtree(home, ignore_errors=True)


def _serving(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/github-etl/openapi.json", timeout=5).status_code == 200
    except requests.RequestException:
        return False


# -- the report -----------------------------------------------------------------------------------


def _meets(figures: dict[str, Any], target_ms: float = TARGET_P95_MS) -> bool:
    return figures["p95_ms"] is not None and figures["p95_ms"] < target_ms and not figures["errors"]


def _format(name: str, figures: dict[str, Any], target_ms: float = TARGET_P95_MS) -> str:
    line = (
        f"{name:>28}: {figures['rps']:8.1f} req/s  p50 {figures['p50_ms']} ms  p95 {figures['p95_ms']} ms  "
        f"p99 {figures['p99_ms']} ms  max {figures['max_ms']} ms  errors {figures['errors']}/{figures['requests']}"
        f"  ({'meets' if _meets(figures, target_ms) else 'misses'} p95 < {target_ms:.0f} ms)"
    )
    if len(figures.get("connections_per_worker") or []) > 1:
        line += f"  connections per worker {'/'.join(map(str, figures['connections_per_worker']))}"
    if figures["first_error"]:
        line += f"\n{'':>30}first error: {figures['first_error'][:500]}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--insight-clients", type=int, default=INSIGHT_CLIENTS)
    parser.add_argument("--only-insights", action="store_true", help="measure history, trending and languages alone")
    parser.add_argument(
        "--gc-threshold",
        type=int,
        default=DEPLOYED_GC_THRESHOLD,
        help="the API server's GITHUB_ETL_GC_THRESHOLD (default: the deployment files' value); 0: Python's default",
    )
    args = parser.parse_args()
    figures = run(
        args.rows,
        args.clients,
        args.seconds,
        args.workers,
        days=args.days,
        insight_clients=args.insight_clients,
        only_insights=args.only_insights,
        gc_threshold=args.gc_threshold,
    )
    print(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
