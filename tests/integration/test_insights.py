"""History, trending and languages through Airflow's real API server app, on a warehouse of known snapshots.

The snapshots are written as the load writes them and each date's summaries refreshed by the function the
load calls (``github.refresh_day_summaries``), so every figure below is computed by hand from the table.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest

from github_etl.hooks.warehouse import DatabaseConnection
from tests.integration import test_api as api_tests
from tests.integration.test_api import PREFIX, _insert, _repo, _snapshot

# The API tests' fixtures: the same Airflow app and login, a client on this test's warehouse.
airflow_app, credentials, token = api_tests.airflow_app, api_tests.credentials, api_tests.token
client, client_without_warehouse = api_tests.client, api_tests.client_without_warehouse

pytestmark = pytest.mark.integration

DAY = [date(2024, 3, 1) + timedelta(days=n) for n in range(10)]
# stars per repository per observed day; days 2-6 have no observation at all, repository 3 misses day 0.
STARS = {
    1: {0: 10, 1: 15, 7: 40, 8: 41},
    2: {0: 100, 1: 100, 7: 130},
    3: {1: 5, 7: 8},
    4: {0: 50, 7: 45},
}
COUNTERS = ("stargazers_count", "forks_count", "open_issues_count")
REPOSITORIES = [
    _repo(1, owner_login="octo", name="alpha", language="Python", topics=["ml", "web"]),
    _repo(2, owner_login="octo", name="beta", language="Go", stargazers_count=130),
    _repo(3, owner_login="acme", name="gamma", language="Python", topics=["ml"]),
    _repo(4, owner_login="acme", name="delta", language="Rust"),
    _repo(5, owner_login="acme", name="never", language="Rust"),
]


def _observe(db: DatabaseConnection, stars: dict[int, dict[int, int]], order: list[int] | None = None) -> None:
    """Write the snapshots with their repositories' languages, then refresh each date's summaries in ``order``
    (by default oldest first)."""
    days = sorted({day for per_day in stars.values() for day in per_day})
    rows = [
        _snapshot(repo_id, DAY[day], stargazers_count=count, forks_count=repo_id, open_issues_count=day)
        for repo_id, per_day in stars.items()
        for day, count in per_day.items()
    ]
    _insert(db, "repository_snapshots", *rows)
    with db.cursor() as cur:
        # Each snapshot records its repository's language, as a load writes it.
        cur.execute(
            "UPDATE github.repository_snapshots AS snapshot SET language = repository.language"
            " FROM github.repositories AS repository WHERE repository.id = snapshot.repo_id"
        )
        for day in order or days:
            cur.execute("SELECT github.refresh_day_summaries(%s)", (DAY[day],))
    db.commit()


@pytest.fixture
def observed(warehouse: DatabaseConnection) -> DatabaseConnection:
    _insert(warehouse, "repositories", *REPOSITORIES)
    _observe(warehouse, STARS)
    return warehouse


def _get(client: Any, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"{PREFIX}{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _gains(body: dict[str, Any]) -> list[tuple[int, int, int, int]]:
    return [(i["id"], i["start_stargazers_count"], i["stargazers_count"], i["gain"]) for i in body["items"]]


# -- history ----------------------------------------------------------------------------------------


def test_history_lists_every_day_with_gaps_as_nulls(client, observed):
    body = _get(client, "/repositories/OCTO/Alpha/history", days=9)

    assert (body["id"], body["full_name"]) == (1, "octo/alpha")
    assert (body["start_date"], body["end_date"]) == (str(DAY[0]), str(DAY[8]))
    assert body["observed_days"] == 4
    assert [p["date"] for p in body["points"]] == [str(d) for d in DAY[:9]]
    assert [p["stargazers_count"] for p in body["points"]] == [10, 15, None, None, None, None, None, 40, 41]
    assert body["points"][7] == {"date": str(DAY[7]), "stargazers_count": 40, "forks_count": 1, "open_issues_count": 7}
    assert body["points"][3] == {"date": str(DAY[3])} | dict.fromkeys(COUNTERS)


def test_history_window_ends_on_the_date_asked(client, observed):
    body = _get(client, "/repositories/octo/alpha/history", days=3, end_date=str(DAY[1]))

    assert [p["date"] for p in body["points"]] == [str(DAY[0] - timedelta(days=1)), str(DAY[0]), str(DAY[1])]
    assert [p["stargazers_count"] for p in body["points"]] == [None, 10, 15]
    assert body["observed_days"] == 2


def test_history_of_a_repository_never_observed_is_empty(client, observed):
    body = _get(client, "/repositories/acme/never/history")

    expected = {"id": 5, "full_name": "acme/never", "start_date": None, "end_date": None}
    assert body == expected | {"observed_days": 0, "points": []}


def test_history_of_a_repository_never_observed_over_a_window_asked_lists_its_days_as_gaps(client, observed):
    body = _get(client, "/repositories/acme/never/history", days=2, end_date=str(DAY[1]))

    assert (body["start_date"], body["end_date"], body["observed_days"]) == (str(DAY[0]), str(DAY[1]), 0)
    assert body["points"] == [{"date": str(day)} | dict.fromkeys(COUNTERS) for day in DAY[:2]]


def test_history_of_an_unknown_repository_is_404(client, observed):
    assert client.get(f"{PREFIX}/repositories/octo/missing/history").status_code == 404


def _former_name(repo_id: int, full_name: str, until: date) -> dict[str, Any]:
    """A ``github.repository_history`` row: the repository was called ``full_name`` until ``until``."""
    owner = full_name.split("/")[0]
    return {"repo_id": repo_id, "valid_from": DAY[0] - timedelta(days=30), "valid_until": until} | {
        "full_name": full_name,
        "owner_login": owner,
        "archived": False,
        "fork": False,
        "is_template": False,
        "topics": [],
    }


def test_history_answers_to_a_former_name_as_the_detail_does(client, observed):
    _insert(observed, "repository_history", _former_name(1, "old-octo/Old-Alpha", DAY[1]))

    by_old = _get(client, "/repositories/OLD-OCTO/old-alpha/history", days=9)

    assert by_old == _get(client, "/repositories/octo/alpha/history", days=9)
    assert (by_old["id"], by_old["full_name"], by_old["observed_days"]) == (1, "octo/alpha", 4)
    assert _get(client, "/repositories/old-octo/old-alpha")["id"] == 1


def test_a_detail_lists_the_latest_100_earlier_versions_newest_first(client, observed):
    versions = [_former_name(1, f"octo/alpha-{n}", DAY[0] - timedelta(days=200 - n)) for n in range(101)]
    _insert(observed, "repository_history", *versions)

    history = _get(client, "/repositories/octo/alpha")["history"]

    assert [version["full_name"] for version in history] == [f"octo/alpha-{n}" for n in range(100, 0, -1)]


def test_history_of_a_name_held_now_and_formerly_is_the_current_holders(client, observed):
    # octo/beta (2) was once called acme/gamma, a name repository 3 carries today.
    _insert(observed, "repository_history", _former_name(2, "acme/gamma", DAY[1]))

    assert _get(client, "/repositories/acme/gamma/history")["id"] == 3


# -- trending ---------------------------------------------------------------------------------------


def test_trending_basis_writes_thousands_for_reading(client, warehouse):
    # A real warehouse compares a million repositories: "1000001" is hard to read in a sentence.
    many = range(1, 1002)
    _insert(warehouse, "repositories", *(_repo(repo_id) for repo_id in many))
    _observe(warehouse, {repo_id: {0: 1, 7: 2} for repo_id in many})
    body = _get(client, "/trending", window_days=7, end_date=str(DAY[7]), limit=1)
    assert (body["compared"], body["rising"]) == (1001, 1001)
    assert "counting only the 1,001 repositories observed on both dates; 1,001 of them gained stars." in body["basis"]


def test_trending_compares_only_repositories_observed_at_both_ends(client, observed):
    body = _get(client, "/trending", window_days=7, end_date=str(DAY[7]))

    # Repository 3 was not observed on day 0; repository 4 lost stars; 1 and 2 tie, the larger id first.
    assert _gains(body) == [(2, 100, 130, 30), (1, 10, 40, 30)]
    assert (body["start_date"], body["end_date"], body["compared"], body["rising"]) == (str(DAY[0]), str(DAY[7]), 3, 2)
    assert "counting only the 3 repositories observed on both dates" in body["basis"]
    assert body["next_cursor"] is None
    assert body["items"][0] | {"description": None} == {
        "id": 2,
        "full_name": "octo/beta",
        "owner_login": "octo",
        "name": "beta",
        "language": "Go",
        "html_url": None,
        "description": None,
        "start_stargazers_count": 100,
        "stargazers_count": 130,
        "gain": 30,
    }


def test_trending_defaults_to_the_latest_observation(client, observed):
    body = _get(client, "/trending", window_days=7)

    assert (body["start_date"], body["end_date"], body["compared"]) == (str(DAY[1]), str(DAY[8]), 1)
    assert _gains(body) == [(1, 15, 41, 26)]
    assert _gains(_get(client, "/trending", window_days=1)) == [(1, 40, 41, 1)]


def test_trending_says_which_end_was_not_observed(client, observed):
    body = _get(client, "/trending", window_days=1, end_date=str(DAY[7]))

    assert body["items"] == [] and body["compared"] is None and body["rising"] is None
    assert body["start_date"] == str(DAY[6])
    assert body["basis"].startswith(f"No observation on {DAY[6]}:")


def test_trending_before_the_first_date_there_is_says_so(client, observed):
    body = _get(client, "/trending", window_days=7, end_date="0001-01-03")

    assert (body["start_date"], body["end_date"], body["compared"], body["items"]) == (None, "0001-01-03", None, [])
    assert body["basis"] == "No date lies 7 days before 0001-01-03: a gain needs two observation dates."


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"language": "Python"}, [1]),
        ({"language": "python"}, [1]),  # any case, as GitHub's language: qualifier
        ({"language": '"Python"'}, [1]),  # quoted, as GitHub's search syntax allows
        ({"topic": '"ml"'}, [1]),
        ({"topic": "ML"}, [1]),
        ({"topic": "web", "language": "Go"}, []),
        ({"min_stars": 100}, [2]),
        ({"min_stars": 41}, [2]),
        ({"min_stars": 40}, [2, 1]),
    ],
)
def test_trending_filters(client, observed, params, expected):
    body = _get(client, "/trending", window_days=7, end_date=str(DAY[7]), **params)

    assert [item["id"] for item in body["items"]] == expected
    assert body["compared"] == 3  # the filters narrow the list, not what was compared


def test_trending_pages_by_cursor(client, observed):
    first = _get(client, "/trending", window_days=7, end_date=str(DAY[7]), limit=1)
    second = _get(client, "/trending", window_days=7, end_date=str(DAY[7]), limit=1, cursor=first["next_cursor"])

    assert [i["id"] for i in first["items"]] == [2]
    assert first["next_cursor"] == f"{(DAY[7] - date(1970, 1, 1)).days}.30.2"
    assert [i["id"] for i in second["items"]] == [1]
    assert second["next_cursor"] is None


def test_a_trending_walk_without_end_date_stays_on_its_first_pages_list_when_a_day_is_loaded_between_pages(
    client, warehouse
):
    # The 7-day list ending on day 7 is 2 (+30), 1 (+30), 3 (+3). The next day's load then commits.
    _insert(warehouse, "repositories", *(_repo(i) for i in range(1, 5)))
    _observe(warehouse, {1: {0: 10, 1: 15, 7: 40}, 2: {0: 100, 1: 100, 7: 130}, 3: {0: 5, 1: 5, 7: 8}, 4: {0: 50}})
    pages = [_get(client, "/trending", window_days=7, limit=1)]
    _observe(warehouse, {1: {8: 65}, 2: {8: 110}, 3: {8: 5}})
    while pages[-1]["next_cursor"] is not None and len(pages) < 10:
        pages.append(_get(client, "/trending", window_days=7, limit=1, cursor=pages[-1]["next_cursor"]))

    assert [item["id"] for page in pages for item in page["items"]] == [2, 1, 3]
    assert {page["end_date"] for page in pages} == {str(DAY[7])}
    # A cursor's date past any a date holds is the last date, where nothing was observed: no error.
    far = _get(client, "/trending", cursor="9999999.30.2")
    assert (far["end_date"], far["items"]) == ("9999-12-31", [])


def test_trending_lists_the_language_its_filter_matched_after_the_repository_changed_language(client, observed):
    with observed.cursor() as cur:
        cur.execute("UPDATE github.repositories SET language = 'Rust' WHERE id = 1")
    observed.commit()

    body = _get(client, "/trending", window_days=7, end_date=str(DAY[7]), language="python")

    assert [(item["id"], item["language"]) for item in body["items"]] == [(1, "Python")]
    assert _get(client, "/trending", window_days=7, end_date=str(DAY[7]), language="Rust")["items"] == []


def test_trending_by_language_finds_every_spelling_of_it_on_the_date(client, warehouse):
    """GitHub renames a language now and then (Vim script became Vim Script): repositories analysed before and
    after the rename carry the two spellings on the same day, and the filter, in any case, finds both, as the
    repository list's does."""
    _insert(
        warehouse,
        "repositories",
        _repo(1, language="Vim script"),
        _repo(2, language="Vim Script"),
        _repo(3, language="Python"),
    )
    _observe(warehouse, {1: {0: 10, 7: 30}, 2: {0: 10, 7: 20}, 3: {0: 10, 7: 40}})

    for typed in ["Vim Script", "vim script", "Vim script"]:
        body = _get(client, "/trending", window_days=7, end_date=str(DAY[7]), language=typed)
        assert [(item["id"], item["language"]) for item in body["items"]] == [(1, "Vim script"), (2, "Vim Script")]
        first = _get(client, "/trending", window_days=7, end_date=str(DAY[7]), language=typed, limit=1)
        second = _get(
            client, "/trending", window_days=7, end_date=str(DAY[7]), language=typed, cursor=first["next_cursor"]
        )
        assert [item["id"] for item in first["items"] + second["items"]] == [1, 2]
        assert [item["id"] for item in _get(client, "/repositories", language=typed)["items"]] == [2, 1]


def test_a_gain_rebuilt_later_keeps_the_language_of_its_end_date_found_in_any_case(client, observed):
    """A summary rebuilt later (a backfill) takes its risers' languages from the end date's snapshots, not from
    their repositories then: the language the end date's totals spell, which the filter finds in any case."""
    with observed.cursor() as cur:
        cur.execute("UPDATE github.repositories SET language = 'Zig' WHERE id = 1")
        cur.execute("SELECT github.refresh_day_summaries(%s)", (DAY[7],))
    observed.commit()

    for typed in ("python", "Python"):
        body = _get(client, "/trending", window_days=7, end_date=str(DAY[7]), language=typed)
        assert (1, "Python") in [(item["id"], item["language"]) for item in body["items"]]
    for typed in ("zig", "Zig"):
        assert _get(client, "/trending", window_days=7, end_date=str(DAY[7]), language=typed)["items"] == []


def test_trending_pages_past_a_gain_whose_repository_was_deleted_by_hand(client, observed):
    with observed.cursor() as cur:
        cur.execute("DELETE FROM github.repositories WHERE id = 2")
    observed.commit()

    whole = _get(client, "/trending", window_days=7, end_date=str(DAY[7]))
    first = _get(client, "/trending", window_days=7, end_date=str(DAY[7]), limit=1)
    second = _get(client, "/trending", window_days=7, end_date=str(DAY[7]), limit=1, cursor=first["next_cursor"])

    assert _gains(whole) == [(1, 10, 40, 30)]
    assert (first["items"], first["next_cursor"]) == ([], f"{(DAY[7] - date(1970, 1, 1)).days}.30.2")
    assert ([i["id"] for i in second["items"]], second["next_cursor"]) == ([1], None)


def test_trending_summaries_do_not_depend_on_the_order_dates_were_loaded(client, warehouse):
    _insert(warehouse, "repositories", *REPOSITORIES)
    _observe(warehouse, STARS, order=[8, 7, 1, 0])  # the latest first, the earliest last: a backfill

    body = _get(client, "/trending", window_days=7, end_date=str(DAY[7]))

    assert _gains(body) == [(2, 100, 130, 30), (1, 10, 40, 30)]
    assert body["compared"] == 3


# 250 risers: "everywhere" is carried by all of them, "rare" by fewer than one in a hundred (two), and
# each odd repository carries a topic of its own.
MANY = range(100, 350)
RARE = {120: "Go", 180: "Rust"}


@pytest.fixture
def many_risers(warehouse: DatabaseConnection) -> DatabaseConnection:
    repositories = [
        _repo(
            repo_id,
            language=RARE.get(repo_id, "Python"),
            topics=["everywhere", *(["rare"] if repo_id in RARE else []), *([f"only{repo_id}"] if repo_id % 2 else [])],
        )
        for repo_id in MANY
    ]
    _insert(warehouse, "repositories", *repositories)
    # Repository n gains n % 7 + 1 stars: many ties, so that paging crosses them by id.
    _observe(warehouse, {repo_id: {0: repo_id, 1: repo_id + repo_id % 7 + 1} for repo_id in MANY})
    return warehouse


def _by_gain(repo_ids: Any) -> list[int]:
    return sorted(repo_ids, key=lambda repo_id: (repo_id % 7 + 1, repo_id), reverse=True)


def test_a_window_names_the_topics_at_least_one_in_a_hundred_risers_carry(many_risers):
    with many_risers.cursor() as cur:
        cur.execute("SELECT common_topics FROM github.star_gain_windows")
        assert cur.fetchall() == [(["everywhere"],)]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"topic": "rare"}, _by_gain(RARE)),
        ({"topic": "RARE", "language": "Rust"}, [180]),
        ({"topic": "rare", "min_stars": 200}, []),
        ({"topic": "rare", "min_stars": 180}, [180]),
        ({"topic": "everywhere"}, _by_gain(MANY)),
        ({"topic": "everywhere", "language": "Go"}, [120]),
        ({"topic": "only101"}, [101]),
        ({"topic": "only100"}, []),
    ],
)
def test_trending_by_a_topic_few_or_many_risers_carry(client, many_risers, params, expected):
    items, cursor = [], None
    while True:  # ten at a time: each topic's own order pages by the same cursor
        page = {} if cursor is None else {"cursor": cursor}
        body = _get(client, "/trending", window_days=1, end_date=str(DAY[1]), limit=10, **params, **page)
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert [item["id"] for item in items] == expected
    assert all(item["gain"] == item["id"] % 7 + 1 for item in items)
    assert body["rising"] == len(MANY)


@pytest.mark.parametrize("params", [{"window_days": 2}, {"cursor": "30"}, {"cursor": "a.1"}, {"limit": 0}])
def test_trending_rejects_what_its_schema_excludes(client_without_warehouse, params):
    response = client_without_warehouse.get(f"{PREFIX}/trending", params=params)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == next(iter(params))


@pytest.mark.parametrize(
    ("path", "parameter"),
    [("/trending", "end_date"), ("/languages", "date"), ("/repositories/octo/alpha/history", "end_date")],
)
@pytest.mark.parametrize("value", ["1764892800", "20261130", "2026-11-30T00:00:00Z", "30/11/2026", "2026-11-3"])
def test_a_date_written_otherwise_than_the_document_says_is_422(client_without_warehouse, path, parameter, value):
    response = client_without_warehouse.get(f"{PREFIX}{path}", params={parameter: value})

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (
        ["query", parameter],
        "Input should be a date as YYYY-MM-DD, e.g. 2026-11-30",
    )


# -- languages --------------------------------------------------------------------------------------


def test_languages_on_a_date_with_the_change_over_the_window(client, observed):
    body = _get(client, "/languages", date=str(DAY[7]), window_days=7)

    assert (body["date"], body["start_date"], body["start_observed"]) == (str(DAY[7]), str(DAY[0]), True)
    assert (body["repositories"], body["stars"]) == (4, 223)
    rows = {item["language"]: item for item in body["items"]}
    assert [item["language"] for item in body["items"]] == ["Go", "Python", "Rust"]
    python = rows["Python"]
    assert (python["repositories"], python["stars"], python["start_repositories"], python["start_stars"]) == (
        2,
        48,
        1,
        10,
    )
    assert python["repository_share"] == pytest.approx(2 / 4)
    assert python["star_share"] == pytest.approx(48 / 223)
    assert python["start_star_share"] == pytest.approx(10 / 160)
    assert python["star_share_change"] == pytest.approx(48 / 223 - 10 / 160)


def test_languages_on_a_date_without_an_observation_say_so(client, observed):
    body = _get(client, "/languages", date=str(DAY[3]), window_days=3)

    assert (body["date"], body["observed"], body["start_date"], body["start_observed"]) == (
        str(DAY[3]),
        False,
        str(DAY[0]),
        True,
    )
    assert (body["repositories"], body["stars"], body["items"]) == (0, 0, [])
    assert _get(client, "/languages", date=str(DAY[7]))["observed"] is True


def test_languages_without_an_observation_at_the_start_give_no_change(client, observed):
    body = _get(client, "/languages", date=str(DAY[7]), window_days=1)

    assert body["start_observed"] is False
    assert all(item["star_share_change"] is None and item["start_stars"] is None for item in body["items"])


def test_language_shares_over_time_leave_unobserved_days_null(client, observed):
    body = _get(client, "/languages/shares", days=9, languages=2)

    assert body["dates"] == [str(d) for d in DAY[:9]]
    # The leading languages of the latest day (day 8: only repository 1, Python, was observed).
    assert [s["language"] for s in body["series"]] == ["Python"]
    python = body["series"][0]["star_share"]
    assert python[0] == pytest.approx(10 / 160)
    assert python[2:7] == [None] * 5
    assert python[8] == 1.0


# -- an empty warehouse ------------------------------------------------------------------------------


def test_an_empty_warehouse_answers_with_empty_views_that_say_so(client, warehouse):
    trending = _get(client, "/trending")
    assert trending["items"] == [] and trending["end_date"] is None
    assert trending["basis"] == "The warehouse holds no observation yet: nothing to compare."
    assert _get(client, "/languages") == {
        "date": None,
        "observed": False,
        "start_date": None,
        "start_observed": False,
        "repositories": 0,
        "stars": 0,
        "items": [],
    }
    assert _get(client, "/languages/shares") == {"dates": [], "series": []}


# -- the page ----------------------------------------------------------------------------------------


def test_the_insights_page_is_in_the_airflow_navigation(client_without_warehouse):
    plugins = client_without_warehouse.get("/api/v2/plugins").json()["plugins"]

    [plugin] = [p for p in plugins if p["name"] == "github_etl"]
    [view] = [v for v in plugin["external_views"] if v["name"] == "GitHub insights"]
    assert (view["href"], view["url_route"], view["destination"]) == ("github-etl/ui/", "github-insights", "nav")
    assert view["nav_top_level"] is True
    icon = client_without_warehouse.get(f"/{view['icon']}")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_the_insights_page_loads_only_assets_of_this_server(client_without_warehouse):
    del client_without_warehouse.headers["Authorization"]  # the page holds no data

    page = client_without_warehouse.get(f"{PREFIX}/ui/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert not re.search(r"https?:|//[\w-]+\.[\w.-]+", page.text), "the page names another host"
    references = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert "static/chart.umd.min.js" in references and "static/chart.js-LICENSE.md" in references
    for reference in references:
        asset = client_without_warehouse.get(f"{PREFIX}/ui/{reference}")
        assert asset.status_code == 200, reference
    chart_js = client_without_warehouse.get(f"{PREFIX}/ui/static/chart.umd.min.js")
    assert chart_js.text.startswith("/*!\n * Chart.js v4.")
    assert "MIT License" in client_without_warehouse.get(f"{PREFIX}/ui/static/chart.js-LICENSE.md").text


@pytest.mark.parametrize("name", ["index.html", "../ui.py", "vendor", "insights.py", "%2e%2e%2fapp.py"])
def test_only_the_page_assets_are_served(client_without_warehouse, name):
    assert client_without_warehouse.get(f"{PREFIX}/ui/static/{name}").status_code == 404


@pytest.mark.parametrize("path", ["/trending", "/languages", "/repositories/octo/alpha/history", "/runs"])
def test_a_warehouse_the_dag_has_not_created_yet_is_503_saying_so(airflow_app, token, pg_url, monkeypatch, path):
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", pg_url)  # an empty database: no schema applied
    with api_tests._client(airflow_app, token) as client:
        response = client.get(f"{PREFIX}{path}")

    assert response.status_code == 503
    assert response.json() == {"detail": "The warehouse has no tables yet: run the github_repositories DAG once."}
