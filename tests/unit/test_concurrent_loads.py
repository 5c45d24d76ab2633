"""Loads that overlap in time, against a real PostgreSQL: each commits, and the result is the one of running them
one after the other in commit order, the later observation winning.

Every overlap is made deterministic: a load runs in a thread of its own and stops at a named step of
``load_run`` (a gate) until the test lets it go on, and the test waits until the other load waits for a
lock in ``pg_locks`` (never a sleep).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from github_etl import load
from github_etl.hooks.warehouse import DatabaseConnection
from github_etl.load import LoadResult
from github_etl.load.checks import load_quality_checks
from github_etl.settings import DAG_ID
from tests.unit.test_load import DAY_1, _key_file, _load, _query, _repo, _row_file
from tools.waiting import poll

# Steps of load_run a load can be stopped at: before the transaction takes any lock of the warehouse's tables
# (the schema is applied), once the repositories and snapshots are written, and once the census's cursor
# is moved, neither committed.
BEFORE_WRITING = "claim_empty_warehouse"
WRITTEN = "mark_gone"
CURSOR_MOVED = "_advance_census_cursor"
# Steps whose stop comes after the step rather than before it.
STOPS_AFTER = {CURSOR_MOVED}
WAIT_SECONDS = 60


@dataclass
class _Gate:
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class LoadThread:
    """A load run in a thread of its own, on a connection of its own, stoppable at steps of ``load_run``."""

    def __init__(self, pg_url: str, run: Callable[[DatabaseConnection], LoadResult], stops: tuple[str, ...] = ()):
        self.db = DatabaseConnection(pg_url, connect_retries=0)
        self.pid = self.db.connection.get_backend_pid()
        self.gates = {step: _Gate() for step in stops}
        self.outcome: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, args=(run,))
        self.thread.gates = self.gates  # type: ignore[attr-defined]

    def _run(self, run: Callable[[DatabaseConnection], LoadResult]) -> None:
        try:
            self.outcome["result"] = run(self.db)
        except BaseException as exc:  # handed to the test's thread
            self.outcome["error"] = exc
        finally:
            for gate in self.gates.values():
                gate.reached.set()
            self.db.close()

    def start(self) -> LoadThread:
        self.thread.start()
        return self

    def reach(self, step: str) -> None:
        """Wait until the load stops at ``step``."""
        assert self.gates[step].reached.wait(WAIT_SECONDS), f"the load never reached {step}"
        assert "error" not in self.outcome, self.outcome["error"]

    def go_on(self, step: str) -> None:
        self.gates[step].release.set()

    def result(self) -> LoadResult:
        for gate in self.gates.values():
            gate.release.set()
        self.thread.join(WAIT_SECONDS)
        assert not self.thread.is_alive(), "the load did not end"
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["result"]


@pytest.fixture
def stoppable(monkeypatch) -> None:
    """Make the steps of ``load_run`` stop a ``LoadThread`` that asks to, and no other caller."""
    for step in (BEFORE_WRITING, WRITTEN, CURSOR_MOVED):
        original = getattr(load, step)

        def stop(step: str) -> None:
            gate = getattr(threading.current_thread(), "gates", {}).get(step)
            if gate is not None:
                gate.reached.set()
                assert gate.release.wait(WAIT_SECONDS), f"never let go on from {step}"

        def gated(*args: Any, _step: str = step, _original: Any = original, **kwargs: Any) -> Any:
            if _step not in STOPS_AFTER:
                stop(_step)
            value = _original(*args, **kwargs)
            if _step in STOPS_AFTER:
                stop(_step)
            return value

        monkeypatch.setattr(load, step, gated)


@pytest.fixture
def loads(pg_url: str, stoppable: None) -> Iterator[list[LoadThread]]:
    """The load threads a test starts; every one is let go and joined at the end, whatever happened."""
    started: list[LoadThread] = []
    yield started
    for thread in started:
        for gate in thread.gates.values():
            gate.release.set()
        thread.thread.join(WAIT_SECONDS)


def _waits_for_a_lock(pg_url: str, pid: int) -> bool:
    watcher = psycopg2.connect(pg_url)
    try:
        with watcher.cursor() as cur:
            cur.execute("SELECT EXISTS (SELECT FROM pg_locks WHERE pid = %s AND NOT granted)", (pid,))
            return bool(cur.fetchone()[0])
    finally:
        watcher.close()


def wait_until_blocked(pg_url: str, thread: LoadThread) -> None:
    poll(
        lambda: _waits_for_a_lock(pg_url, thread.pid) or "error" in thread.outcome or not thread.thread.is_alive(),
        timeout=WAIT_SECONDS,
        what="the second load to wait for a lock",
    )
    assert thread.thread.is_alive() and not thread.outcome, f"the load ended without waiting: {thread.outcome}"


# A manual `owners` run fetched in the morning and the scheduled `sample` in the afternoon of the same day.
DAY_0 = DAY_1 - timedelta(days=1)
MORNING = DAY_1 + timedelta(hours=9)
AFTERNOON = DAY_1 + timedelta(hours=15)
EVENING = DAY_1 + timedelta(hours=20)


def _seed(warehouse: DatabaseConnection, tmp_path: Path) -> None:
    _load(warehouse, [_row_file(tmp_path, _repo(1), _repo(2), _repo(3))], when=DAY_0, run_id="seed")


def _run(
    tmp_path: Path, rows: list[dict[str, Any]], when: datetime, run_id: str, mode: str, with_keys: bool
) -> Callable[[DatabaseConnection], LoadResult]:
    path = _row_file(tmp_path, *rows)
    key_files = [_key_file(path)] if with_keys else None

    def run(db: DatabaseConnection) -> LoadResult:
        return _load(db, [path], when=when, run_id=run_id, mode=mode, key_files=key_files)

    return run


def _owners_and_sample(tmp_path: Path, with_keys: bool) -> dict[str, Callable[[DatabaseConnection], LoadResult]]:
    return {
        # Repository 1 only the owners run sees; 2 and 3 both see, 2 with more stars and 3 renamed by the afternoon.
        "owners": _run(
            tmp_path,
            [_repo(1), _repo(2, stargazers_count=25), _repo(3)],
            MORNING,
            "manual__owners",
            "owners",
            with_keys,
        ),
        "sample": _run(
            tmp_path,
            [_repo(2, stargazers_count=27), _repo(3, full_name="acme/c", owner_login="acme"), _repo(4)],
            AFTERNOON,
            "scheduled__sample",
            "sample",
            with_keys,
        ),
    }


def _state(db: DatabaseConnection) -> dict[str, Any]:
    return {
        "repositories": _query(
            db,
            "SELECT id, full_name, stargazers_count, first_seen_at, last_seen_at FROM github.repositories ORDER BY id",
        ),
        "snapshots": _query(
            db, "SELECT repo_id, snapshot_date, stargazers_count FROM github.repository_snapshots ORDER BY 2, 1"
        ),
        "history": _query(db, "SELECT repo_id, valid_from, valid_until, full_name FROM github.repository_history"),
        "languages": _query(
            db, "SELECT snapshot_date, language, repositories, stars FROM github.language_days ORDER BY 1, 2"
        ),
        "gains": _query(db, "SELECT end_date, window_days, repo_id, gain FROM github.star_gains ORDER BY 1, 2, 3"),
        "windows": _query(db, "SELECT end_date, window_days, compared, rising FROM github.star_gain_windows"),
    }


AFTER_BOTH = {
    "repositories": [
        (1, "octo/repo-1", 10, DAY_0, MORNING),
        (2, "octo/repo-2", 27, DAY_0, AFTERNOON),
        (3, "acme/c", 30, DAY_0, AFTERNOON),
        (4, "octo/repo-4", 40, AFTERNOON, AFTERNOON),
    ],
    "snapshots": [
        *[(i, DAY_0.date(), 10 * i) for i in (1, 2, 3)],
        (1, DAY_1.date(), 10),
        (2, DAY_1.date(), 27),
        (3, DAY_1.date(), 30),
        (4, DAY_1.date(), 40),
    ],
    "history": [(3, DAY_0, AFTERNOON, "octo/repo-3")],
    "languages": [(DAY_0.date(), "Python", 3, 60), (DAY_1.date(), "Python", 4, 107)],
    "gains": [(DAY_1.date(), 1, 2, 7)],
    "windows": [(DAY_1.date(), 1, 3, 1)],
}
RUN_IDS = {"owners": "manual__owners", "sample": "scheduled__sample"}
# What each run's load did, in either commit order: the second writes only what the first left to it.
AUDIT = {
    ("owners", "sample"): {
        "owners": LoadResult(inserted=0, updated=3, unchanged=0, snapshots=3, total=3),
        # Repository 3's snapshot of the day holds the counts the sample saw already.
        "sample": LoadResult(inserted=1, updated=2, unchanged=0, snapshots=2, total=3),
    },
    ("sample", "owners"): {
        "sample": LoadResult(inserted=1, updated=2, unchanged=0, snapshots=3, total=3),
        # Seen later by the sample, 2 and 3 keep its data, dates and snapshots: only 1 is written.
        "owners": LoadResult(inserted=0, updated=1, unchanged=2, snapshots=1, total=3),
    },
}


def _audit(db: DatabaseConnection) -> dict[str, tuple[int, int, int]]:
    rows = _query(db, "SELECT run_id, inserted, updated, unchanged FROM github.load_runs WHERE run_id <> 'seed'")
    return {run_id: (inserted, updated, unchanged) for run_id, inserted, updated, unchanged in rows}


@pytest.mark.parametrize("with_keys", [True, False], ids=["key-files", "row-files-only"])
@pytest.mark.parametrize("order", [("owners", "sample"), ("sample", "owners")], ids=["owners-first", "sample-first"])
@pytest.mark.parametrize("waits_in", ["schema", "writers-lock"])
def test_two_overlapping_loads_of_one_day_both_commit_as_if_one_ran_after_the_other(
    warehouse, pg_url, tmp_path, loads, order, with_keys, waits_in
):
    _seed(warehouse, tmp_path)
    runs = _owners_and_sample(tmp_path, with_keys)
    first_name, second_name = order
    first = LoadThread(pg_url, runs[first_name], stops=(BEFORE_WRITING, WRITTEN))
    second = LoadThread(pg_url, runs[second_name], stops=(BEFORE_WRITING,))
    loads.extend([first, second])
    first.start().reach(BEFORE_WRITING)
    if waits_in == "writers-lock":
        # Both have applied the schema and begun their transactions before either writes.
        second.start().reach(BEFORE_WRITING)
        first.go_on(BEFORE_WRITING)
        first.reach(WRITTEN)
        second.go_on(BEFORE_WRITING)
    else:
        # The second starts once the first has written: applying the schema waits for the first's commit.
        first.go_on(BEFORE_WRITING)
        first.reach(WRITTEN)
        second.go_on(BEFORE_WRITING)
        second.start()
    wait_until_blocked(pg_url, second)
    first.go_on(WRITTEN)
    results = {first_name: first.result(), second_name: second.result()}

    assert _state(warehouse) == AFTER_BOTH
    assert results == AUDIT[order]
    assert _audit(warehouse) == {
        RUN_IDS[name]: (done.inserted, done.updated, done.unchanged) for name, done in AUDIT[order].items()
    }
    for run_id in RUN_IDS.values():
        assert load_quality_checks(warehouse, DAG_ID, run_id) == []


def test_a_load_beside_the_initial_bulk_load_waits_for_it_then_merges(warehouse, pg_url, tmp_path, loads, caplog):
    caplog.set_level(logging.INFO, logger="github_etl.load")
    first = LoadThread(
        pg_url, _run(tmp_path, [_repo(1), _repo(2)], MORNING, "first", "sample", True), stops=(BEFORE_WRITING, WRITTEN)
    )
    second = LoadThread(
        pg_url,
        _run(tmp_path, [_repo(2, stargazers_count=21), _repo(3)], AFTERNOON, "second", "owners", True),
        stops=(BEFORE_WRITING,),
    )
    loads.extend([first, second])
    first.start().reach(BEFORE_WRITING)
    second.start().reach(BEFORE_WRITING)
    first.go_on(BEFORE_WRITING)
    first.reach(WRITTEN)  # the empty warehouse claimed, its tables locked: the bulk path
    second.go_on(BEFORE_WRITING)
    wait_until_blocked(pg_url, second)
    first.go_on(WRITTEN)

    assert first.result() == LoadResult(inserted=2, updated=0, unchanged=0, snapshots=2, total=2)
    assert caplog.text.count("Empty warehouse: bulk load") == 1
    assert second.result() == LoadResult(inserted=1, updated=1, unchanged=0, snapshots=2, total=2)
    assert _state(warehouse)["repositories"] == [
        (1, "octo/repo-1", 10, MORNING, MORNING),
        (2, "octo/repo-2", 21, MORNING, AFTERNOON),
        (3, "octo/repo-3", 30, AFTERNOON, AFTERNOON),
    ]
    assert _state(warehouse)["languages"] == [(DAY_1.date(), "Python", 3, 61)]


def _census_cursor(db: DatabaseConnection) -> list[tuple[Any, ...]]:
    return _query(db, "SELECT since_id, cursor_id, run_id FROM github.census_cursor")


@pytest.mark.parametrize("with_rows", [True, False], ids=["repositories-written", "nothing-to-change"])
@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        # A manual census of (100, 300] and the scheduled one of (100, 200], both planned from the cursor at 100.
        pytest.param((100, 300), (100, 200), (0, 300, "census-1"), id="wider-first"),
        pytest.param((100, 200), (100, 300), (0, 300, "census-2"), id="wider-second"),
        # One ahead of the cursor commits first: apart from the covered range, it leaves the cursor for the other,
        # which takes in the first one's range as it touches the range it covered.
        pytest.param((200, 300), (100, 200), (0, 300, "census-2"), id="apart-first"),
    ],
)
def test_two_census_loads_at_once_never_move_the_cursor_back_or_past_an_uncrawled_id(
    warehouse, pg_url, tmp_path, loads, first, second, expected, with_rows
):
    _load(
        warehouse,
        [_row_file(tmp_path, _repo(1))],  # not empty: no load takes the initial bulk path
        when=DAY_0,
        run_id="census-0",
        mode="census",
        census={"since_id": 0, "until_id": 100, "reaches_end": True},
    )

    def census(run_id: str, crawled: tuple[int, int], when: datetime) -> Callable[[DatabaseConnection], LoadResult]:
        since, until = crawled
        rows = [_repo(since + 1)] if with_rows else []
        path = _row_file(tmp_path, *rows)
        span = {"since_id": since, "until_id": until, "reaches_end": until == 300}

        def run(db: DatabaseConnection) -> LoadResult:
            return _load(db, [path], when=when, run_id=run_id, mode="census", key_files=[_key_file(path)], census=span)

        return run

    one = LoadThread(pg_url, census("census-1", first, MORNING), stops=(CURSOR_MOVED,))
    two = LoadThread(pg_url, census("census-2", second, AFTERNOON))
    loads.extend([one, two])
    one.start().reach(CURSOR_MOVED)
    two.start()
    wait_until_blocked(pg_url, two)
    one.go_on(CURSOR_MOVED)
    one.result()
    two.result()

    assert _census_cursor(warehouse) == [expected]


@pytest.mark.parametrize("with_keys", [True, False], ids=["key-files", "row-files-only"])
@pytest.mark.parametrize("commits_first", ["first-attempt", "retry"])
def test_a_retried_load_beside_its_still_running_first_attempt_loads_the_run_once(
    warehouse, pg_url, tmp_path, loads, with_keys, commits_first
):
    _seed(warehouse, tmp_path)
    run = _owners_and_sample(tmp_path, with_keys)["sample"]
    # The first attempt's worker stopped answering: Airflow started the retry while it still holds its transaction.
    attempt = LoadThread(pg_url, run, stops=(BEFORE_WRITING, WRITTEN))
    retry = LoadThread(pg_url, run, stops=(BEFORE_WRITING, WRITTEN))
    loads.extend([attempt, retry])
    attempt.start().reach(BEFORE_WRITING)
    retry.start().reach(BEFORE_WRITING)
    ahead, behind = (attempt, retry) if commits_first == "first-attempt" else (retry, attempt)
    ahead.go_on(BEFORE_WRITING)
    ahead.reach(WRITTEN)
    behind.go_on(BEFORE_WRITING)
    wait_until_blocked(pg_url, behind)
    ahead.go_on(WRITTEN)
    done = ahead.result()
    again = behind.result()

    assert (done.inserted, done.updated, done.snapshots) == (1, 2, 3)
    assert (again.inserted, again.updated, again.unchanged, again.snapshots) == (0, 0, 3, 0)
    assert _audit(warehouse) == {"scheduled__sample": (1, 2, 0)}
    state = _state(warehouse)
    assert state["repositories"][1:] == [
        (2, "octo/repo-2", 27, DAY_0, AFTERNOON),
        (3, "acme/c", 30, DAY_0, AFTERNOON),
        (4, "octo/repo-4", 40, AFTERNOON, AFTERNOON),
    ]
    assert state["history"] == [(3, DAY_0, AFTERNOON, "octo/repo-3")]
    assert state["languages"][-1] == (DAY_1.date(), "Python", 3, 97)


@pytest.mark.parametrize("with_keys", [True, False], ids=["key-files", "row-files-only"])
@pytest.mark.parametrize("order", [("owners", "sample"), ("sample", "owners")], ids=["owners-first", "sample-first"])
def test_the_attribute_history_of_two_overlapping_runs_is_the_same_in_either_commit_order(
    warehouse, pg_url, tmp_path, loads, order, with_keys
):
    _seed(warehouse, tmp_path)
    renamed_3 = _repo(3, full_name="acme/c", owner_login="acme")
    runs = {
        # Both runs see repository 3 renamed: it was renamed before the morning. Repository 4 is new to both, and
        # transferred between the morning and the afternoon.
        "owners": _run(tmp_path, [renamed_3, _repo(4)], MORNING, "manual__owners", "owners", with_keys),
        "sample": _run(
            tmp_path,
            [renamed_3, _repo(4, full_name="acme/d", owner_login="acme")],
            AFTERNOON,
            "scheduled__sample",
            "sample",
            with_keys,
        ),
    }
    first_name, second_name = order
    first = LoadThread(pg_url, runs[first_name], stops=(WRITTEN,))
    second = LoadThread(pg_url, runs[second_name])
    loads.extend([first, second])
    first.start().reach(WRITTEN)
    second.start()
    wait_until_blocked(pg_url, second)
    first.go_on(WRITTEN)
    first.result()
    second.result()

    assert _query(
        warehouse, "SELECT repo_id, valid_from, valid_until, full_name FROM github.repository_history ORDER BY 1, 3"
    ) == [(3, DAY_0, MORNING, "octo/repo-3"), (4, MORNING, AFTERNOON, "octo/repo-4")]
    assert _query(
        warehouse, "SELECT id, full_name, first_seen_at FROM github.repositories WHERE id > 2 ORDER BY 1"
    ) == [
        (3, "acme/c", DAY_0),
        (4, "acme/d", MORNING),
    ]


_NAMED = {name: _repo(1, full_name=f"{name}/r", owner_login=name) for name in ("x", "y", "z")}


@pytest.mark.parametrize(
    ("seen", "with_keys"),
    [
        pytest.param("xyz", True, id="three-names"),
        pytest.param("xyz", False, id="three-names-row-files-only"),
        pytest.param("xyy", True, id="renamed-by-the-second"),
        pytest.param("xxy", True, id="renamed-by-the-third"),
    ],
)
@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=lambda order: "-".join(map(str, order)))
def test_the_attribute_history_is_the_same_whatever_order_three_days_commit_in(
    warehouse, tmp_path, seen, with_keys, order
):
    days = (DAY_0, DAY_1, DAY_1 + timedelta(days=1))
    for index in order:
        path = _row_file(tmp_path, _NAMED[seen[index]])
        key_files = [_key_file(path)] if with_keys else None
        _load(warehouse, [path], when=days[index], run_id=f"run-{index}", key_files=key_files)

    versions = [(days[0], seen[0])]
    for day, name in zip(days[1:], seen[1:], strict=True):
        if name != versions[-1][1]:
            versions.append((day, name))
    expected = [(1, start, end, f"{name}/r") for (start, name), (end, _) in itertools.pairwise(versions)]
    assert (
        _query(
            warehouse, "SELECT repo_id, valid_from, valid_until, full_name FROM github.repository_history ORDER BY 3"
        )
        == expected
    )
    assert _query(warehouse, "SELECT full_name, first_seen_at, last_seen_at FROM github.repositories") == [
        (f"{seen[-1]}/r", days[0], days[-1])
    ]


def test_a_late_run_that_saw_the_next_kept_version_moves_the_change_between_two_kept_versions(warehouse, tmp_path):
    days = [DAY_0 + timedelta(days=n) for n in range(4)]
    for day, name in [(days[0], "x"), (days[2], "y"), (days[3], "z"), (days[1], "y")]:
        path = _row_file(tmp_path, _NAMED[name])
        _load(warehouse, [path], when=day, run_id=f"run-{day:%d}", key_files=[_key_file(path)])

    assert _query(warehouse, "SELECT valid_from, valid_until, full_name FROM github.repository_history ORDER BY 2") == [
        (days[0], days[1], "x/r"),
        (days[1], days[3], "y/r"),
    ]


def test_two_census_loads_of_a_range_at_once_one_with_nothing_to_change_both_commit(warehouse, pg_url, tmp_path, loads):
    # A backfill's census runs of one range: one writes (it fetched after the stored rows), the other finds
    # everything stored by a later fetch. That one used to take the cursor's row before the writers' lock.
    census_range = {"since_id": 100, "until_id": 200, "reaches_end": False}
    rows = [_repo(101), _repo(102)]
    # The census's start, the covered range (0, 100]; the range's repositories were seen that day too.
    _load(
        warehouse,
        [_row_file(tmp_path, _repo(1), *rows)],
        when=DAY_0,
        run_id="census-0",
        mode="census",
        census={"since_id": 0, "until_id": 100, "reaches_end": True},
    )
    # A run of the range fetched in the afternoon, committed.
    afternoon = _row_file(tmp_path, *rows)
    _load(
        warehouse,
        [afternoon],
        when=AFTERNOON,
        run_id="census-afternoon",
        mode="census",
        key_files=[_key_file(afternoon)],
        census=census_range,
    )

    def census(run_id, when):
        path = _row_file(tmp_path, *rows)

        def run(db):
            return _load(
                db, [path], when=when, run_id=run_id, mode="census", key_files=[_key_file(path)], census=census_range
            )

        return run

    # Fetched in the evening: moves last_seen_at, so it merges, holding the writers' lock until it commits.
    writing = LoadThread(pg_url, census("census-evening", EVENING), stops=(WRITTEN,))
    # Fetched in the morning: everything it saw is stored as seen later; nothing to change.
    unchanged = LoadThread(pg_url, census("census-morning", MORNING))
    loads.extend([writing, unchanged])
    writing.start().reach(WRITTEN)
    unchanged.start()
    wait_until_blocked(pg_url, unchanged)  # on the writers' lock
    writing.go_on(WRITTEN)

    errors = []
    for thread in (writing, unchanged):
        try:
            thread.result()
        except psycopg2.Error as exc:
            errors.append(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}")
    assert errors == []
    assert _query(warehouse, "SELECT run_id FROM github.load_runs ORDER BY 1") == [
        ("census-0",),
        ("census-afternoon",),
        ("census-evening",),
        ("census-morning",),
    ]
