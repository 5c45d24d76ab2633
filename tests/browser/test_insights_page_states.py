"""The GitHub insights page in a real headless Chromium against canned API answers, without Airflow.

A small HTTP server serves the plugin's page and assets at the paths the plugin does (``<prefix>/ui/``,
``<prefix>/ui/static/...``), under its Content-Security-Policy, and answers the API paths beside them
(``<prefix>/...``, which the page finds relative to its own address) from each test's routes. Every answer
is built from the API's own pydantic models, and a 422 is FastAPI's own, so the shapes cannot drift from
``github_etl.api``. Each test sets up one state the page must put in words or draw right: days without a
load, a read of load runs cut inside a day, a number typed as the field allows, a refused filter, a window
without gains, a failed sparkline, and a repository observed once in the chosen window only.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel

from github_etl.api import ui
from github_etl.api.insight_models import (
    HistoryPoint,
    LanguageShares,
    RepositoryHistory,
    TrendingPage,
    TrendingQuery,
    TrendingRepository,
)
from github_etl.api.models import LoadRun, LoadRunList, RepositoryPage
from github_etl.plugin import API_URL_PREFIX
from github_etl.settings import DAG_ID

pytest.importorskip("selenium", reason="selenium is not installed (requirements-dev.txt pins it)")

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

# One worker runs the browser tests (tests/browser/conftest.py); these start no Airflow.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

END = date(2026, 11, 14)
WAIT_SECONDS = 30
# A route answers a request's query parameters with a status and a body (a model, or FastAPI's JSON).
Route = Callable[[dict[str, str]], tuple[int, Any]]


def _ok(body: BaseModel) -> Route:
    return lambda query: (200, body)


def _run(day: date, hour: int, n: int = 0) -> LoadRun:
    at = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    zero = ("listed", "enriched", "skipped", "rejected", "updated", "unchanged", "duplicates", "marked_deleted")
    times = dict.fromkeys(("logical_date", "observed_at", "started_at", "finished_at", "checks_passed_at"), at)
    return LoadRun(
        **dict.fromkeys((*zero, "missing_owners", "read_over_rest"), 0),
        **times,
        run_id=f"scheduled__{at.isoformat()}-{n}",
        dag_id=DAG_ID,
        mode="sample",
        rejected_reasons={},
        inserted=10,
        api_requests=5,
        unreachable=[],
        generation=n + 1,
    )


def _item(owner: str, name: str, stars: int, gain: int) -> TrendingRepository:
    named = {"id": len(owner + name), "full_name": f"{owner}/{name}", "owner_login": owner, "name": name}
    blank = dict.fromkeys(("html_url", "description"))
    return TrendingRepository(
        **named, **blank, language="Python", start_stargazers_count=stars - gain, stargazers_count=stars, gain=gain
    )


def _trending(items: list[TrendingRepository], compared: int = 3, rising: int | None = None) -> TrendingPage:
    start, rising = END - timedelta(days=7), len(items) if rising is None else rising
    basis = f"Star gains from {start} to {END}, counting only the {compared} repositories observed on both dates; "
    dates = {"window_days": 7, "start_date": start, "end_date": END}
    return TrendingPage(
        **dates,
        compared=compared,
        rising=rising,
        basis=f"{basis}{rising} of them gained stars.",
        items=items,
        next_cursor=None,
    )


def _history(full_name: str, days: int, stars: dict[date, int]) -> RepositoryHistory:
    first = END - timedelta(days=days - 1)
    points = [
        HistoryPoint(date=day, stargazers_count=stars.get(day), forks_count=None, open_issues_count=None)
        for day in (first + timedelta(days=n) for n in range(days))
    ]
    return RepositoryHistory(
        id=1, full_name=full_name, start_date=first, end_date=END, observed_days=len(stars), points=points
    )


def _refusal(**params: str) -> dict[str, Any]:
    """FastAPI's 422 body for ``GET /trending?<params>``: the API's query model, validated as the API does."""
    app = FastAPI()

    @app.get("/trending")
    def trending(query: Annotated[TrendingQuery, Query()]) -> None:
        raise AssertionError(f"{params} is a valid query")

    answer = TestClient(app).get("/trending", params=params)
    assert answer.status_code == 422, answer.text
    return answer.json()


class _Site:
    """The page and its API on 127.0.0.1: ``routes`` maps an API path (after the prefix) to its answers."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {
            "trending": _ok(_trending([])),
            "languages/shares": _ok(LanguageShares(dates=[], series=[])),
            "runs": _ok(LoadRunList(items=[_run(END, 1)])),
            "repositories": _ok(RepositoryPage(items=[], next_cursor=None)),
        }
        self.requests: list[tuple[str, dict[str, str]]] = []
        # As github_etl.api.ui serves it, naming the DAG.
        self.page = (ui.UI_DIR / "index.html").read_bytes().replace(b"__DAG_ID__", html.escape(DAG_ID).encode())
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                path = unquote(url.path).removeprefix(f"{API_URL_PREFIX}/")
                query = dict(parse_qsl(url.query))
                headers = {"Content-Security-Policy": ui.CONTENT_SECURITY_POLICY}
                if path == "ui/":
                    return self._send(200, site.page, "text/html; charset=utf-8", headers)
                if path.startswith("ui/static/") and path.removeprefix("ui/static/") in ui.ASSETS:
                    relative, media_type = ui.ASSETS[path.removeprefix("ui/static/")]
                    return self._send(200, (ui.UI_DIR / relative).read_bytes(), media_type, headers)
                site.requests.append((path, query))
                status, body = site.routes.get(path, lambda q: (404, {"detail": "Not Found"}))(query)
                text = body.model_dump_json() if isinstance(body, BaseModel) else json.dumps(body)
                return self._send(status, text.encode(), "application/json", {})

            def _send(self, status: int, body: bytes, media_type: str, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in {**headers, "Content-Type": media_type, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}{API_URL_PREFIX}/ui/"

    def open(self, driver: WebDriver, fragment: str = "") -> None:
        driver.get(self.url + fragment)
        _until(driver, "return document.body.dataset.ready === 'true'")


@pytest.fixture
def site() -> Iterator[_Site]:
    served = _Site()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()
        thread.join()


def _until(driver: WebDriver, script: str) -> Any:
    return WebDriverWait(driver, WAIT_SECONDS).until(lambda d: d.execute_script(script), message=script)


def _message(driver: WebDriver, section: str) -> str:
    return driver.find_element(By.ID, f"{section}-message").get_attribute("textContent")


def _runs_chart(driver: WebDriver) -> dict[str, list[Any]]:
    script = "const c = window.githubEtlCharts.runs; return {labels: c.data.labels, rows: c.data.datasets[0].data};"
    return driver.execute_script(script)


def _trending_rows(driver: WebDriver) -> list[list[str]]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#trending-table tbody tr')]"
        ".map((row) => [...row.cells].map((cell) => cell.textContent));"
    )


def _apply_trending(driver: WebDriver, field: str, typed: str) -> None:
    """Type ``typed`` in the trending form's ``field`` and apply it; return once the section has its answer."""
    driver.find_element(By.ID, f"trending-{field}").send_keys(typed)
    driver.find_element(By.ID, "trending-apply").click()
    _until(driver, "return !document.getElementById('trending-section').hasAttribute('aria-busy')")


def test_runs_chart_shows_days_without_a_load_as_gaps(browser: WebDriver, site: _Site) -> None:
    first = END - timedelta(days=4)
    site.routes["runs"] = _ok(LoadRunList(items=[_run(END, 1), _run(first, 1)]))
    site.open(browser)

    assert _runs_chart(browser) == {
        "labels": [str(first + timedelta(days=n)) for n in range(5)],
        "rows": [10, None, None, None, 10],
    }
    assert _message(browser, "runs") == (
        "2 runs over 5 days (observation dates, UTC); 3 days without a load are left as gaps."
    )


def test_runs_chart_leaves_out_the_day_its_last_500_runs_reach_only_in_part(browser: WebDriver, site: _Site) -> None:
    # An hourly harvest, newest first: 20 whole days and the last 20 runs of the day before them.
    runs = [_run(END - timedelta(days=n // 24), 23 - n % 24, n) for n in range(500)]
    site.routes["runs"] = _ok(LoadRunList(items=runs))
    site.open(browser)

    chart = _runs_chart(browser)
    assert chart["labels"] == [str(END - timedelta(days=n)) for n in reversed(range(20))]
    assert chart["rows"] == [24 * 10] * 20
    assert _message(browser, "runs") == (
        "480 runs over 20 days (observation dates, UTC); the page reads the last 500 runs, which hold only part "
        f"of {END - timedelta(days=20)}: that day is left out."
    )


def test_min_stars_typed_in_exponent_notation_is_sent_as_an_integer(browser: WebDriver, site: _Site) -> None:
    page = _trending([_item("octo", "alpha", 2000, 50)])
    site.routes["trending"] = lambda q: (200, page) if q.get("min_stars", "1000") == "1000" else (422, _refusal(**q))
    site.open(browser, "#octo/alpha")

    _apply_trending(browser, "min-stars", "1e3")  # a valid number to the field: 1000

    assert [q.get("min_stars") for path, q in site.requests if path == "trending"] == [None, "1000"]
    assert _message(browser, "trending") == page.basis
    assert [row[1] for row in _trending_rows(browser)] == ["octo/alpha"]


def test_a_refused_filter_is_explained_in_the_api_s_words(browser: WebDriver, site: _Site) -> None:
    site.routes["trending"] = lambda q: (422, _refusal(**q)) if "topic" in q else (200, _trending([]))
    site.open(browser)

    _apply_trending(browser, "topic", "x" * 256)

    assert _message(browser, "trending") == (
        "The API refused the request: topic: String should have at most 255 characters."
    )


def test_a_window_without_gains_does_not_blame_filters_nobody_set(browser: WebDriver, site: _Site) -> None:
    quiet, filtered = _trending([], rising=0), _trending([], rising=2)
    site.routes["trending"] = lambda q: (200, filtered if "language" in q else quiet)
    site.open(browser)
    assert _message(browser, "trending") == f"{quiet.basis} No repository gained stars: none to list."

    _apply_trending(browser, "language", "COBOL")
    assert _message(browser, "trending") == f"{filtered.basis} None matches the filters: no repository to list."


def test_one_failed_sparkline_keeps_the_trending_table(browser: WebDriver, site: _Site) -> None:
    busy = "The warehouse is unavailable: every connection to it stayed busy."
    site.routes["trending"] = _ok(_trending([_item("octo", "alpha", 2000, 50), _item("acme", "gamma", 900, 30)]))
    alpha = _history("octo/alpha", 8, {END - timedelta(days=7): 1950, END: 2000})
    site.routes["repositories/octo/alpha/history"] = _ok(alpha)
    site.routes["repositories/acme/gamma/history"] = lambda q: (503, {"detail": busy})
    site.open(browser, "#octo/alpha")

    rows = _trending_rows(browser)
    assert [row[1] for row in rows] == ["octo/alpha", "acme/gamma"]
    assert rows[1][5] == f"no history: {busy}"
    assert browser.find_element(By.ID, "trending-table-box").is_displayed()
    sparklines = "return window.githubEtlCharts.sparklines.map((c) => c.$repository);"
    assert browser.execute_script(sparklines) == ["octo/alpha"]


def test_a_repository_observed_once_in_the_window_only_is_said_so(browser: WebDriver, site: _Site) -> None:
    # Refreshed monthly: 30 days ending on its latest observation hold that one only.
    site.routes["repositories/octo/alpha/history"] = _ok(_history("octo/alpha", 30, {END: 900}))
    site.open(browser, "#octo/alpha")

    assert _message(browser, "history") == (
        f"octo/alpha was observed once, on {END}, with 900 stars, in the 30 days ending that day: a history needs "
        "a second observation; 90 or 365 days may hold one."
    )
