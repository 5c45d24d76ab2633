"""The tests that look for secrets in every file written read the session's live metadata database safely."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.fixtures.airflow import files_written


@pytest.fixture
def live_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A WAL-mode SQLite database held open by this process, as Airflow's metadata database is during the
    session, with a committed row still in the WAL only."""
    home = tmp_path / "airflow"
    home.mkdir()
    database = home / "airflow.db"
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{database}")
    with closing(sqlite3.connect(database)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("CREATE TABLE xcom (value TEXT)")
        conn.execute("INSERT INTO xcom VALUES ('ghs_not_a_secret_but_findable')")
        conn.commit()
        (home / "logs").mkdir()
        (home / "logs" / "task.log").write_text("a log line")
        yield home


def test_reading_every_file_keeps_the_wal_of_a_database_this_process_holds_open(live_metadata: Path) -> None:
    """Opening and closing the database's files directly drops this process's POSIX locks on them: an ``airflow``
    subprocess that uses the same database then checkpoints and deletes the WAL under this process's open
    connections, which from then on read a database that is not there (``disk I/O error``, ``database disk image
    is malformed``, tests failing by the dozen on one xdist worker)."""
    found = dict(files_written(live_metadata))

    database = str(live_metadata / "airflow.db")
    other_process = (
        f"import sqlite3; c = sqlite3.connect({database!r}); c.execute('SELECT count(*) FROM xcom'); c.close()"
    )
    subprocess.run([sys.executable, "-c", other_process], check=True, timeout=60)

    assert (live_metadata / "airflow.db-wal").exists(), "another process deleted the WAL of an open database"
    assert found[live_metadata / "logs" / "task.log"] == b"a log line"
    # What the database holds is still read, the WAL's rows included.
    assert b"ghs_not_a_secret_but_findable" in found[live_metadata / "airflow.db"]
    assert not any(path.name.endswith(("-wal", "-shm")) for path in found)
