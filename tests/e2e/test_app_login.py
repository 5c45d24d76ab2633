"""A run logged in as a GitHub App through Airflow: tokens expiring mid-run, the same warehouse, no secret on disk."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.e2e.test_faults import LOGICAL_DATE, second_pg_url  # noqa: F401 (a fixture)
from tests.e2e.test_pipeline import _warehouse
from tests.fake_github import FakeGitHub
from tests.fake_github.apps import generate_app_key
from tests.fixtures.airflow import files_written

pytestmark = pytest.mark.e2e

APP_ID = 31337
INSTALLATION = 4242
# Short enough that the plan task alone outlasts a token; long enough that the renewal margin (a quarter
# of a token's life) covers a request's way to the fake on a busy machine.
TOKEN_TTL_SECONDS = 3.0
# Slow answers stretch the app's run over several tokens' lives (the token run, which only says what to expect,
# goes without them).
LATENCY_MS = 250
CONF = {"mode": "sample", "sample_size": 40, "seed": 5, "shards": 2}


def test_app_run_with_expiring_tokens_loads_what_a_token_run_loads(
    fake_github_factory,
    pipeline_env,
    run_dag,
    pg_url: str,
    second_pg_url: str,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    observe_on,
) -> None:
    # Both runs observe at the same moment, so their rows are equal to the last column.
    observe_on(LOGICAL_DATE)
    private_key, public_key = generate_app_key()
    fake = fake_github_factory(
        repo_count=500,
        seed=13,
        vanished_ratio=0.03,
        apps={APP_ID: public_key},
        installations={INSTALLATION: APP_ID},
        installation_token_ttl_s=TOKEN_TTL_SECONDS,
    )
    pipeline_env(fake.base_url, staging_url=(tmp_path / "token-run").as_uri())
    assert run_dag(CONF, LOGICAL_DATE).state == "success"
    expected = _warehouse(pg_url)
    assert len(expected) == CONF["sample_size"]

    fake.reset_log()
    fake.latency_ms = fake.graphql_latency_ms = LATENCY_MS
    pipeline_env(fake.base_url, token=None, staging_url=(tmp_path / "app-run").as_uri())
    monkeypatch.setenv(
        "AIRFLOW_CONN_GITHUB_DEFAULT",
        json.dumps(
            {
                "conn_type": "http",
                "host": fake.base_url,
                "extra": {"app_id": APP_ID, "installation_id": INSTALLATION, "private_key": private_key},
            }
        ),
    )
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", second_pg_url)
    assert run_dag(CONF, LOGICAL_DATE).state == "success"

    assert _warehouse(second_pg_url) == expected
    api = [r for r in fake.requests if not r.path.startswith("/app/")]
    exchanges = [r for r in fake.requests if r.path.startswith("/app/")]
    # A token per task (plan and two extract tasks) and at least one renewed within a task.
    assert len(exchanges) > 3, "no task outlasted its token: nothing was tested"
    # No request went with an expired (or any refused) token, and every request spent the installation's budget.
    assert [(r.path, r.status, r.fault) for r in fake.requests if r.status == 401] == []
    assert [r.status for r in exchanges] == [201] * len(exchanges)
    assert len({r.token_fingerprint for r in api}) >= 3
    assert {r.token_fingerprint for r in api} <= {FakeGitHub.fingerprint(t) for t in fake.apps.issued_tokens()}

    # Neither the private key nor a minted token reaches a file (staging, logs, Airflow's home) or the output.
    secrets = [t.encode() for t in fake.apps.issued_tokens()]
    key_lines = [line.encode() for line in private_key.splitlines() if len(line) > 40]
    secrets += key_lines[:2] + key_lines[-2:]
    output = capfd.readouterr()
    for text in (output.out, output.err):
        assert [s for s in secrets if s in text.encode()] == []
    for path, content in files_written(tmp_path, Path(os.environ["AIRFLOW_HOME"])):
        assert [s for s in secrets if s in content] == [], path
