"""A downstream copy kept by reading only what changed since its last read, against a real PostgreSQL.

The reader does what a dbt ``is_incremental()`` model or a DAG scheduled on the asset does: it keeps a
watermark per table and reads the rows above it. Read by ``generation`` (docs/history.md#reading-changes-
incrementally), it ends with exactly the warehouse's rows whatever order loads commit in: a run of an older
observation loaded after a newer one, two loads at once, deletions, undeletions, renames. Read by the time
columns an analyst reaches for first (``last_seen_at``, ``snapshot_date``, ``load_runs.finished_at``), the
same sequences lose rows without a word, which is why their column comments say they are no watermark.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from github_etl.hooks.warehouse import DatabaseConnection
from tests.in_process import load_staged, run_pipeline, stage_run, task_context
from tests.unit import test_concurrent_loads
from tests.unit.test_concurrent_loads import WRITTEN, LoadThread, wait_until_blocked
from tests.unit.test_load import DAY_0, DAY_1, DAY_2, _key_file, _load, _query, _repo, _row_file

# The overlapping loads' fixtures.
loads = test_concurrent_loads.loads
stoppable = test_concurrent_loads.stoppable

DAY_3 = DAY_2 + timedelta(days=1)
LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
DAY_4 = DAY_3 + timedelta(days=1)
# What a reader copies of a repository: every column but last_seen_at, which a load moves on every
# repository it sees again without changing anything else (that observation is the new snapshot).
_COPIED = (
    "id, full_name, owner_login, license_spdx_id, stargazers_count, row_hash, first_seen_at, deleted_at, "
    "deleted_reason, generation"
)
_SNAPSHOT = "repo_id, snapshot_date, stargazers_count, forks_count, open_issues_count, language, generation"
_VERSION = "repo_id, valid_from, valid_until, full_name, owner_login, license_spdx_id, generation"


class GenerationReader:
    """Reads each table's rows above the greatest generation it holds, as docs/history.md says to."""

    def __init__(self) -> None:
        self.repositories: dict[int, tuple[Any, ...]] = {}
        self.snapshots: dict[tuple[int, Any], tuple[Any, ...]] = {}
        self.history: dict[int, list[tuple[Any, ...]]] = {}
        self.reads: list[int] = []

    @staticmethod
    def _above(rows: Any) -> int:
        return max((row[-1] for row in rows), default=0)

    def read(self, db: DatabaseConnection) -> int:
        """One incremental read of the three tables; returns the rows it read."""
        repositories = _query(
            db,
            f"SELECT {_COPIED} FROM github.repositories WHERE generation > %s",
            (self._above(self.repositories.values()),),
        )
        snapshots = _query(
            db,
            f"SELECT {_SNAPSHOT} FROM github.repository_snapshots WHERE generation > %s",
            (self._above(self.snapshots.values()),),
        )
        # A version's key (valid_until) may change: the versions of each repository read again whole.
        changed = _query(
            db,
            "SELECT DISTINCT repo_id FROM github.repository_history WHERE generation > %s",
            (self._above(row for versions in self.history.values() for row in versions),),
        )
        for row in repositories:
            self.repositories[row[0]] = row
        for row in snapshots:
            self.snapshots[row[0], row[1]] = row
        for (repo_id,) in changed:
            self.history[repo_id] = _query(
                db, f"SELECT {_VERSION} FROM github.repository_history WHERE repo_id = %s ORDER BY 3", (repo_id,)
            )
        read = len(repositories) + len(snapshots) + len(changed)
        self.reads.append(read)
        return read

    def matches(self, db: DatabaseConnection) -> None:
        """The copy holds exactly the warehouse's rows."""
        assert sorted(self.repositories.values()) == _query(db, f"SELECT {_COPIED} FROM github.repositories ORDER BY 1")
        assert sorted(self.snapshots.values()) == _query(
            db, f"SELECT {_SNAPSHOT} FROM github.repository_snapshots ORDER BY 1, 2"
        )
        kept = _query(db, f"SELECT {_VERSION} FROM github.repository_history ORDER BY 1, 3")
        assert [row for repo_id in sorted(self.history) for row in self.history[repo_id]] == kept


class TimeReader:
    """Reads by the time columns an analyst reaches for first: last_seen_at and snapshot_date."""

    def __init__(self) -> None:
        self.seen: datetime | None = None
        self.day: Any = None
        self.ids: set[int] = set()
        self.deleted: set[int] = set()
        self.snapshots: set[tuple[int, Any]] = set()

    def read(self, db: DatabaseConnection) -> None:
        rows = _query(
            db,
            "SELECT id, last_seen_at, deleted_at IS NOT NULL FROM github.repositories"
            " WHERE last_seen_at > coalesce(%s, '-infinity'::timestamptz)",
            (self.seen,),
        )
        for repo_id, last_seen_at, deleted in rows:
            self.ids.add(repo_id)
            (self.deleted.add if deleted else self.deleted.discard)(repo_id)
            self.seen = max(self.seen or last_seen_at, last_seen_at)
        snapshots = _query(
            db,
            "SELECT repo_id, snapshot_date FROM github.repository_snapshots"
            " WHERE snapshot_date > coalesce(%s, '-infinity'::date)",
            (self.day,),
        )
        self.snapshots |= set(snapshots)
        self.day = max([self.day, *(day for _, day in snapshots)], key=lambda day: day or DAY_0.date())


def _keyed(tmp_path: Path, *rows: dict[str, Any]) -> dict[str, Any]:
    """A daily run's files: row file and key file, as the transform stages them."""
    row_file = _row_file(tmp_path, *rows)
    return {"files": [row_file], "key_files": [_key_file(row_file)]}


def _run(db: DatabaseConnection, tmp_path: Path, when: datetime, *rows: dict[str, Any], **kwargs: Any) -> Any:
    staged = _keyed(tmp_path, *rows)
    return _load(db, staged["files"], when=when, key_files=staged["key_files"], run_id=f"run-{when:%d}", **kwargs)


def test_reading_by_generation_gets_every_change_once_whatever_order_runs_load_in(warehouse, tmp_path):
    reader, naive = GenerationReader(), TimeReader()

    def read() -> int:
        naive.read(warehouse)
        read = reader.read(warehouse)
        reader.matches(warehouse)
        return read

    _run(warehouse, tmp_path, DAY_2, _repo(1), _repo(2), _repo(3))
    assert read() == 6  # three repositories, three snapshots

    # A run observed on DAY_1 loaded now (a backfill's cleared load, a load that failed and was cleared): a new
    # repository, a snapshot of DAY_1 for each, and repository 1 under its former license, placed in its history.
    _run(warehouse, tmp_path, DAY_1, _repo(1, license_spdx_id="Apache-2.0"), _repo(4))
    assert read() == 2 + 2 + 1  # repositories 1 (first seen earlier) and 4, their DAY_1 snapshots, 1's history

    # DAY_3: repository 1 renamed, 2 seen unchanged, 3 gone.
    _run(
        warehouse,
        tmp_path,
        DAY_3,
        _repo(1, full_name="octo/renamed", stargazers_count=11),
        _repo(2),
        deleted=[(3, "not_found")],
        stats={"listed": 100},
    )
    assert read() == 2 + 2 + 1  # 1 renamed and 3 deleted; the DAY_3 snapshots of 1 and 2; 1's history
    # DAY_4: repository 3 answers again.
    _run(warehouse, tmp_path, DAY_4, _repo(3))
    assert read() == 2  # 3 undeleted, its snapshot
    # The DAY_4 load again (a cleared task): nothing changes, nothing is read.
    _run(warehouse, tmp_path, DAY_4, _repo(3))
    assert read() == 0
    assert _query(warehouse, "SELECT deleted_at FROM github.repositories WHERE id = 3") == [(None,)]

    # Read by observation times, the same sequence lost the late run's repository and snapshots.
    assert 4 not in naive.ids
    assert (1, DAY_1.date()) not in naive.snapshots and (4, DAY_1.date()) not in naive.snapshots


def test_a_deletion_moves_no_observation_time_but_moves_the_generation(warehouse, tmp_path):
    reader, naive = GenerationReader(), TimeReader()
    _run(warehouse, tmp_path, DAY_1, _repo(1), _repo(2))
    reader.read(warehouse)
    naive.read(warehouse)

    _run(warehouse, tmp_path, DAY_2, _repo(1), deleted=[(2, "legal_block")], stats={"listed": 100})
    reader.read(warehouse)
    naive.read(warehouse)

    reader.matches(warehouse)
    assert reader.repositories[2][7:9] == (DAY_2, "legal_block")
    assert 2 not in naive.deleted  # a last_seen_at reader never learns that repository 2 went


def test_a_late_run_that_saw_a_repository_gone_first_moves_its_deletion_back_and_its_generation_on(warehouse, tmp_path):
    reader = GenerationReader()
    _run(warehouse, tmp_path, DAY_1, _repo(1), _repo(2))
    _run(warehouse, tmp_path, DAY_3, _repo(1), deleted=[(2, "not_found")], stats={"listed": 100})
    reader.read(warehouse)

    _run(warehouse, tmp_path, DAY_2, _repo(1), deleted=[(2, "disabled")], stats={"listed": 100})
    reader.read(warehouse)

    reader.matches(warehouse)
    assert reader.repositories[2][7:9] == (DAY_2, "disabled")


def test_a_load_in_progress_and_a_late_load_queued_behind_it_are_read_once_each_after_they_commit(
    warehouse, pg_url, tmp_path, loads
):
    """The DAY_2 load writes first and holds the writers' lock; the DAY_1 load (observed earlier, fetched
    slower) waits for it, then commits after it: the reader reads between the commits and after both."""
    _run(warehouse, tmp_path, DAY_0, _repo(1))
    reader, naive = GenerationReader(), TimeReader()
    reader.read(warehouse)
    naive.read(warehouse)
    newer = _keyed(tmp_path, _repo(1, stargazers_count=50), _repo(2))
    older = _keyed(tmp_path, _repo(1, stargazers_count=40), _repo(3))

    def load(when: datetime, staged: dict[str, Any]) -> Any:
        return lambda db: _load(db, staged["files"], when=when, key_files=staged["key_files"], run_id=f"r{when:%d}")

    first = LoadThread(pg_url, load(DAY_2, newer), stops=(WRITTEN,)).start()
    loads.append(first)
    first.reach(WRITTEN)
    second = LoadThread(pg_url, load(DAY_1, older), stops=(WRITTEN,)).start()
    loads.append(second)
    wait_until_blocked(pg_url, second)
    # Both under way, neither committed: nothing to read yet.
    assert reader.read(warehouse) == 0

    first.go_on(WRITTEN)
    first.result()
    second.reach(WRITTEN)
    naive.read(warehouse)
    assert reader.read(warehouse) == 4  # repositories 1 and 2, their DAY_2 snapshots
    second.go_on(WRITTEN)
    second.result()
    naive.read(warehouse)
    assert reader.read(warehouse) == 3  # repository 3 and the DAY_1 snapshots (1 keeps its DAY_2 data)

    reader.matches(warehouse)
    generations = dict(_query(warehouse, "SELECT run_id, generation FROM github.load_runs"))
    assert generations["r01"] > generations["r02"], "the load that committed later has the greater generation"
    # By observation times the later commit of the earlier observation was lost.
    assert 3 not in naive.ids and (3, DAY_1.date()) not in naive.snapshots


def test_an_initial_bulk_load_stamps_its_rows_with_its_generation_and_restores_the_default(warehouse, tmp_path):
    _run(warehouse, tmp_path, DAY_1, _repo(1), _repo(2))

    (generation,) = _query(warehouse, "SELECT generation FROM github.load_runs")[0]
    assert _query(warehouse, "SELECT DISTINCT generation FROM github.repositories") == [(generation,)]
    assert _query(warehouse, "SELECT DISTINCT generation FROM github.repository_snapshots") == [(generation,)]
    assert _query(
        warehouse,
        "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef JOIN pg_attribute ON attrelid = adrelid AND attnum = adnum"
        " WHERE adrelid = 'github.repositories'::regclass AND attname = 'generation'",
    ) == [("github.write_generation()",)]


def test_a_row_inserted_by_hand_gets_a_generation_above_every_committed_one(warehouse, tmp_path):
    _run(warehouse, tmp_path, DAY_1, _repo(1))
    reader = GenerationReader()
    reader.read(warehouse)
    with warehouse.cursor() as cur:
        cur.execute(
            "INSERT INTO github.repositories (id, node_id, full_name, name, owner_login, created_at, first_seen_at,"
            " last_seen_at) VALUES (9, 'R_9', 'octo/nine', 'nine', 'octo', %s, %s, %s)",
            (DAY_0, DAY_0, DAY_0),
        )
    warehouse.commit()

    assert reader.read(warehouse) == 1
    assert 9 in reader.repositories


@pytest.mark.parametrize("changed", [False, True], ids=["seen-again", "changed"])
def test_a_repository_only_seen_again_keeps_its_generation_but_gets_a_snapshot(warehouse, tmp_path, changed):
    """Only last_seen_at moves on a repository seen again unchanged: its generation stays (so its update stays
    HOT, the index on generation unchanged), and the observation reaches readers as its new snapshot."""
    _run(warehouse, tmp_path, DAY_1, _repo(1))
    (before,) = _query(warehouse, "SELECT generation FROM github.repositories")

    _run(warehouse, tmp_path, DAY_2, _repo(1, description="new words") if changed else _repo(1))

    (after,) = _query(warehouse, "SELECT generation FROM github.repositories")
    assert (after != before) is changed
    assert _query(warehouse, "SELECT snapshot_date FROM github.repository_snapshots WHERE generation > %s", before) == [
        (DAY_2.date(),)
    ]


# -- whole runs against the fake GitHub, and the asset event a consumer DAG receives ------------------------


def _check(pg_url: str, loaded: Any) -> dict[str, Any]:
    """The check task of a loaded run, with the outlet events Airflow hands it; returns the asset event's extra."""
    from airflow.sdk.execution_time.context import OutletEventAccessors

    from github_etl.assets import REPOSITORIES_ASSET
    from github_etl.tasks import check_task

    outlet_events = OutletEventAccessors()
    context = {**task_context(loaded.run_id, LOGICAL_DATE), "outlet_events": outlet_events}
    with mock.patch(
        "github_etl.hooks.warehouse.DatabaseConnection", side_effect=lambda *a, **k: DatabaseConnection(pg_url)
    ):
        check_task(context, loaded, warehouse_conn_id="unused")
    return dict(outlet_events[REPOSITORIES_ASSET].extra)


def test_a_consumer_of_the_asset_events_reads_each_runs_changes_once_when_an_older_run_loads_last(
    fake_github_factory, pg_url, tmp_path
):
    """A backfill's run fetched first and loaded after the next day's run: each event bounds a read by its
    generation, and the two reads together hold the warehouse; by last_seen_at the second read finds nothing."""
    fake = fake_github_factory(repo_count=300, max_id=300, seed=71, vanished_ratio=0.0)
    staging_url = (tmp_path / "staging").as_uri()
    common = {"pg_url": pg_url, "staging_url": staging_url}
    sample = {"mode": "sample", "sample_size": 30, "shards": 2}

    token = "ghp_incremental_0001"
    older = stage_run(fake.base_url, token, sample, run_id="older", logical_date=LOGICAL_DATE, **common)
    newer = run_pipeline(
        fake.base_url,
        token,
        sample,
        run_id="newer",
        logical_date=LOGICAL_DATE + timedelta(days=1),
        **common,
    )
    first_event = _check(pg_url, newer)
    db = DatabaseConnection(pg_url, connect_retries=0)
    try:
        read_up_to = "SELECT id FROM github.repositories WHERE generation > %s AND generation <= %s"
        first = {row[0] for row in _query(db, read_up_to, (0, first_event["generation"]))}
        (seen,) = _query(db, "SELECT max(last_seen_at) FROM github.repositories")[0]

        loaded = load_staged(older, run_id="older", logical_date=LOGICAL_DATE, **common)
        second_event = _check(pg_url, loaded)
        second = {row[0] for row in _query(db, read_up_to, (first_event["generation"], second_event["generation"]))}

        assert first_event["run_id"] == "newer" and second_event["run_id"] == "older"
        assert second_event["generation"] > first_event["generation"]
        assert second_event["observed_at"] < first_event["observed_at"]
        assert second, "the older run brought repositories of its own"
        assert first | second == {row[0] for row in _query(db, "SELECT id FROM github.repositories")}
        snapshots = _query(
            db, "SELECT count(*) FROM github.repository_snapshots WHERE generation = %s", (second_event["generation"],)
        )
        assert snapshots == [(loaded.result.snapshots,)]
        # Read by observation time, the older run's load is invisible.
        assert _query(db, "SELECT count(*) FROM github.repositories WHERE last_seen_at > %s", (seen,)) == [(0,)]
    finally:
        db.close()
