"""Two harvests into one warehouse through Airflow (``dag.test``): the project's DAG and a copy of its file whose
factory call makes another (docs/existing-airflow.md#a-second-harvest), both run at the same time, so under the same
run id, as two DAGs' scheduled runs of one time are."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from typing import Any

import pytest

from github_etl.settings import DAG_ID
from tests.fake_github import FakeGitHub
from tests.fixtures.airflow import DAGS_FOLDER
from tests.in_process import query

pytestmark = pytest.mark.e2e

LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
OWNERS_DAG = "github_owners_apache"


@pytest.fixture
def two_harvests(tmp_path, monkeypatch) -> dict[str, Any]:
    """A DAG folder with the project's DAG file and a copy of it that calls its factory for a second harvest."""
    from tests.fixtures.airflow import load_dagbag

    folder = tmp_path / "dags"
    folder.mkdir()
    project = DAGS_FOLDER / "github_repositories.py"
    shutil.copy(project, folder / project.name)
    source = project.read_text()
    assert source.endswith("\nharvest_dag()\n")
    call = f'harvest_dag("{OWNERS_DAG}", schedule="@hourly", mode="owners", owners="apache")\n'
    (folder / f"{OWNERS_DAG}.py").write_text(source.removesuffix("harvest_dag()\n") + call)
    # dag.test writes the DAGs of the folder Airflow's DAG bundle reads to the metadata database.
    monkeypatch.setattr("airflow.settings.DAGS_FOLDER", str(folder))
    monkeypatch.setattr("tests.fixtures.airflow.DAGS_FOLDER", folder)
    dagbag = load_dagbag()
    assert not dagbag.import_errors, dagbag.import_errors
    return dagbag.dags


def _asset_events() -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        statement = (
            select(AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == "github.repositories")
            .order_by(AssetEvent.id)
        )
        return list(session.scalars(statement))


def test_two_harvests_at_one_time_both_land_and_neither_undoes_the_other(
    fake_github: FakeGitHub, pipeline_env, airflow_db, two_harvests, pg_url: str
) -> None:
    pipeline_env(fake_github.base_url)
    sample = {"mode": "sample", "sample_size": 30, "shards": 2}
    sampled = two_harvests[DAG_ID].test(logical_date=LOGICAL_DATE, run_after=LOGICAL_DATE, run_conf=sample)
    sample_ids = {row[0] for row in query(pg_url, "SELECT id FROM github.repositories")}

    # Its scheduled run's params are its defaults: no conf.
    owned = two_harvests[OWNERS_DAG].test(logical_date=LOGICAL_DATE, run_after=LOGICAL_DATE)

    assert (sampled.state, owned.state) == ("success", "success")
    assert sampled.run_id == owned.run_id
    runs = query(pg_url, "SELECT dag_id, mode, checks_passed_at IS NOT NULL FROM github.load_runs ORDER BY dag_id")
    assert runs == sorted([(DAG_ID, "sample", True), (OWNERS_DAG, "owners", True)])
    stored = dict(query(pg_url, "SELECT id, deleted_at FROM github.repositories"))
    assert sample_ids <= set(stored)
    assert [repo_id for repo_id, deleted_at in stored.items() if deleted_at is not None] == []
    events = _asset_events()[-2:]
    assert [(event["dag_id"], event["run_id"]) for event in events] == [
        (DAG_ID, sampled.run_id),
        (OWNERS_DAG, owned.run_id),
    ]
    generations = dict(query(pg_url, "SELECT dag_id, generation FROM github.load_runs"))
    assert [event["generation"] for event in events] == [generations[DAG_ID], generations[OWNERS_DAG]]

    # Triggered in another mode: its own owners default is not taken for a param the sample was given.
    later = LOGICAL_DATE.replace(hour=1)
    sample = {"mode": "sample", "sample_size": 10}
    resampled = two_harvests[OWNERS_DAG].test(logical_date=later, run_after=later, run_conf=sample)
    assert resampled.state == "success"
    assert query(pg_url, "SELECT mode FROM github.load_runs WHERE run_id = %s", resampled.run_id) == [("sample",)]
