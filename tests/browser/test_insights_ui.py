"""The GitHub insights page in a real headless Chromium, inside a real Airflow, as a person reaches it.

The page opened before logging in must ask for a login in every section. The test then logs in through
Airflow's login form, opens the page from Airflow's navigation (the plugin's external view, framed by the
UI), first on an empty warehouse, where every section must say so in a sentence, then on a warehouse of
known snapshots. It searches a repository and reads back what each Chart.js chart drew (the chart objects'
data, through ``window.githubEtlCharts``) against figures computed here from the same snapshots, filters
the trending table by language, topic and least stars; a repository not found and one observed once must
each get a sentence, and a single load run is counted in the singular.
A second test fills the warehouse with text as GitHub serves it to a careless page (markup and script in a
language, ``javascript:`` homepages, names with dots and dashes, emoji, a right-to-left override in a name):
nothing may run or be added to the page, every name and language must read as stored, and a name's
override must not reverse the sentence around it.
Later tests: the sentence saying when the warehouse was last loaded and whether that load passed its checks;
the page at 320 and 640 CSS pixels wide (a browser zoomed to 400 % and 200 %) in both themes.
Screenshots go to ``.artifacts/browser/insights-*.png``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import pytest
from psycopg2 import sql

from github_etl.hooks.warehouse import DatabaseConnection, apply_schema, ensure_snapshot_partition
from tests.browser.airflow_server import LocalAirflow
from tests.browser.conftest import BROWSER_TIME_ZONE
from tests.browser.test_ui import _log_in, _screenshot, _wait

pytest.importorskip("selenium", reason="selenium is not installed (requirements-dev.txt pins it)")

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec

# One worker runs the browser tests, which share one Airflow (tests/browser/conftest.py).
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

FIRST_DAY = date(2026, 11, 1)
DAYS = 14
# No repository was observed on these days: the charts must leave them as gaps.
UNOBSERVED = {5, 9}
# (id, owner, name, language, stars on day d or None when not observed)
REPOSITORIES: list[tuple[int, str, str, str | None, Any]] = [
    (1, "apache", "airflow", "Python", lambda d: 1000 + 12 * d),
    (2, "octo", "alpha", "Go", lambda d: 500 + d * d),
    (3, "acme", "gamma", "Rust", lambda d: 300 + 30 * d),
    (4, "acme", "delta", "TypeScript", lambda d: 800),
    (5, "octo", "solo", "Python", lambda d: 50 if d == DAYS - 1 else None),
    (6, "acme", "plain", None, lambda d: 120 + d),
]
# day the run fetched (day index), inserted, updated, unchanged, API requests
RUNS = [(11, 6, 0, 0, 40), (12, 0, 2, 4, 25), (13, 1, 3, 2, 30), (13, 0, 0, 6, 12)]
# Each run's logical date, as Airflow gives it, which is not the day it fetched: a scheduled run, a backfill
# (`airflow dags trigger -e` of a day weeks before, in America/New_York), a run of midnight in Asia/Kolkata
# (18:30 UTC the day before) that waited for its rate limit past midnight UTC, and one more scheduled run.
RUN_LOGICAL_DATES = [
    datetime(2026, 11, 12, tzinfo=UTC),
    datetime(2026, 11, 3, 4, tzinfo=UTC),
    datetime(2026, 11, 13, 18, 30, tzinfo=UTC),
    datetime(2026, 11, 14, tzinfo=UTC),
]
TRENDING_WINDOW = 7
# Repositories carrying the topic "cli"; the trending form filters on it, and on this many stars.
TOPIC_CLI = {"acme/gamma", "acme/plain"}
MIN_STARS = 1000
RUN_TIME = timedelta(minutes=3)
# The plugin's item in the UI's navigation bar (an external view with nav_top_level).
NAVIGATION_ITEM = "a[aria-label='GitHub insights'][href$='plugin/github-insights']"
SECTIONS = ("history", "trending", "languages", "runs")


def _day(index: int) -> date:
    return FIRST_DAY + timedelta(days=index)


def _stars(repo_id: int, index: int) -> int | None:
    if index in UNOBSERVED:
        return None
    [stars] = [stars for rid, *_, stars in REPOSITORIES if rid == repo_id]
    return stars(index)


# -- the test -------------------------------------------------------------------------------------


def test_insights_page_draws_the_warehouse_from_the_airflow_navigation(
    airflow: LocalAirflow, browser: WebDriver, warehouse_url: str, password: str
) -> None:
    db = DatabaseConnection(warehouse_url, connect_retries=0)
    try:
        apply_schema(db)
        # Opened directly (a bookmark, a link from the docs) before logging in: every section asks for a
        # login; none says the warehouse is empty.
        browser.get(f"{airflow.url}/github-etl/ui/")
        _wait_until_ready(browser)
        assert _messages(browser) == dict.fromkeys(SECTIONS, "Log in to Airflow to see the warehouse.")

        _log_in_and_open_from_navigation(browser, airflow, password)
        _screenshot(browser, "insights-1-empty")
        messages = _messages(browser)
        assert "holds no repository yet" in messages["history"]
        assert messages["trending"] == "The warehouse holds no observation yet: nothing to compare."
        assert messages["languages"] == "The warehouse holds no observation yet."
        assert messages["runs"].startswith("No load run recorded yet")
        assert _visible_charts(browser) == []

        _fill(db)
        browser.switch_to.default_content()
        browser.refresh()
        _enter_page(browser)
    finally:
        db.close()

    # A person west of UTC sees the warehouse's dates as stored, not the day before.
    zone = browser.execute_script("return Intl.DateTimeFormat().resolvedOptions().timeZone")
    assert zone == BROWSER_TIME_ZONE
    # The page opens on the top trending repository; search another one.
    _search(browser, "octo/alpha")
    history = _chart(browser, "history")
    # The page asks for 30 days; the warehouse holds the last DAYS of them.
    assert len(history["labels"]) == 30
    assert history["labels"][-DAYS:] == [str(_day(i)) for i in range(DAYS)]
    assert history["data"][-DAYS:] == [_stars(2, i) for i in range(DAYS)]
    assert all(value is None for value in history["data"][:-DAYS]), "days before the first load are gaps"
    _screenshot(browser, "insights-2-history")

    rows = _trending_rows(browser)
    expected_gains = sorted(
        (
            (_stars(rid, DAYS - 1) - _stars(rid, DAYS - 1 - TRENDING_WINDOW), rid)
            for rid, *_ in REPOSITORIES
            if _stars(rid, DAYS - 1 - TRENDING_WINDOW) is not None
            and _stars(rid, DAYS - 1) - _stars(rid, DAYS - 1 - TRENDING_WINDOW) > 0
        ),
        reverse=True,
    )
    names = {rid: f"{owner}/{name}" for rid, owner, name, *_ in REPOSITORIES}
    expected_rows = [(names[rid], f"+{gain}") for gain, rid in expected_gains]
    assert [(row["repository"], row["gain"]) for row in rows] == expected_rows
    sparklines = _sparklines(browser)
    assert set(sparklines) == {names[rid] for _, rid in expected_gains}
    for _, rid in expected_gains:
        window = range(DAYS - 1 - TRENDING_WINDOW, DAYS)
        assert sparklines[names[rid]] == [_stars(rid, i) for i in window], names[rid]

    languages = _chart(browser, "languages")
    expected_shares = _expected_shares()
    assert languages["labels"] == [str(_day(i)) for i in range(DAYS)]
    assert set(languages["series"]) == set(expected_shares)
    for language, shares in expected_shares.items():
        drawn = languages["series"][language]
        assert [None if v is None else round(v, 6) for v in drawn] == [
            None if v is None else round(v, 6) for v in shares
        ], language

    runs = _chart(browser, "runs")
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for index, inserted, updated, unchanged, requests in RUNS:
        per_day[str(_day(index))][0] += inserted + updated + unchanged
        per_day[str(_day(index))][1] += requests
    assert runs["labels"] == sorted(per_day)
    assert _messages(browser)["runs"] == f"{len(RUNS)} runs over {len(per_day)} days (observation dates, UTC)."
    assert runs["series"] == {
        "rows loaded": [per_day[d][0] for d in sorted(per_day)],
        "GitHub API requests": [per_day[d][1] for d in sorted(per_day)],
    }
    browser.execute_script("window.scrollTo(0, 0)")
    _screenshot(browser, "insights-3-page")
    browser.execute_script("document.getElementById('languages-section').scrollIntoView()")
    _screenshot(browser, "insights-4-languages-and-runs")

    # A language typed in lower case, as GitHub's language: qualifier takes it.
    languages_of = {f"{owner}/{name}": language for _, owner, name, language, _ in REPOSITORIES}
    ids_of = {f"{owner}/{name}": rid for rid, owner, name, *_ in REPOSITORIES}
    expected_python = [row for row in expected_rows if languages_of[row[0]] == "Python"]
    assert expected_python, "the fixture has a rising Python repository"
    _filter_trending(browser, {"language": "python"}, expected_python)
    # A topic in any case (GitHub stores them in lower case), and a least number of stars on the last day.
    expected_topic = [row for row in expected_rows if row[0] in TOPIC_CLI]
    assert expected_topic, "the fixture has a rising repository with the topic"
    _filter_trending(browser, {"language": "", "topic": "CLI"}, expected_topic)
    expected_popular = [row for row in expected_rows if _stars(ids_of[row[0]], DAYS - 1) >= MIN_STARS]
    assert 0 < len(expected_popular) < len(expected_rows), "min stars leaves some rising repositories out"
    _filter_trending(browser, {"topic": "", "min-stars": str(MIN_STARS)}, expected_popular)

    # As a user pastes it from GitHub: its page header, a mention, its address, a clone URL.
    for pasted, drawn in (
        ("acme / gamma", "acme/gamma"),
        ("@octo/alpha", "octo/alpha"),
        ("https://github.com/acme/gamma/tree/main?tab=readme-ov-file", "acme/gamma"),
        ("github.com/octo/alpha", "octo/alpha"),
        ("git@github.com:acme/gamma.git", "acme/gamma"),
    ):
        _search(browser, pasted, drawn=drawn)
    for typed in ("octo alpha", "https://github.com/octo", "@octo"):
        _search_invalid(browser, typed)
    _search(browser, "octo/missing", chart=False)
    assert _messages(browser)["history"] == "No repository octo/missing in the warehouse."
    assert "history" not in _visible_charts(browser)
    _search(browser, "octo/solo", chart=False)
    assert _messages(browser)["history"].startswith(f"octo/solo was observed once, on {_day(DAYS - 1)}, with 50 stars")
    assert "history" not in _visible_charts(browser)
    _screenshot(browser, "insights-5-one-observation")

    # A first load: one run, one day, in the singular.
    db = DatabaseConnection(warehouse_url, connect_retries=0)
    try:
        with db.cursor() as cur:
            cur.execute("DELETE FROM github.load_runs WHERE run_id <> (SELECT min(run_id) FROM github.load_runs)")
        db.commit()
    finally:
        db.close()
    browser.switch_to.default_content()
    browser.refresh()
    _enter_page(browser)
    assert _messages(browser)["runs"] == "1 run over 1 day (observation dates, UTC)."

    # A link names its repository after "#", percent-encoded or as typed; a "%" that encodes nothing is
    # read as typed instead of stopping the page before it is drawn.
    browser.switch_to.default_content()
    for fragment, history in [("octo%2Falpha", "octo/alpha"), ("%E0%A4%A", None)]:
        browser.get(f"{airflow.url}/github-etl/ui/#{fragment}")
        browser.refresh()
        _wait_until_ready(browser)
        if history is None:
            assert _messages(browser)["history"] == "Type a repository as owner/name, e.g. apache/airflow."
        else:
            assert list(_chart(browser, "history")["series"]) == [f"{history} stars"]


# Repositories as GitHub serves them, with text a careless page would run, reorder or overflow on:
# (id, owner, name, language, star gain per day). Names hold dots, dashes and underscores (an owner may
# end with a dash), GitHub's longest (a 39-character owner, a 100-character name without a place to
# break), and a right-to-left override, which must not reverse the page's sentence around it.
RTL_NAME = "rtl/\u202eeman"
LONG_NAME = f"{'o' * 39}/{'n_' * 50}"
HOSTILE_REPOSITORIES: list[tuple[int, str, str, str | None, int]] = [
    (11, "x-", ".github", "C++", 1),
    (12, "a-b", "a..b", "C#", 2),
    (13, "owner-", "-x-", "F*", 3),
    (14, "jup", "note_book", "Jupyter Notebook", 4),
    (15, "vim", "vim.vim", "Vim Script", 5),
    (16, "onec", "1c", "1C Enterprise", 6),
    (17, "evil", "xss", "<img src=x onerror=alert(1)></script><script>alert(2)</script>", 7),
    (18, *RTL_NAME.split("/"), "Python", 8),
    (19, *LONG_NAME.split("/"), "JavaScript", 9),
    (20, "emoji", "astral", "\U0001f600 \U00010348", 10),
    # Never rising, so never trending: the repository a typed "x-/." would reach if "." were a step of its URL.
    (21, "x-", "history", None, 0),
]
HOSTILE_DESCRIPTION = "<img src=x onerror=alert(3)> </script> \u202e\u200b\u200d\ufeff \U0001f600 " + "x" * 2000
HOSTILE_HOMEPAGES = ("javascript:alert(4)", " JAVASCRIPT:alert(5)", "data:text/html,<script>alert(6)</script>")
HOSTILE_DAYS = 8
# Records every dialog the page would open and every element added to it but a table's rows and cells (the
# trending table's, the charts' figures), from before its scripts run.
WATCH_PAGE = """
window.__dialogs = [];
for (const name of ["alert", "confirm", "prompt", "print", "open"]) {
  window[name] = (...args) => { window.__dialogs.push(`${name}(${args.join(", ")})`); };
}
window.__added = [];
new MutationObserver((changes) => {
  for (const change of changes) {
    for (const node of change.addedNodes) {
      if (node.nodeType === 1 && !["TR", "TH", "TD", "BUTTON", "CANVAS"].includes(node.tagName)) {
        window.__added.push(node.outerHTML.slice(0, 200));
      }
    }
  }
}).observe(document, { subtree: true, childList: true });
"""


def test_hostile_repository_text_shows_as_text_and_keeps_the_page_drawn(
    airflow: LocalAirflow, browser: WebDriver, warehouse_url: str, password: str
) -> None:
    db = DatabaseConnection(warehouse_url, connect_retries=0)
    try:
        apply_schema(db)
        _fill_hostile(db)
    finally:
        db.close()
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_PAGE})
    _log_in_and_open_from_navigation(browser, airflow, password)

    names = {rid: f"{owner}/{name}" for rid, owner, name, *_ in HOSTILE_REPOSITORIES}
    languages = {rid: language for rid, *_, language, _ in HOSTILE_REPOSITORIES}
    gains = {rid: TRENDING_WINDOW * gain for rid, *_, gain in HOSTILE_REPOSITORIES}
    by_gain = sorted(HOSTILE_REPOSITORIES, key=lambda repository: repository[-1], reverse=True)
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#trending-table tbody tr'),"
        " (row) => [row.cells[1].textContent, row.cells[2].textContent]);"
    )
    assert rows == [[names[rid], languages[rid]] for rid, *_, gain in by_gain if gain]
    assert set(_sparklines(browser)) == {names[rid] for rid, *_, gain in by_gain if gain}
    # GitHub's longest name wraps in its cell: the table's columns stay on the page beside it, each number
    # on one line.
    assert _overflow(browser) == []
    lines = (
        "return Array.from(document.querySelectorAll('#trending-table td.number'), (cell) => {"
        " const text = document.createRange(); text.selectNodeContents(cell); return text.getClientRects().length; });"
    )
    assert set(browser.execute_script(lines)) == {1}
    # The six languages with the most stars, as the legend names them.
    assert set(_chart(browser, "languages")["series"]) == {_isolated(languages[rid]) for rid, *_ in by_gain[:6]}

    for rid, owner, name, *_ in HOSTILE_REPOSITORIES:
        _search(browser, f"{owner}/{name}")
        # A name outside ASCII is isolated in the sentence and the legend: a right-to-left override in it
        # reverses the name alone, not the words after it.
        message = _messages(browser)["history"]
        assert message.startswith(f"{_isolated(names[rid])}: {HOSTILE_DAYS} observed days"), message
        assert list(_chart(browser, "history")["series"]) == [f"{_isolated(names[rid])} stars"]
        assert _overflow(browser) == [], names[rid]
    # "." and ".." are no names (GitHub refuses them), and in a URL they are steps to another path.
    for typed in ["x-/.", "./x-"]:
        _search_invalid(browser, typed)
    missing = "rtl/\u202emissing"
    _search(browser, missing, chart=False)
    assert _messages(browser)["history"] == f"No repository {_isolated(missing)} in the warehouse."

    for typed, rid in [("C++", 11), ("c#", 12), ("f*", 13), ("jupyter notebook", 14), ('"Vim Script"', 15)]:
        _filter_trending(browser, {"language": typed}, [(names[rid], f"+{gains[rid]}")])
    _filter_trending(browser, {"language": languages[17]}, [(names[17], f"+{gains[17]}")])

    browser.execute_script("window.scrollTo(0, 0)")
    _screenshot(browser, "insights-6-hostile")
    # Nothing ran, nothing was added but the tables' rows, and no link leads anywhere but the licence.
    assert browser.execute_script("return window.__dialogs") == []
    assert browser.execute_script("return window.__added") == []
    assert browser.execute_script("return Array.from(document.links, (link) => link.getAttribute('href'))") == [
        "static/chart.js-LICENSE.md"
    ]
    assert browser.execute_script("return Array.from(document.scripts, (script) => script.getAttribute('src'))") == [
        "static/chart.umd.min.js",
        "static/insights.js",
    ]


# What the page reads off itself: its theme, its text's colour, and the colours each chart drew its axes in
# (Chart.js resolves them on drawing), against the page's own colours.
PAGE_COLOURS = """
const style = getComputedStyle(document.documentElement);
const charts = {};
for (const name of ["history", "languages", "runs"]) {
  const chart = window.githubEtlCharts[name];
  if (!chart) continue;
  charts[name] = Object.values(chart.scales).map((scale) => [scale.options.ticks.color, scale.options.grid.color]);
}
return {
  theme: document.documentElement.dataset.theme,
  text: getComputedStyle(document.body).color,
  muted: style.getPropertyValue("--muted").trim(),
  grid: style.getPropertyValue("--grid").trim(),
  charts: charts,
};
"""
# The form controls and table boxes whose right edge passes their section's: cut off on a narrow window.
CUT_OFF = """
return Array.from(document.querySelectorAll("section input, section select, section button, section .table-box"))
  .filter((element) => element.getClientRects().length)
  .filter((element) => {
    const section = element.closest("section").getBoundingClientRect();
    return element.getBoundingClientRect().right > section.right + 0.5;
  })
  .map((element) => element.id || element.className);
"""


def test_insights_page_follows_airflow_dark_mode_says_what_it_waits_for_and_fits_a_narrow_window(
    airflow: LocalAirflow, browser: WebDriver, warehouse_url: str, password: str
) -> None:
    _filled_warehouse(warehouse_url)
    _log_in(browser, f"{airflow.url}/", password)
    _choose_airflow_theme(browser, "dark")

    # A load holds the runs table: the other sections draw meanwhile, and the runs' section says it waits.
    blocker = psycopg2.connect(warehouse_url)
    try:
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE github.load_runs IN ACCESS EXCLUSIVE MODE")
        _wait(browser).until(ec.element_to_be_clickable((By.CSS_SELECTOR, NAVIGATION_ITEM))).click()
        frame = _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe[src*='github-etl/ui']")))
        browser.switch_to.frame(frame)
        _wait(browser).until(
            lambda d: d.execute_script(
                "return !!(window.githubEtlCharts.history && window.githubEtlCharts.languages)"
                " && !document.getElementById('trending-table-box').hidden"
            ),
            message="history, trending and languages were not drawn while the load runs were locked",
        )
        browser.execute_script("document.getElementById('runs-section').scrollIntoView()")
        _screenshot(browser, "insights-7-dark-runs-waiting")
        waiting = browser.execute_script(
            "const section = document.getElementById('runs-section');"
            " const title = getComputedStyle(section.querySelector('h2'), '::after').content;"
            " return [section.getAttribute('aria-busy'), title, document.getElementById('runs-chart-box').hidden];"
        )
        assert waiting == ["true", '" — loading…"', True]
    finally:
        blocker.rollback()
        blocker.close()
    _wait_until_ready(browser)
    assert browser.execute_script("return document.getElementById('runs-section').getAttribute('aria-busy')") is None

    # Airflow's dark mode: light text, and every chart's ticks and grid in the page's colours, not Chart.js's greys.
    colours = browser.execute_script(PAGE_COLOURS)
    _screenshot(browser, "insights-8-dark")
    assert colours["theme"] == "dark"
    assert _luminance(colours["text"]) > 0.6, colours["text"]
    assert set(colours["charts"]) == {"history", "languages", "runs"}
    for name, scales in colours["charts"].items():
        assert all(scale == [colours["muted"], colours["grid"]] for scale in scales), (name, scales)

    # A chart is an image with its figures in words; the table's columns have headers.
    history = _chart(browser, "history")["data"]
    label = browser.execute_script(
        "const chart = document.getElementById('history-chart');"
        " return [chart.getAttribute('role'), chart.getAttribute('aria-label')];"
    )
    observed = [value for value in history if value is not None]
    assert label[0] == "img"
    assert f"{observed[0]:,} on" in label[1] and f"{observed[-1]:,} on" in label[1], label
    assert (
        browser.execute_script("return Array.from(document.querySelectorAll('#trending-table th'), (th) => th.scope)")
        == ["col"] * 6
    )
    # The warehouse's UTC days beside the zone Airflow shows its times in (the browser's, by default).
    assert f"not always the day in {BROWSER_TIME_ZONE}" in browser.find_element(By.CSS_SELECTOR, ".lead").text

    # Airflow switched back to light with the page open: the page and its charts follow at once.
    browser.switch_to.default_content()
    _choose_airflow_theme(browser, "light")
    browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe[src*='github-etl/ui']"))
    _wait(browser).until(lambda d: d.execute_script(PAGE_COLOURS)["theme"] == "light", message="the page stayed dark")
    colours = browser.execute_script(PAGE_COLOURS)
    assert _luminance(colours["text"]) < 0.2, colours["text"]
    for name, scales in colours["charts"].items():
        assert all(scale == [colours["muted"], colours["grid"]] for scale in scales), (name, scales)

    # A laptop's split screen and a phone: nothing cut off or pushing the page sideways; the table scrolls in its box.
    for width in (800, 420):
        browser.set_window_size(width, 1000)
        browser.execute_script("window.scrollTo(0, 0)")
        _screenshot(browser, f"insights-9-width-{width}")
        assert _overflow(browser) == [], width
        assert browser.execute_script(CUT_OFF) == [], width
    browser.set_window_size(1400, 1000)


# Each chart's plot (Chart.js's chartArea, inside its legend and axes) and the chart's own size.
PLOT_AREAS = """
const areas = {};
for (const name of ["history", "languages", "runs"]) {
  const chart = window.githubEtlCharts[name];
  if (chart) areas[name] = [chart.chartArea.width, chart.chartArea.height, chart.height];
}
return areas;
"""
# A chart narrower than this, or shorter, shows its dates and figures too close to tell apart.
LEAST_PLOT_SIDE = 150


def test_insights_page_says_when_the_warehouse_was_last_loaded_and_whether_its_checks_passed(
    airflow: LocalAirflow, browser: WebDriver, warehouse_url: str, password: str
) -> None:
    db = DatabaseConnection(warehouse_url, connect_retries=0)
    try:
        apply_schema(db)
        # Opened directly, as a bookmark does: logged out, the freshness is not known, for the reason the
        # sections give; logged in, on a warehouse nothing has loaded, the sentence says so.
        browser.get(f"{airflow.url}/github-etl/ui/")
        _wait_until_ready(browser)
        assert _freshness(browser) == "Log in to Airflow to see the warehouse."
        _log_in(browser, f"{airflow.url}/", password)
        browser.get(f"{airflow.url}/github-etl/ui/")
        _wait_until_ready(browser)
        assert _freshness(browser) == "The warehouse has not been loaded yet: no load run is recorded."

        # The latest load (the last to finish) passed its checks.
        _fill(db)
        with db.cursor() as cur:
            cur.execute("UPDATE github.load_runs SET checks_passed_at = finished_at + interval '1 minute'")
        db.commit()
        latest = _day(RUNS[-1][0])
        browser.refresh()
        _wait_until_ready(browser)
        assert _freshness(browser) == f"Latest load: data fetched {latest} 01:00 UTC, quality checks passed."
        _screenshot(browser, "insights-10-fresh")

        # Its checks have not passed: said in words, with the last load whose checks did.
        with db.cursor() as cur:
            cur.execute(
                "UPDATE github.load_runs SET checks_passed_at = NULL"
                " WHERE observed_at = (SELECT max(observed_at) FROM github.load_runs)"
            )
        db.commit()
        browser.refresh()
        _wait_until_ready(browser)
        assert _freshness(browser) == (
            f"Latest load: data fetched {latest} 01:00 UTC, quality checks not passed (failed or not run yet);"
            f" the last load that passed them fetched its data {_day(RUNS[-1][0] - 1)} 01:00 UTC."
        )
        _screenshot(browser, "insights-11-checks-not-passed")

        # A backfill of 500 days a year back loaded after them, none of its checks passed yet: the latest load
        # is its last to finish, whose logical date is the oldest of all, and the last load that passed its
        # checks is further back than the 500 runs the runs chart reads.
        backfill_end = datetime.combine(_day(RUNS[-1][0] + 1), datetime.min.time(), UTC) + timedelta(hours=2)
        with db.cursor() as cur:
            cur.execute(
                "INSERT INTO github.load_runs (run_id, dag_id, logical_date, observed_at, mode, started_at,"
                " finished_at)"
                " SELECT 'backfill__' || n, 'github_repositories', %(year_ago)s + (500 - n) * interval '1 day',"
                " finish - interval '2 minutes', 'sample', finish - interval '3 minutes', finish"
                " FROM generate_series(1, 500) AS n,"
                " LATERAL (SELECT %(end)s - (500 - n) * interval '1 minute' AS finish) AS finished",
                {"year_ago": RUN_LOGICAL_DATES[0] - timedelta(days=365), "end": backfill_end},
            )
        db.commit()
        browser.refresh()
        _wait_until_ready(browser)
        assert _freshness(browser) == (
            f"Latest load: data fetched {_day(RUNS[-1][0] + 1)} 01:58 UTC, quality checks not passed (failed or not"
            f" run yet); the last load that passed them fetched its data {_day(RUNS[-1][0] - 1)} 01:00 UTC."
        )
    finally:
        db.close()


def test_insights_page_reflows_at_320_and_640_css_pixels_in_both_themes(
    airflow: LocalAirflow, browser: WebDriver, warehouse_url: str, password: str
) -> None:
    _filled_warehouse(warehouse_url)
    _log_in(browser, f"{airflow.url}/", password)
    browser.get(f"{airflow.url}/github-etl/ui/")
    # WCAG 2.1 reflow: at 320 CSS pixels (a 1280-pixel window zoomed to 400 %) and 640 (200 %), in either theme,
    # nothing widens the page or is cut off, and each chart keeps a plot wide and tall enough to read.
    try:
        for theme in ("light", "dark"):
            browser.execute_script("localStorage.setItem('theme', arguments[0])", theme)
            for width in (320, 640):
                browser.execute_cdp_cmd(
                    "Emulation.setDeviceMetricsOverride",
                    {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": False},
                )
                browser.refresh()
                _wait_until_ready(browser)
                assert browser.execute_script("return document.documentElement.dataset.theme") == theme
                browser.execute_script("window.scrollTo(0, 0)")
                _screenshot(browser, f"insights-12-{theme}-{width}")
                browser.execute_script("document.getElementById('languages-section').scrollIntoView()")
                _screenshot(browser, f"insights-13-{theme}-{width}-languages")
                assert _overflow(browser) == [], (theme, width)
                assert browser.execute_script(CUT_OFF) == [], (theme, width)
                areas = browser.execute_script(PLOT_AREAS)
                assert set(areas) == {"history", "languages", "runs"}
                small = {
                    name: area
                    for name, area in areas.items()
                    if min(area[0], area[1]) < LEAST_PLOT_SIDE or area[1] < area[2] / 2
                }
                assert small == {}, (theme, width, small)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _freshness(driver: WebDriver) -> str:
    return driver.execute_script(
        "const line = document.getElementById('freshness'); return line ? line.textContent : null;"
    )


def _choose_airflow_theme(driver: WebDriver, theme: str) -> None:
    """Pick ``theme`` (light or dark) in Airflow's user menu, Appearance, as a person switches its UI's look."""
    _wait(driver).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "button[aria-label='User']"))).click()
    _wait(driver).until(
        ec.element_to_be_clickable((By.XPATH, "//*[@role='menuitem'][normalize-space(.)='Appearance']"))
    ).click()
    _wait(driver).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, f"[role=menuitemradio][data-value='{theme}']"))
    ).click()
    _wait(driver).until(
        lambda d: d.execute_script("return document.documentElement.classList.contains(arguments[0])", theme),
        message=f"Airflow's UI did not switch to {theme}",
    )
    # The menu closes on the click; Escape in case it stays open over the page.
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)


def _luminance(colour: str) -> float:
    """Relative luminance (0 black, 1 white) of a CSS ``rgb(r, g, b)`` colour."""
    channels = [int(part) / 255 for part in colour[colour.index("(") + 1 : colour.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _overflow(driver: WebDriver) -> list[str]:
    """Sections whose content is wider than they are, and the page itself if it scrolls sideways."""
    return driver.execute_script(
        "const wide = Array.from(document.querySelectorAll('section'))"
        "  .filter((section) => section.scrollWidth > section.clientWidth).map((section) => section.id);"
        " const page = document.documentElement;"
        " return page.scrollWidth > page.clientWidth ? [...wide, 'page'] : wide;"
    )


def _isolated(text: str) -> str:
    """``text`` as the page writes it into a sentence: isolated from it (FSI ... PDI) unless plain ASCII."""
    return text if text.isascii() else f"\u2068{text}\u2069"


def _fill_hostile(db: DatabaseConnection) -> None:
    """:data:`HOSTILE_REPOSITORIES`, observed on :data:`HOSTILE_DAYS` days, each gaining stars every day."""
    seen = datetime.combine(_day(HOSTILE_DAYS - 1), datetime.min.time(), UTC)
    with db.cursor() as cur:
        for rid, owner, name, language, gain in HOSTILE_REPOSITORIES:
            _insert_repository(
                cur,
                rid,
                owner,
                name,
                language,
                seen,
                homepage=HOSTILE_HOMEPAGES[rid % len(HOSTILE_HOMEPAGES)],
                description=HOSTILE_DESCRIPTION,
                license_spdx_id="<b>MIT</b>",
                stargazers_count=100 + gain * (HOSTILE_DAYS - 1),
                topics=["t" * 50, "\U0001f600"],
            )
    db.commit()
    ensure_snapshot_partition(db, FIRST_DAY)
    with db.cursor() as cur:
        for index in range(HOSTILE_DAYS):
            for rid, _, _, language, gain in HOSTILE_REPOSITORIES:
                cur.execute(
                    "INSERT INTO github.repository_snapshots VALUES (%s, %s, %s, 0, 0, %s)",
                    (rid, _day(index), 100 + gain * index, language),
                )
            cur.execute("SELECT github.refresh_day_summaries(%s)", (_day(index),))
    db.commit()


# -- steps ----------------------------------------------------------------------------------------


def _log_in_and_open_from_navigation(driver: WebDriver, airflow: LocalAirflow, password: str) -> None:
    _log_in(driver, f"{airflow.url}/", password)
    link = _wait(driver).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, NAVIGATION_ITEM)),
        message="Airflow's navigation has no GitHub insights item",
    )
    link.click()
    try:
        # Once the page loads in its frame, Airflow writes the frame's path after its own (a link to the frame's
        # page): /plugin/github-insights/github-etl/ui/.
        _wait(driver).until(lambda d: "/plugin/github-insights" in urlsplit(d.current_url).path)
    except TimeoutException:
        raise AssertionError(f"the navigation item did not open the page: at {driver.current_url}") from None
    _enter_page(driver)


def _enter_page(driver: WebDriver) -> None:
    """Switch into the frame Airflow's UI shows the page in, once the page has read the API."""
    frame = _wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe[src*='github-etl/ui']")))
    driver.switch_to.frame(frame)
    _wait_until_ready(driver)


def _wait_until_ready(driver: WebDriver) -> None:
    """Wait until the page (framed or not) has read the API and written every section."""
    _wait(driver).until(
        lambda d: d.execute_script("return document.body && document.body.dataset.ready === 'true'"),
        message="the insights page did not finish loading",
    )


def _search(driver: WebDriver, repository: str, *, chart: bool = True, drawn: str | None = None) -> None:
    """Search ``repository`` as typed, and wait for the history of ``drawn`` (the same unless given), or
    for a sentence naming it when ``chart`` is false."""
    field = driver.find_element(By.ID, "repository")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(repository)
    driver.execute_script("window.githubEtlCharts.history && (window.githubEtlCharts.history.$stale = true)")
    driver.find_element(By.ID, "history-search").click()
    if chart:
        _wait(driver).until(
            lambda d: d.execute_script(
                # The label as read, without the marks isolating a name outside ASCII (see _isolated).
                "const c = window.githubEtlCharts.history;"
                " return c && !c.$stale"
                " && c.data.datasets[0].label.replace(/[\u2068\u2069]/g, '') === arguments[0] + ' stars'",
                drawn or repository,
            ),
            message=f"no star history drawn for {repository}",
        )
    else:
        _wait(driver).until(
            lambda d: repository in d.find_element(By.ID, "history-message").text,
            message=f"no sentence about {repository}",
        )


def _search_invalid(driver: WebDriver, repository: str) -> None:
    """Search ``repository``, no owner/name, and wait for the sentence asking for one."""
    field = driver.find_element(By.ID, "repository")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(repository)
    driver.execute_script("document.getElementById('history-message').textContent = ''")
    driver.find_element(By.ID, "history-search").click()
    _wait(driver).until(
        lambda d: d.find_element(By.ID, "history-message").get_attribute("textContent"),
        message=f"no sentence about {repository}",
    )
    assert _messages(driver)["history"] == "Type a repository as owner/name, e.g. apache/airflow.", repository


def _filter_trending(driver: WebDriver, fields: dict[str, str], expected: list[tuple[str, str]]) -> None:
    """Type ``fields`` (``trending-<name>``: value) in the trending form, apply, and wait for the table's
    (repository, gain) rows to be ``expected``."""
    for name, value in fields.items():
        field = driver.find_element(By.ID, f"trending-{name}")
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(value or Keys.DELETE)
    driver.find_element(By.ID, "trending-apply").click()
    rows = (
        "return Array.from(document.querySelectorAll('#trending-table tbody tr'),"
        " (row) => [row.dataset.repository, row.cells[4].textContent]);"
    )
    _wait(driver).until(
        lambda d: [tuple(row) for row in d.execute_script(rows)] == expected,
        message=f"trending for {fields} did not list {expected}: {driver.execute_script(rows)}",
    )


def _chart(driver: WebDriver, name: str) -> dict[str, Any]:
    """Labels and data of a chart as Chart.js holds them: what it drew, not what the page meant to."""
    return driver.execute_script(
        "const chart = window.githubEtlCharts[arguments[0]];"
        " if (!chart) return null;"
        " const series = {};"
        " chart.data.datasets.forEach((d) => { series[d.label] = d.data; });"
        " return {labels: chart.data.labels, data: chart.data.datasets[0].data, series: series};",
        name,
    )


def _sparklines(driver: WebDriver) -> dict[str, list[int | None]]:
    return driver.execute_script(
        "const out = {};"
        " window.githubEtlCharts.sparklines.forEach((c) => { out[c.$repository] = c.data.datasets[0].data; });"
        " return out;"
    )


def _trending_rows(driver: WebDriver) -> list[dict[str, str]]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#trending-table tbody tr")
    return [
        {"repository": row.get_attribute("data-repository"), "gain": row.find_elements(By.TAG_NAME, "td")[4].text}
        for row in rows
    ]


def _messages(driver: WebDriver) -> dict[str, str]:
    return {
        section: driver.find_element(By.ID, f"{section}-message").get_attribute("textContent") for section in SECTIONS
    }


def _visible_charts(driver: WebDriver) -> list[str]:
    return [
        section
        for section in ("history", "languages", "runs")
        if driver.find_element(By.ID, f"{section}-chart-box").is_displayed()
    ]


def _expected_shares() -> dict[str, list[float | None]]:
    """Per language of the latest day, its share (in %) of each day's stars, None on unobserved days."""
    per_day: dict[int, dict[str, int]] = {}
    for index in range(DAYS):
        stars: dict[str, int] = defaultdict(int)
        for rid, _, _, language, _ in REPOSITORIES:
            count = _stars(rid, index)
            if count is not None:
                stars[language or "no language"] += count
        per_day[index] = stars
    latest = per_day[DAYS - 1]
    return {
        language: [
            100 * per_day[i].get(language, 0) / sum(per_day[i].values()) if per_day[i] else None for i in range(DAYS)
        ]
        for language in latest
    }


def _insert_repository(
    cur: Any, rid: int, owner: str, name: str, language: str | None, seen: datetime, **columns: Any
) -> None:
    """One repository, named and seen as the load writes it, with ``columns`` besides."""
    row = {
        "id": rid,
        "node_id": f"R_{rid}",
        "full_name": f"{owner}/{name}",
        "name": name,
        "owner_login": owner,
        "language": language,
        "html_url": f"https://github.com/{owner}/{name}",
        "created_at": datetime(2015, 1, 1, tzinfo=UTC),
        "first_seen_at": seen,
        "last_seen_at": seen,
        **columns,
    }
    cur.execute(
        sql.SQL("INSERT INTO github.repositories ({}) VALUES ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, row)), sql.SQL(", ").join(sql.Placeholder() * len(row))
        ),
        list(row.values()),
    )


def _filled_warehouse(url: str) -> None:
    """The warehouse at ``url`` with its schema and :func:`_fill`'s rows."""
    db = DatabaseConnection(url, connect_retries=0)
    try:
        apply_schema(db)
        _fill(db)
    finally:
        db.close()


def _fill(db: DatabaseConnection) -> None:
    """The repositories, their snapshots with each day's summaries as the load makes them, and load runs."""
    seen = datetime.combine(_day(DAYS - 1), datetime.min.time(), UTC)
    with db.cursor() as cur:
        for rid, owner, name, language, _ in REPOSITORIES:
            _insert_repository(
                cur,
                rid,
                owner,
                name,
                language,
                seen,
                stargazers_count=_stars(rid, DAYS - 1),
                topics=["cli"] if f"{owner}/{name}" in TOPIC_CLI else [],
            )
    db.commit()
    for month in {_day(i).replace(day=1) for i in range(DAYS)}:
        ensure_snapshot_partition(db, month)
    with db.cursor() as cur:
        for index in range(DAYS):
            observed = [
                (rid, language, _stars(rid, index))
                for rid, _, _, language, _ in REPOSITORIES
                if _stars(rid, index) is not None
            ]
            for rid, language, stars in observed:
                cur.execute(
                    "INSERT INTO github.repository_snapshots VALUES (%s, %s, %s, %s, %s, %s)",
                    (rid, _day(index), stars, rid, index, language),
                )
            if observed:
                cur.execute("SELECT github.refresh_day_summaries(%s)", (_day(index),))
        for number, (index, inserted, updated, unchanged, requests) in enumerate(RUNS):
            logical = RUN_LOGICAL_DATES[number]
            observed = datetime.combine(_day(index), datetime.min.time(), UTC) + timedelta(hours=1)
            cur.execute(
                sql.SQL(
                    "INSERT INTO github.load_runs (run_id, dag_id, logical_date, observed_at, mode, inserted,"
                    " updated, unchanged, api_requests, started_at, finished_at)"
                    " VALUES (%s, 'github_repositories', %s, %s, 'search', %s, %s, %s, %s, %s, %s)"
                ),
                (
                    f"run-{number}",
                    logical,
                    observed,
                    inserted,
                    updated,
                    unchanged,
                    requests,
                    observed,
                    observed + RUN_TIME,
                ),
            )
    db.commit()


# -- keyboard, screen reader and axe ---------------------------------------------------------------

# What has the keys, as a test names it: its id, or for a <summary> its <details>' id, or a row's repository.
FOCUSED = """
const element = document.activeElement;
if (element === document.body) return { name: "body" };
const style = getComputedStyle(element);
const name = element.tagName === "SUMMARY" ? `${element.parentElement.id} summary`
  : element.id || element.closest("tr")?.dataset.repository || element.textContent.trim();
const box = element.getBoundingClientRect();
return {
  name: name,
  outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 1,
  inView: box.bottom > 0 && box.top < innerHeight && box.right > 0 && box.left < innerWidth,
};
"""
# The WCAG 2.0 and 2.1 A and AA rules of axe-core.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, { runOnly: { type: "tag", values: arguments[0] } }).then(
  (results) => done(results.violations.map((v) => [v.id, v.impact, v.nodes.map((n) => n.target.join(" "))])),
  (error) => done(String(error)),
);
"""


def _axe_violations(driver: WebDriver) -> list[tuple[str, str, list[str]]]:
    """The serious and critical WCAG 2 A/AA violations axe-core finds on the current document."""
    axe = pytest.importorskip("selenium_axe_python", reason="needs selenium-axe-python (requirements-dev.txt)")
    script = (Path(axe.__file__).parent / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
    # Injected through the driver, which the page's Content-Security-Policy does not govern.
    driver.execute_script(script)
    violations = driver.execute_async_script(AXE_RUN, AXE_TAGS)
    assert isinstance(violations, list), violations
    return [(rule, impact, nodes) for rule, impact, nodes in violations if impact in ("serious", "critical")]


def _tab(driver: WebDriver, key: str = Keys.TAB) -> dict[str, Any]:
    ActionChains(driver).send_keys(key).perform()
    return driver.execute_script(FOCUSED)


def _figures(driver: WebDriver, section: str) -> list[list[str]]:
    """The rows (header row first) of the table that gives a chart's figures in words."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(`#${arguments[0]}-figures tr`),"
        " (row) => Array.from(row.cells, (cell) => cell.textContent));",
        section,
    )


def test_insights_page_works_from_the_keyboard_reads_out_its_charts_and_passes_axe_in_both_themes(
    airflow: LocalAirflow, browser: WebDriver, warehouse_url: str, password: str
) -> None:
    _filled_warehouse(warehouse_url)
    _log_in(browser, f"{airflow.url}/", password)
    _choose_airflow_theme(browser, "dark")
    _wait(browser).until(ec.element_to_be_clickable((By.CSS_SELECTOR, NAVIGATION_ITEM))).click()
    _enter_page(browser)

    # Tab from the top of the page reaches every control in reading order, each showing where the keys are.
    browser.execute_script("document.activeElement.blur(); window.focus(); window.scrollTo(0, 0)")
    steps = []
    for _ in range(30):
        step = _tab(browser)
        # Past the page's last control the keys leave its frame for Airflow's UI.
        if step["name"] == "body" or (step["name"] == "repository" and steps):
            break
        steps.append(step)
    rising = [row["repository"] for row in _trending_rows(browser)]
    assert [step["name"] for step in steps] == [
        "repository",
        "history-days",
        "history-search",
        "history-figures summary",
        "trending-window",
        "trending-language",
        "trending-topic",
        "trending-min-stars",
        "trending-apply",
        "trending-table-box",
        *rising,
        "languages-figures summary",
        "runs-figures summary",
        "Chart.js",
    ]
    assert [step["name"] for step in steps if not (step["outline"] and step["inView"])] == []

    # A search typed and sent with Enter; the days chosen with the arrow keys and shown with Space.
    field = browser.find_element(By.ID, "repository")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("octo/alpha", Keys.ENTER)
    _wait(browser).until(lambda d: (_chart(d, "history") or {}).get("series", {}).keys() == {"octo/alpha stars"})
    assert _tab(browser)["name"] == "history-days"
    _tab(browser, Keys.ARROW_DOWN)
    assert browser.find_element(By.ID, "history-days").get_attribute("value") == "90"
    assert _tab(browser)["name"] == "history-search"
    _tab(browser, Keys.SPACE)
    _wait(browser).until(lambda d: len(_chart(d, "history")["labels"]) == 90, message="Space did not show 90 days")

    # The chart's figures day by day, as a table a screen reader reads and the keys open (the tooltips
    # follow the mouse only).
    assert _tab(browser)["name"] == "history-figures summary"
    _tab(browser, Keys.ENTER)
    assert browser.execute_script("return document.getElementById('history-figures').open") is True
    history = _chart(browser, "history")
    figures = _figures(browser, "history")
    assert figures[0] == ["Date", "octo/alpha stars"]
    assert figures[1:] == [
        [day, "no observation" if value is None else f"{value:,}"]
        for day, value in zip(history["labels"], history["data"], strict=True)
    ]
    for section in ("languages", "runs"):
        chart = _chart(browser, section)
        rows = _figures(browser, section)
        assert rows[0][0] == "Date" and sorted(rows[0][1:]) == sorted(chart["series"]), section
        assert [row[0] for row in rows[1:]] == chart["labels"], section
        assert {len(row) for row in rows} == {1 + len(chart["series"])}, section

    # The trending window with the arrow keys, applied with Enter in a field; a repository of the table
    # opened with Enter.
    window = browser.find_element(By.ID, "trending-window")
    window.send_keys(Keys.ARROW_UP)
    assert window.get_attribute("value") == "1"
    browser.find_element(By.ID, "trending-language").send_keys(Keys.ENTER)
    _wait(browser).until(
        lambda d: f"from {_day(DAYS - 2)} to {_day(DAYS - 1)}" in d.find_element(By.ID, "trending-message").text,
        message="Enter in the trending form did not apply the 1-day window",
    )
    first = browser.find_element(By.CSS_SELECTOR, "#trending-table tbody tr button")
    repository = first.text
    first.send_keys(Keys.ENTER)
    _wait(browser).until(lambda d: (_chart(d, "history") or {}).get("series", {}).keys() == {f"{repository} stars"})

    # axe-core's WCAG 2 A/AA rules, with the figures open and a search shown, in Airflow's dark mode and then
    # in its light mode: nothing serious or critical. Last, so that without axe only this part is skipped.
    assert _axe_violations(browser) == []
    browser.switch_to.default_content()
    _choose_airflow_theme(browser, "light")
    browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe[src*='github-etl/ui']"))
    _wait(browser).until(lambda d: d.execute_script(PAGE_COLOURS)["theme"] == "light", message="the page stayed dark")
    assert _axe_violations(browser) == []


# Swagger UI's own markup, beyond the page's reach: each operation's summary is a button holding its path's
# link (upstream's structure, in every release of swagger-ui-py so far).
SWAGGER_UI_OWN_VIOLATIONS = {"nested-interactive"}


def test_api_docs_pass_axe_but_for_swagger_ui_s_own_markup(airflow: LocalAirflow, browser: WebDriver) -> None:
    browser.get(f"{airflow.url}/github-etl/docs")
    _wait(browser).until(
        lambda d: d.execute_script(
            "return document.querySelectorAll('.opblock').length > 0 && !!document.getElementById('servers')"
        ),
        message="Swagger UI did not draw its operations and servers list",
    )
    violations = [violation for violation in _axe_violations(browser) if violation[0] not in SWAGGER_UI_OWN_VIOLATIONS]
    assert violations == []
