"""Attribute history end to end: a repository renamed, transferred and relicensed on the fake GitHub between
two runs, then read back through the repository API by its new name and by its former one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

# The API server app and an authenticated client, as the API tests build them.
from tests.integration.test_api import PREFIX, airflow_app, client, credentials, token  # noqa: F401

pytestmark = pytest.mark.e2e

FIRST = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
SECOND = FIRST + timedelta(days=1)
APACHE = {"key": "apache-2.0", "name": "Apache License 2.0", "spdx_id": "Apache-2.0", "url": None, "node_id": "L_1"}


def _stored(pg_url: str) -> dict[int, tuple[str, str | None]]:
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id, full_name, license_spdx_id FROM github.repositories")
        return {row[0]: (row[1], row[2]) for row in cursor.fetchall()}


def test_a_renamed_transferred_and_relicensed_repository_keeps_both_states_and_answers_to_either_name(
    client,  # noqa: F811
    fake_github_factory,
    pipeline_env,
    run_dag,
    observe_on,
    pg_url: str,
) -> None:
    fake = fake_github_factory(repo_count=200, seed=12)
    pipeline_env(fake.base_url)
    observe_on(FIRST)
    assert run_dag({"sample_size": 10, "shards": 1}, FIRST).state == "success"
    before = _stored(pg_url)
    moved = next(i for i, (_, spdx) in sorted(before.items()) if spdx != "Apache-2.0")
    old_name, old_license = before[moved]
    fake.rename_repository(moved, "acme-transferred/new-name")
    fake.set_repository(moved, license=APACHE)

    observe_on(SECOND)
    assert run_dag({"mode": "refresh", "shards": 1}, SECOND).state == "success"

    by_new = client.get(f"{PREFIX}/repositories/acme-transferred/new-name")
    by_old = client.get(f"{PREFIX}/repositories/{old_name.upper()}")
    assert by_new.status_code == by_old.status_code == 200, (by_new.text, by_old.text)
    assert by_old.json() == by_new.json()
    # The daily history, which the insights page's search box reads, answers to the former name as well.
    history_by_old = client.get(f"{PREFIX}/repositories/{old_name}/history")
    assert history_by_old.status_code == 200, history_by_old.text
    assert history_by_old.json() == client.get(f"{PREFIX}/repositories/acme-transferred/new-name/history").json()
    assert history_by_old.json()["observed_days"] == 2
    body = by_new.json()
    assert (body["id"], body["full_name"], body["owner_login"], body["license_spdx_id"]) == (
        moved,
        "acme-transferred/new-name",
        "acme-transferred",
        "Apache-2.0",
    )
    (previous,) = body["history"]
    assert (previous["full_name"], previous["owner_login"], previous["license_spdx_id"]) == (
        old_name,
        old_name.split("/")[0],
        old_license,
    )
    valid = (datetime.fromisoformat(previous["valid_from"]), datetime.fromisoformat(previous["valid_until"]))
    assert valid == (FIRST, SECOND)
    # Repositories that did not change kept no history.
    for other in sorted(before)[:3]:
        if other != moved:
            assert client.get(f"{PREFIX}/repositories/{before[other][0]}").json()["history"] == []
