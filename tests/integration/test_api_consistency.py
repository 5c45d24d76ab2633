"""One API answer is of one state of the warehouse, even when a load commits between the queries it is made of.

Each test commits a real load (``github_etl.load.load_run``, one transaction) between two of the SQL queries
one answer is built from, by wrapping the second query function: deterministic, no sleeps. An answer must be
of one state of the warehouse (README: "one transaction: nothing partial is visible"), before the load or after
it, never a mix of both.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from github_etl.api import insight_queries, queries
from github_etl.hooks.warehouse import DatabaseConnection

# The API server app and an authenticated client, as the API tests build them.
from tests.integration.test_api import PREFIX, airflow_app, client, credentials, token  # noqa: F401
from tests.unit.test_load import DAY_0, DAY_1, _load, _repo, _row_file

pytestmark = pytest.mark.integration


def _commit_load_before(monkeypatch, module: Any, name: str, load: Any) -> list[bool]:
    """Wrap ``module.name`` so that its first call commits ``load()`` first (a load committing between two
    of an answer's queries); returns a list that says whether it ran."""
    original = getattr(module, name)
    ran: list[bool] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not ran:
            ran.append(True)
            load()
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)
    return ran


def test_detail_is_of_one_state_when_a_load_commits_between_its_queries(
    client,  # noqa: F811
    warehouse: DatabaseConnection,
    tmp_path,
    monkeypatch,
):
    # Day 1: octo/repo-1 with 10 stars. Day 2's load renames it and gives it 99 stars.
    _load(warehouse, [_row_file(tmp_path, _repo(1, stargazers_count=10))], when=DAY_1)
    day_2 = DAY_1 + timedelta(days=1)
    renamed = _repo(
        1, full_name="octo/renamed", name="renamed", html_url="https://github.com/octo/renamed", stargazers_count=99
    )
    before = client.get(f"{PREFIX}/repositories/octo/repo-1").json()

    ran = _commit_load_before(
        monkeypatch, queries, "list_snapshots", lambda: _load(warehouse, [_row_file(tmp_path, renamed)], when=day_2)
    )
    mixed = client.get(f"{PREFIX}/repositories/octo/repo-1")
    monkeypatch.undo()
    after = client.get(f"{PREFIX}/repositories/octo/renamed").json()

    assert ran, "the load did not commit between the detail's queries"
    assert mixed.status_code == 200, mixed.text
    body = mixed.json()
    # What the answer says: the current row is day 1's (octo/repo-1, 10 stars), yet its newest snapshot is
    # day 2's (99 stars), and its "earlier versions" hold the very name it answers with as replaced on day 2.
    summary = (
        body["full_name"],
        body["stargazers_count"],
        [(s["snapshot_date"], s["stargazers_count"]) for s in body["snapshots"]],
        [v["full_name"] for v in body["history"]],
    )
    assert body in (before, after), f"the detail mixes two states of the warehouse: {summary}"


def test_trending_counts_and_items_are_of_one_state_when_a_same_day_load_commits_between_them(
    client,  # noqa: F811
    warehouse: DatabaseConnection,
    tmp_path,
    monkeypatch,
):
    # Day 0: both at 10 stars. Day 1 morning: repository 1 rose to 20. Day 1 evening, a second run of the day
    # (docs/history.md: the later observation's counts are kept): repository 2 rose to 30 as well.
    _load(warehouse, [_row_file(tmp_path, _repo(1, stargazers_count=10), _repo(2, stargazers_count=10))], when=DAY_0)
    _load(warehouse, [_row_file(tmp_path, _repo(1, stargazers_count=20), _repo(2, stargazers_count=10))], when=DAY_1)
    evening = DAY_1 + timedelta(hours=12)
    second_run = [_row_file(tmp_path, _repo(1, stargazers_count=20), _repo(2, stargazers_count=30))]
    params = {"window_days": 1, "end_date": str(DAY_1.date())}
    before = client.get(f"{PREFIX}/trending", params=params).json()
    assert (before["compared"], before["rising"], [i["id"] for i in before["items"]]) == (2, 1, [1])

    ran = _commit_load_before(
        monkeypatch, insight_queries, "trending", lambda: _load(warehouse, second_run, when=evening)
    )
    mixed = client.get(f"{PREFIX}/trending", params=params)
    monkeypatch.undo()
    after = client.get(f"{PREFIX}/trending", params=params).json()
    assert (after["rising"], [i["id"] for i in after["items"]]) == (2, [2, 1])

    assert ran, "the load did not commit between the trending queries"
    assert mixed.status_code == 200, mixed.text
    body = mixed.json()
    # A complete list of every riser must hold `rising` items: here basis says one repository gained stars
    # and the list shows two.
    assert len(body["items"]) == body["rising"], (body["basis"], [(i["id"], i["gain"]) for i in body["items"]])


def test_language_shares_leading_languages_are_of_the_same_state_as_their_shares(
    client,  # noqa: F811
    warehouse: DatabaseConnection,
    tmp_path,
    monkeypatch,
):
    # Day 1 morning: Python leads alone. A second run of the day sees repository 2 as Rust, with the most stars.
    _load(
        warehouse,
        [_row_file(tmp_path, _repo(1, stargazers_count=10), _repo(2, stargazers_count=10))],
        when=DAY_1,
    )
    evening = DAY_1 + timedelta(hours=12)
    second_run = [_row_file(tmp_path, _repo(1, stargazers_count=10), _repo(2, stargazers_count=90, language="Rust"))]
    before = client.get(f"{PREFIX}/languages/shares", params={"days": 1}).json()
    assert before["series"] == [{"language": "Python", "star_share": [1.0]}]

    ran = _commit_load_before(
        monkeypatch, insight_queries, "language_totals", lambda: _load(warehouse, second_run, when=evening)
    )
    mixed = client.get(f"{PREFIX}/languages/shares", params={"days": 1})
    monkeypatch.undo()
    after = client.get(f"{PREFIX}/languages/shares", params={"days": 1}).json()
    assert after["series"] == [
        {"language": "Rust", "star_share": [0.9]},
        {"language": "Python", "star_share": [0.1]},
    ]

    assert ran, "the load did not commit between the shares' queries"
    assert mixed.status_code == 200, mixed.text
    # Mixed: Rust named the leading language of the day, with a share of 0 of that same day's stars, and
    # Python's share 100 %.
    assert mixed.json() in (before, after), mixed.json()["series"]
