"""The day summaries (language_days, star_gains, star_gain_windows) and the API answers built on them, against a
computation from scratch over github.repository_snapshots, after the orders of loads a deployment sees."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg2 import sql

from github_etl.errors import WarehouseSchemaError
from github_etl.hooks.warehouse import DatabaseConnection, apply_schema
from tests.integration import test_api as api_tests
from tests.integration.test_api import PREFIX
from tests.unit.test_load import _key_file, _load, _query, _repo, _row_file
from tests.unit.test_load import _summaries as _stored_summaries

pytestmark = pytest.mark.integration

BASE = datetime(2024, 5, 1, 12, tzinfo=UTC)


def _scratch(db: DatabaseConnection) -> dict[str, list[tuple[Any, ...]]]:
    """The summaries as a computation over the snapshots alone gives them."""
    return {
        "languages": _query(
            db,
            "SELECT snapshot_date, language, count(*)::int, sum(stargazers_count)::bigint"
            " FROM github.repository_snapshots GROUP BY 1, 2 ORDER BY 1, 2",
        ),
        "gains": _query(
            db,
            "SELECT e.snapshot_date, w.days::smallint, e.repo_id, e.stargazers_count - s.stargazers_count,"
            " e.stargazers_count, e.language"
            " FROM github.repository_snapshots AS e CROSS JOIN unnest(ARRAY[1, 7, 30]) AS w (days)"
            " JOIN github.repository_snapshots AS s"
            " ON s.repo_id = e.repo_id AND s.snapshot_date = e.snapshot_date - w.days"
            " WHERE e.stargazers_count > s.stargazers_count ORDER BY 1, 2, 3",
        ),
        "windows": _query(
            db,
            "SELECT e.snapshot_date, w.days::smallint, count(*)::int,"
            " count(*) FILTER (WHERE e.stargazers_count > s.stargazers_count)::int"
            " FROM github.repository_snapshots AS e CROSS JOIN unnest(ARRAY[1, 7, 30]) AS w (days)"
            " JOIN github.repository_snapshots AS s"
            " ON s.repo_id = e.repo_id AND s.snapshot_date = e.snapshot_date - w.days"
            " GROUP BY 1, 2 ORDER BY 1, 2",
        ),
    }


def _summaries(db: DatabaseConnection) -> dict[str, list[tuple[Any, ...]]]:
    """The stored summaries as _scratch computes them: each gain with its language, the windows with pairs."""
    stored = _stored_summaries(db)
    languages = dict(
        ((end, days, repo_id), language)
        for end, days, repo_id, language in _query(
            db, "SELECT end_date, window_days, repo_id, language FROM github.star_gains"
        )
    )
    return {
        "languages": stored["languages"],
        "gains": [(*gain, languages[gain[:3]]) for gain in stored["gains"]],
        "windows": [window for window in stored["windows"] if window[2] > 0],
    }


def _snapshots(db: DatabaseConnection) -> list[tuple[Any, ...]]:
    return _query(
        db,
        "SELECT repo_id, snapshot_date, stargazers_count, forks_count, open_issues_count, language"
        " FROM github.repository_snapshots ORDER BY 1, 2",
    )


def _random_runs(rng: random.Random) -> list[tuple[datetime, list[dict[str, Any]]]]:
    runs = []
    stars = {repo_id: rng.randint(1, 50) for repo_id in range(1, 9)}
    languages = {repo_id: rng.choice(["Python", "Go", None]) for repo_id in stars}
    offsets = sorted(rng.sample([0, 1, 2, 7, 8, 30, 31], 4))
    for offset in offsets:
        for hour in sorted(rng.sample([1, 9, 15, 22], rng.choice([1, 1, 2]))):
            seen = rng.sample(sorted(stars), rng.randint(2, 8))
            rows = []
            for repo_id in seen:
                stars[repo_id] += rng.randint(-2, 6)
                stars[repo_id] = max(stars[repo_id], 0)
                if rng.random() < 0.2:
                    languages[repo_id] = rng.choice(["Python", "Go", "Rust", None])
                rows.append(_repo(repo_id, stargazers_count=stars[repo_id], language=languages[repo_id]))
            runs.append((BASE.replace(hour=hour) + timedelta(days=offset), rows))
    return runs


@pytest.mark.parametrize("seed", range(12))
def test_runs_loaded_in_any_order_give_the_snapshots_and_summaries_of_loading_them_in_order(
    warehouse, second_pg_url, tmp_path, seed
):
    rng = random.Random(seed)
    runs = _random_runs(rng)
    shuffled = runs[:]
    rng.shuffle(shuffled)
    in_order = DatabaseConnection(second_pg_url, connect_retries=0)
    apply_schema(in_order)
    try:
        for db, sequence in ((in_order, runs), (warehouse, shuffled)):
            for when, rows in sequence:
                path = _row_file(tmp_path, *rows)
                _load(db, [path], when=when, run_id=f"run-{when:%d%H}", key_files=[_key_file(path)])
        assert _summaries(warehouse) == _scratch(warehouse), "summaries against the snapshots"
        assert _snapshots(warehouse) == _snapshots(in_order), "snapshots against loading in order"
        assert _summaries(warehouse) == _summaries(in_order)
    finally:
        in_order.close()


# -- the API against plain SQL over the snapshots ------------------------------------------------------------


airflow_app, credentials, token = api_tests.airflow_app, api_tests.credentials, api_tests.token
client = api_tests.client


def _get(client: Any, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"{PREFIX}{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _walk_trending(client: Any, **params: Any) -> tuple[dict[str, Any], list[tuple[int, int, int, int, Any]]]:
    first = body = _get(client, "/trending", limit=2, **params)
    items = []
    while True:
        items += [
            (i["id"], i["start_stargazers_count"], i["stargazers_count"], i["gain"], i["language"])
            for i in body["items"]
        ]
        if body["next_cursor"] is None:
            return first, items
        body = _get(client, "/trending", limit=2, cursor=body["next_cursor"], **params)


@pytest.mark.parametrize("seed", range(4))
def test_trending_and_languages_answer_what_plain_sql_over_the_snapshots_gives(client, warehouse, tmp_path, seed):
    rng = random.Random(seed)
    runs = _random_runs(rng)
    rng.shuffle(runs)
    for when, rows in runs:
        path = _row_file(tmp_path, *rows)
        _load(warehouse, [path], when=when, run_id=f"run-{when:%d%H}", key_files=[_key_file(path)])
    days = [
        row[0] for row in _query(warehouse, "SELECT DISTINCT snapshot_date FROM github.repository_snapshots ORDER BY 1")
    ]
    for end in days:
        for window in (1, 7, 30):
            start = end - timedelta(days=window)
            pairs = _query(
                warehouse,
                "SELECT e.repo_id, s.stargazers_count, e.stargazers_count, e.stargazers_count - s.stargazers_count,"
                " e.language FROM github.repository_snapshots AS e JOIN github.repository_snapshots AS s"
                " ON s.repo_id = e.repo_id AND s.snapshot_date = %s WHERE e.snapshot_date = %s",
                (start, end),
            )
            expected = sorted((p for p in pairs if p[3] > 0), key=lambda p: (-p[3], -p[0]))
            for language in (None, "python", "GO"):
                params: dict[str, Any] = {"end_date": str(end), "window_days": window}
                wanted = expected
                if language is not None:
                    params["language"] = language
                    wanted = [p for p in expected if (p[4] or "").lower() == language.lower()]
                first, items = _walk_trending(client, **params)
                start_seen = start in days
                assert first["compared"] == (len(pairs) if start_seen else None), params
                assert first["rising"] == (len(expected) if start_seen else None), params
                assert items == wanted, params
        body = _get(client, "/languages", date=str(end), window_days=1)
        totals = _query(
            warehouse,
            "SELECT language, count(*)::int, sum(stargazers_count)::int FROM github.repository_snapshots"
            " WHERE snapshot_date = %s GROUP BY 1",
            (end,),
        )
        assert sorted((i["language"] or "", i["repositories"], i["stars"]) for i in body["items"]) == sorted(
            (language or "", count, stars) for language, count, stars in totals
        )


# -- a month detached, then attached again -------------------------------------------------------------------


def test_a_month_detached_then_attached_again_as_the_load_error_says_leaves_summaries_equal_to_the_snapshots(
    client, warehouse, tmp_path
):
    """Loads of the days after a detached month compare with none of its days; the load refused for the month
    says how to attach it again and summarize its days again, and doing as it says gives every window."""
    april_30 = datetime(2024, 4, 30, 12, tzinfo=UTC)
    may_1 = april_30 + timedelta(days=1)
    _load(warehouse, [_row_file(tmp_path, _repo(1, stargazers_count=10), _repo(2, stargazers_count=20))], when=april_30)
    with warehouse.cursor() as cur:
        # docs/warehouse-dba.md, Retention: detached (kept as a table, for now).
        cur.execute("ALTER TABLE github.repository_snapshots DETACH PARTITION github.repository_snapshots_2024_04")
    warehouse.commit()
    _load(warehouse, [_row_file(tmp_path, _repo(1, stargazers_count=15), _repo(2, stargazers_count=20))], when=may_1)
    with pytest.raises(WarehouseSchemaError) as refused:
        _load(warehouse, [_row_file(tmp_path, _repo(1, stargazers_count=10))], when=april_30, run_id="april-again")
    warehouse.rollback()

    attach, summarize = re.fullmatch(
        r".*attach it again: (ALTER TABLE .*); then summarize its days again: (SELECT .*)\.", str(refused.value)
    ).groups()
    with warehouse.cursor() as cur:
        cur.execute(attach)
        cur.execute(summarize)
    warehouse.commit()

    body = _get(client, "/trending", end_date="2024-05-01", window_days=1)
    assert (body["compared"], body["rising"]) == (2, 1), body["basis"]
    assert _summaries(warehouse) == _scratch(warehouse)


# -- two runs on one day, the later one loaded after the next day's run ------------------------------------


@pytest.mark.parametrize("with_key_files", [True, False], ids=["key-files", "row-files-only"])
def test_the_later_run_of_a_day_loaded_after_the_next_days_run_still_gives_the_day_its_counts(
    client, warehouse, second_pg_url, tmp_path, with_key_files
):
    """backfill.md: "when two runs see the same repository, the later one's counts are kept"; design.md: the day's
    snapshot follows the later observation; deploy-kubernetes.md: runs loaded again in any order give the same
    snapshots and day summaries. Here the afternoon run's load failed and was cleared after the next day's run
    had loaded (a real cleared load)."""
    morning = datetime(2024, 5, 1, 9, tzinfo=UTC)
    afternoon = morning.replace(hour=15)
    next_day = morning + timedelta(days=1)
    runs = {
        morning: [_repo(1, stargazers_count=50), _repo(2, stargazers_count=20)],
        afternoon: [_repo(1, stargazers_count=70, language="Go"), _repo(2, stargazers_count=20)],
        next_day: [_repo(1, stargazers_count=75, language="Go"), _repo(2, stargazers_count=20)],
    }

    def load(db: DatabaseConnection, when: datetime) -> None:
        path = _row_file(tmp_path, *runs[when])
        key_files = [_key_file(path)] if with_key_files else None
        _load(db, [path], when=when, run_id=f"run-{when:%d%H}", key_files=key_files)

    in_order = DatabaseConnection(second_pg_url, connect_retries=0)
    apply_schema(in_order)
    try:
        for when in (morning, afternoon, next_day):
            load(in_order, when)
        for when in (morning, next_day, afternoon):
            load(warehouse, when)

        day = "SELECT repo_id, stargazers_count, language FROM github.repository_snapshots WHERE snapshot_date = %s"
        assert _query(in_order, day + " ORDER BY 1", (morning.date(),)) == [(1, 70, "Go"), (2, 20, "Python")]
        languages = _get(client, "/languages", date="2024-05-01")
        trending = _get(client, "/trending", end_date="2024-05-02", window_days=1)
        assert [(i["language"], i["repositories"], i["stars"]) for i in languages["items"]] == [
            ("Go", 1, 70),
            ("Python", 1, 20),
        ]
        assert [(i["id"], i["gain"]) for i in trending["items"]] == [(1, 5)]
        assert _query(warehouse, day + " ORDER BY 1", (morning.date(),)) == [(1, 70, "Go"), (2, 20, "Python")]
        assert _summaries(warehouse) == _summaries(in_order)
    finally:
        in_order.close()


# -- a run of a dropped month loaded again -------------------------------------------------------------------


def test_a_run_of_a_dropped_month_loaded_again_keeps_the_summaries_of_a_day_two_runs_observed(
    client, warehouse, tmp_path
):
    """warehouse-dba.md: "Loading a run of a dropped month again creates its partition again and keeps the gains
    that month's days were summarized with"; deploy-kubernetes.md: the day summaries of a dropped month stay."""
    morning = datetime(2024, 4, 29, 9, tzinfo=UTC)
    afternoon = morning.replace(hour=15)
    week_later = morning + timedelta(days=7)
    files = {
        morning: _row_file(tmp_path, _repo(1, stargazers_count=10), _repo(2, stargazers_count=20)),
        afternoon: _row_file(tmp_path, _repo(3, stargazers_count=30)),
        week_later: _row_file(
            tmp_path, _repo(1, stargazers_count=11), _repo(2, stargazers_count=22), _repo(3, stargazers_count=33)
        ),
    }
    for when, path in files.items():
        _load(warehouse, [path], when=when, run_id=f"run-{when:%d%H}")
    kept = _summaries(warehouse)
    trending = _get(client, "/trending", end_date=str(week_later.date()), window_days=7)
    languages = _get(client, "/languages", date=str(morning.date()))
    month = sql.Identifier("github", "repository_snapshots_2024_04")
    with warehouse.cursor() as cur:
        cur.execute(sql.SQL("ALTER TABLE github.repository_snapshots DETACH PARTITION {}").format(month))
        cur.execute(sql.SQL("DROP TABLE {}").format(month))
    warehouse.commit()

    # The morning run's load task cleared, from the same staged files.
    _load(warehouse, [files[morning]], when=morning, run_id=f"run-{morning:%d%H}")

    assert _get(client, "/trending", end_date=str(week_later.date()), window_days=7) == trending
    assert _get(client, "/languages", date=str(morning.date())) == languages
    assert _summaries(warehouse) == kept


APRIL_29 = datetime(2024, 4, 29, 9, tzinfo=UTC)
NOON, AFTERNOON = APRIL_29.replace(hour=12), APRIL_29.replace(hour=15)


def _languages(db: DatabaseConnection) -> list[tuple[Any, ...]]:
    return _query(db, "SELECT snapshot_date, language, repositories, stars FROM github.language_days ORDER BY 1, 2")


def _drop_april(db: DatabaseConnection) -> None:
    """docs/warehouse-dba.md, Retention: the month detached and dropped."""
    month = sql.Identifier("github", "repository_snapshots_2024_04")
    with db.cursor() as cur:
        cur.execute(sql.SQL("ALTER TABLE github.repository_snapshots DETACH PARTITION {}").format(month))
        cur.execute(sql.SQL("DROP TABLE {}").format(month))
    db.commit()


@pytest.mark.parametrize("second", ["another-run-of-the-day", "same-run-transformed-anew"])
def test_a_second_load_of_a_dropped_day_keeps_the_days_summaries(warehouse, tmp_path, second):
    """warehouse-dba.md: loading a run of a dropped month again keeps the summaries that month's days were
    summarized with. A second such load (another run of the day cleared too, or the same run's load cleared again
    after its transform accepted a quarantined record) must keep them as well."""
    files = {
        APRIL_29: _row_file(tmp_path, _repo(1, stargazers_count=10), _repo(2, stargazers_count=20)),
        NOON: _row_file(tmp_path, _repo(3, stargazers_count=30, language="Go")),
        AFTERNOON: _row_file(tmp_path, _repo(4, stargazers_count=40, language="Rust")),
    }
    for when, path in files.items():
        _load(warehouse, [path], when=when, run_id=f"run-{when:%H}")
    kept = _languages(warehouse)
    assert kept == [
        (APRIL_29.date(), "Go", 1, 30),
        (APRIL_29.date(), "Python", 2, 30),
        (APRIL_29.date(), "Rust", 1, 40),
    ]
    _drop_april(warehouse)

    _load(warehouse, [files[APRIL_29]], when=APRIL_29, run_id="run-09")
    assert _languages(warehouse) == kept  # the first load again keeps them
    if second == "another-run-of-the-day":
        _load(warehouse, [files[NOON]], when=NOON, run_id="run-12")
    else:
        # The morning's transform cleared after a fix accepted a record it had quarantined (repository 5).
        again = _row_file(tmp_path, _repo(1, stargazers_count=10), _repo(2, stargazers_count=20), _repo(5))
        _load(warehouse, [again], when=APRIL_29, run_id="run-09")

    assert _languages(warehouse) == kept, "the afternoon's repository left the day's language shares"


def _gains(db: DatabaseConnection) -> list[tuple[Any, ...]]:
    return _query(db, "SELECT end_date, window_days, repo_id, gain FROM github.star_gains ORDER BY 1, 2, 3")


def test_a_second_load_of_a_dropped_day_keeps_the_gains_of_the_week_after(warehouse, tmp_path):
    """warehouse-dba.md: "Loading a run of a dropped month again ... keeps the summaries (language shares, gains)
    that month's days were summarized with": the 7-day gains ending a week after a dropped day too."""
    week_later = APRIL_29 + timedelta(days=7)  # 2024-05-06, in a month kept
    files = {
        APRIL_29: _row_file(tmp_path, _repo(1, stargazers_count=10), _repo(2, stargazers_count=20)),
        NOON: _row_file(tmp_path, _repo(3, stargazers_count=30)),
        AFTERNOON: _row_file(tmp_path, _repo(4, stargazers_count=40)),
        week_later: _row_file(tmp_path, *(_repo(i, stargazers_count=10 * i + i) for i in (1, 2, 3, 4))),
    }
    for when, path in files.items():
        _load(warehouse, [path], when=when, run_id=f"run-{when:%d%H}")
    kept = _gains(warehouse)
    assert [row[2] for row in kept if row[1] == 7] == [1, 2, 3, 4]
    _drop_april(warehouse)

    _load(warehouse, [files[APRIL_29]], when=APRIL_29, run_id=f"run-{APRIL_29:%d%H}")
    assert _gains(warehouse) == kept
    _load(warehouse, [files[NOON]], when=NOON, run_id=f"run-{NOON:%d%H}")

    assert _gains(warehouse) == kept, "the week's risers seen by the afternoon run are gone from trending"


@pytest.mark.parametrize("seed", range(20, 32))
def test_summaries_equal_the_snapshots_after_late_loads_cleared_loads_and_deletions(warehouse, tmp_path, seed):
    rng = random.Random(seed)
    runs = _random_runs(rng)
    rng.shuffle(runs)
    runs += rng.sample(runs, 3)  # loads cleared and run again
    for when, rows in runs:
        path = _row_file(tmp_path, *rows)
        seen = {row["id"] for row in rows}
        gone = [(repo_id, "not_found") for repo_id in range(1, 9) if repo_id not in seen][:1]
        key_files = [_key_file(path)] if rng.random() < 0.5 else None
        _load(warehouse, [path], when=when, run_id=f"run-{when:%d%H}", key_files=key_files, deleted=gone)
    assert _summaries(warehouse) == _scratch(warehouse)
