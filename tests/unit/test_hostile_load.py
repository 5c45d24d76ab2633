"""Hostile records that the transform accepts must not break the load of a whole run."""

from __future__ import annotations

import copy
import io
import random
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from github_etl.field_rules import MAX_LABEL_CHARS
from github_etl.hooks.warehouse import DatabaseConnection
from github_etl.load import load_run
from github_etl.transform import transform_records
from tests.unit.test_transform import REAL_REPOSITORY

DAY_1 = datetime(2024, 5, 1, tzinfo=UTC)
DAY_2 = DAY_1 + timedelta(days=1)


def _record(repo_id: int, **overrides: Any) -> dict[str, Any]:
    record = copy.deepcopy(REAL_REPOSITORY)
    record.update(id=repo_id, node_id=f"R_{repo_id}", name=f"r{repo_id}", full_name=f"o/r{repo_id}")
    record.update(overrides)
    return record


def _transform(tmp_path: Path, records: list[dict[str, Any]], name: str) -> tuple[Path, int]:
    rows, rejected, keys = io.StringIO(), io.StringIO(), io.StringIO()
    stats = transform_records(records, rows, rejected, keys_out=keys)
    path = tmp_path / f"{name}.tsv"
    path.write_text(rows.getvalue(), encoding="utf-8")
    return path, stats.rejected


def _load(db: DatabaseConnection, path: Path, when: datetime, rejected: int) -> Any:
    return load_run(
        db,
        row_files=[path],
        run_id=f"scheduled__{when.isoformat()}",
        dag_id="github_repositories",
        logical_date=when,
        observed_at=when,
        mode="sample",
        stats={"listed": 2, "enriched": 2, "skipped": 0, "rejected": rejected, "api_requests": 2},
    )


def _count(db: DatabaseConnection, statement: str) -> int:
    with db.cursor() as cur:
        cur.execute(statement)
        (value,) = cur.fetchone()
    db.rollback()
    return value


def test_many_long_topics_on_a_rising_repository_do_not_fail_the_days_load(warehouse, tmp_path):
    """A topic list the transform accepts must fit every index it reaches (star_gains INCLUDEs topics)."""
    rng = random.Random(5)
    alphabet = string.ascii_lowercase + string.digits
    topics = ["".join(rng.choice(alphabet) for _ in range(50)) for _ in range(100)]
    day_1 = [_record(1, stargazers_count=1), _record(2, stargazers_count=5, topics=topics)]
    day_2 = [_record(1, stargazers_count=2), _record(2, stargazers_count=6, topics=topics)]

    path, rejected = _transform(tmp_path, day_1, "day1")
    _load(warehouse, path, DAY_1, rejected)
    path, rejected = _transform(tmp_path, day_2, "day2")
    _load(warehouse, path, DAY_2, rejected)  # failed: index row size exceeds btree maximum

    # The good repository's rise is in the day's summaries; the hostile one is quarantined, not loaded.
    assert rejected == 1
    assert _count(warehouse, "SELECT count(*) FROM github.star_gains WHERE repo_id = 1") == 1
    assert _count(warehouse, "SELECT count(*) FROM github.repository_snapshots WHERE repo_id = 1") == 2


def test_a_topic_and_a_language_each_at_their_cap_fit_the_index_entry_they_share(warehouse, tmp_path):
    """star_gain_topics_order_idx holds a rare topic and the riser's language in one entry: at the longest the
    transform accepts, 4-byte characters that do not compress, that entry must fit PostgreSQL's 2.7 kB."""
    rng = random.Random(1)

    def astral(length: int) -> str:
        return "".join(chr(rng.randrange(0x20000, 0x2A6DF)) for _ in range(length))

    widest = {"language": astral(MAX_LABEL_CHARS), "topics": [astral(MAX_LABEL_CHARS)]}
    # Every one rises; the others share a topic, so the widest one's is rare (star_gain_topics holds it).
    day_1 = [_record(1, stargazers_count=1, **widest), *(_record(i, stargazers_count=1) for i in range(2, 150))]
    day_2 = [_record(1, stargazers_count=2, **widest), *(_record(i, stargazers_count=2) for i in range(2, 150))]

    path, rejected = _transform(tmp_path, day_1, "day1")
    _load(warehouse, path, DAY_1, rejected)
    path, rejected = _transform(tmp_path, day_2, "day2")
    _load(warehouse, path, DAY_2, rejected)  # failed at 600 characters: index row size exceeds btree maximum

    assert rejected == 0
    assert _count(warehouse, "SELECT count(*) FROM github.star_gain_topics WHERE repo_id = 1") == 1
