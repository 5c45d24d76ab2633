"""Resources running out: the shared budget store full or gone, the warehouse out of disk or memory mid-load, the
load's temporary folder full. Each is retried, named with its fix, and leaves the warehouse as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from github_etl.errors import FINAL_ERRORS, BudgetStoreUnavailableError
from github_etl.github.ratelimit import Budget, TokenPool
from github_etl.github.shared_budget import budget_store_from_env
from tests.ports import closed_port

REDIS_SERVER = shutil.which("redis-server")


def _wait_for(port: int) -> None:
    import redis

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port, socket_connect_timeout=0.5).ping()
            return
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server on {port} did not start")


@pytest.fixture
def private_redis(tmp_path) -> Iterator[tuple[int, subprocess.Popen, Path]]:
    """A redis-server of our own on a free port, its data folder on a 64 KiB tmpfs (so a snapshot can fail)."""
    if REDIS_SERVER is None:
        pytest.skip("no redis-server")
    disk = tmp_path / "redis-disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    port = closed_port()
    server = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(disk),
            "--save",
            "3600 1",
            "--appendonly",
            "no",
            "--maxmemory-policy",
            "noeviction",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port)
        yield port, server, disk
    finally:
        server.kill()
        server.wait()
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(port: int, megabytes: int = 2) -> None:
    import redis

    client = redis.Redis(port=port)
    for index in range(megabytes * 4):
        client.set(f"ballast:{index}", os.urandom(256 * 1024))


# -- Redis budget store -------------------------------------------------------------------------------------------


def test_redis_whose_disk_is_full_is_not_taken_for_a_refused_password_and_is_retried(private_redis) -> None:
    """A Redis host whose disk filled up (a failed RDB snapshot with stop-writes-on-bgsave-error, the default)
    answers every write, and PING, with MISCONF. That is a transient outage of the store (freeing space fixes it,
    exactly like an unreachable Redis, which the docs say Airflow retries), not a wrong password or database.
    The task must not fail at once as a ConfigurationError ("refused the connection"), without retries and
    sending on-call staff to check credentials."""
    import redis

    port, _, _ = private_redis
    _fill(port)  # about 2 MB: more than the 64 KiB disk holds
    client = redis.Redis(port=port)
    client.bgsave()
    deadline = time.monotonic() + 10
    while client.info("persistence")["rdb_bgsave_in_progress"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.info("persistence")["rdb_last_bgsave_status"] == "err"

    url = f"redis://127.0.0.1:{port}/1"
    with pytest.raises(Exception) as refused:
        budget_store_from_env({"GITHUB_ETL_RATE_LIMIT_STORE": url})

    assert not isinstance(refused.value, FINAL_ERRORS), f"final (no retries): {refused.value!r}"
    assert isinstance(refused.value, BudgetStoreUnavailableError), repr(refused.value)


@pytest.mark.parametrize("fault", ["maxmemory reached", "redis stopped"])
def test_redis_failing_mid_run_is_named_as_the_shared_budget_store(private_redis, fault: str) -> None:
    """A Redis that stops taking writes (maxmemory with noeviction) or goes away after the task's first check
    fails the request loop as it fails the task's start: named as the shared budget store, with what to do."""
    import redis

    port, server, _ = private_redis
    url = f"redis://127.0.0.1:{port}/1"
    store = budget_store_from_env({"GITHUB_ETL_RATE_LIMIT_STORE": url})
    pool = TokenPool(["ghp_audit_token"], store=store)
    pool.record(pool.tokens[0], "core", Budget(limit=5000, remaining=4000, reset_at=time.time() + 3600))
    pool.release(pool.tokens[0], "core")

    if fault == "maxmemory reached":
        _fill(port, 1)
        redis.Redis(port=port).config_set("maxmemory", "1mb")
    else:
        server.kill()
        server.wait()

    with pytest.raises(Exception) as failed:
        pool.choose("core")  # the first thing GitHubClient.request does for every request

    message = str(failed.value)
    assert isinstance(failed.value, BudgetStoreUnavailableError), f"{type(failed.value).__module__}.{failed.value!r}"
    assert "GITHUB_ETL_RATE_LIMIT_STORE" in message, message


# -- the warehouse refusing writes mid-load ------------------------------------------------------------------------


@pytest.mark.parametrize("sqlstate", ["53100", "53200"])
def test_a_warehouse_out_of_disk_or_memory_mid_load_rolls_the_whole_run_back_and_is_retried(
    warehouse, tmp_path, sqlstate: str
) -> None:
    from tests.unit.test_load import DAY_1, _load, _repo, _row_file, _warehouse_state

    _load(warehouse, [_row_file(tmp_path, _repo(1), _repo(2))], DAY_1)
    before = _warehouse_state(warehouse)
    with warehouse.cursor() as cur:
        cur.execute(
            f"""CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = '{sqlstate}'; END $$;
            CREATE TRIGGER refuse BEFORE INSERT ON github.load_runs FOR EACH ROW EXECUTE FUNCTION public.refuse();"""
        )
    warehouse.commit()

    from datetime import timedelta

    with pytest.raises(Exception) as refused:
        _load(warehouse, [_row_file(tmp_path, _repo(1, stargazers_count=99), _repo(3))], DAY_1 + timedelta(days=1))

    assert getattr(refused.value, "pgcode", None) == sqlstate, repr(refused.value)
    assert not isinstance(refused.value, FINAL_ERRORS)
    assert _warehouse_state(warehouse) == before
    # The space is back: Airflow's retry loads the run whole.
    with warehouse.cursor() as cur:
        cur.execute("DROP TRIGGER refuse ON github.load_runs")
    warehouse.commit()
    result = _load(warehouse, [_row_file(tmp_path, _repo(1, stargazers_count=99), _repo(3))], DAY_1 + timedelta(days=1))
    assert (result.inserted, result.updated) == (1, 1)


@pytest.fixture
def tiny_tmpdir(tmp_path, monkeypatch) -> Iterator[Path]:
    """TMPDIR on a 4 KiB tmpfs: the disk where the load spools the merge's changed line numbers is full."""
    import tempfile

    disk = tmp_path / "tmpdir-disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    monkeypatch.setattr(tempfile, "tempdir", str(disk))
    try:
        yield disk
    finally:
        monkeypatch.undo()
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_tmpdir_during_the_merge_is_named_and_leaves_the_warehouse_unchanged(warehouse, tmp_path, tiny_tmpdir):
    """The merge spools the changed lines' numbers to a temporary file (row_files.copy_changed_lines). A full
    TMPDIR there is the same fault the docs promise a clear StagingFullError for in staging ("the local temporary
    folder ..., is full ... set TMPDIR"): the load should name the folder and the fix, and change nothing."""
    from tests.unit.test_load import DAY_1, _key_file, _load, _repo, _row_file, _warehouse_state

    first = _row_file(tmp_path, *(_repo(i) for i in range(1, 8001)))
    _load(warehouse, [first], key_files=[_key_file(first)])
    before = _warehouse_state(warehouse)
    # One in eight changed: few enough that the merge picks out the changed lines (about 7 KB of numbers).
    changed = _row_file(tmp_path, *(_repo(i, description="new") if i % 8 == 0 else _repo(i) for i in range(1, 8001)))

    with pytest.raises(BaseException) as failed:
        _load(warehouse, [changed], when=DAY_1, key_files=[_key_file(changed)])

    assert _warehouse_state(warehouse) == before
    message = str(failed.value)
    assert str(tiny_tmpdir) in message and "TMPDIR" in message, f"{type(failed.value).__name__}: {message}"
