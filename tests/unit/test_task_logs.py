"""What the tasks' logs say: a few lines per shard in every mode, each event once, and server text that cannot forge
a line or flood the log."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from github_etl.extract.plan import plan_run, run_shard
from github_etl.github.client import GitHubClient
from github_etl.hooks.warehouse import DatabaseConnection, apply_schema
from github_etl.params import validate
from github_etl.staging import RunStaging
from github_etl.tasks import transform_shard
from tests.in_process import load_staged
from tests.unit.test_extract import FAST
from tests.unit.test_extract_progress import _census_shard

TOKEN = "ghp_task_logs_token_00000000001"
LOGICAL_DATE = datetime(2026, 11, 1, tzinfo=UTC)
MODES = {
    "sample": {"sample_size": 2000, "shards": 4},
    "search": {"mode": "search", "query": "archived:false"},
    "owners": {"mode": "owners", "owners": ["bigorg"]},
    "census": {"mode": "census", "since_id": 0, "until_id": None},
    "refresh": {"mode": "refresh"},
}


class ByTask(logging.Handler):
    """The INFO records of each task of a run."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.task = "?"
        self.records: dict[str, list[logging.LogRecord]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.records.setdefault(self.task, []).append(record)


def _run(fake, pg_url, tmp_path, params, run_id, handler, logical_date=LOGICAL_DATE) -> None:
    client = GitHubClient(fake.base_url, [TOKEN], settings=FAST)
    staging_url = (tmp_path / "staging").as_uri()
    staging = RunStaging("github_repositories", run_id, root=staging_url)

    def warehouse():
        return DatabaseConnection(pg_url, connect_retries=0)

    with warehouse() as db:
        apply_schema(db)
    handler.task = "plan"
    plan = plan_run(client, staging, validate(params), logical_date=logical_date, warehouse=warehouse)
    handler.task = "extract"
    extracted = [run_shard(client, staging, shard, plan_id=plan.plan_id) for shard in plan.shards]
    handler.task = "transform"
    transformed = [transform_shard(staging, result) for result in extracted]
    handler.task = "load"
    load_staged(transformed, pg_url=pg_url, staging_url=staging_url, run_id=run_id, logical_date=logical_date)
    client.close()


@pytest.mark.parametrize("mode", list(MODES))
def test_each_task_logs_a_handful_of_lines_for_2000_repositories_in_every_mode(
    mode, fake_github_factory, pg_url, tmp_path
) -> None:
    """Nothing is logged per repository or per request at INFO: a census shard of 500,000 would otherwise write
    hundreds of thousands of lines. Quarantines are told per reason, with their file."""
    # Search's budget raised: the probes and pages of 2,000 matches would otherwise wait a minute for its reset.
    fake = fake_github_factory(
        repo_count=2000, seed=5, vanished_ratio=0.03, owners={"bigorg": 2000}, search_rate_limit=100_000
    )
    fake.faults.hostile = True
    params = {**MODES[mode], "until_id": max(fake.ids)} if mode == "census" else MODES[mode]
    handler = ByTask()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    try:
        if mode == "refresh":
            census = {**MODES["census"], "until_id": max(fake.ids)}
            _run(fake, pg_url, tmp_path, census, "first", ByTask())
            for repo_id in list(fake.ids)[::30]:
                fake.delete_repository(repo_id)
        root.addHandler(handler)
        _run(fake, pg_url, tmp_path, params, "second", handler, LOGICAL_DATE + timedelta(days=1))
    finally:
        root.removeHandler(handler)
        root.setLevel(level)

    told = {task: [record.getMessage() for record in records] for task, records in handler.records.items()}
    for task, lines in told.items():
        assert len(lines) <= 12, (task, lines)
    if mode != "refresh":
        (quarantined,) = [line for line in told["load"] if "quarantined" in line]
        assert "rejected/" in quarantined and re.search(
            r"quarantined by the transform, not loaded \(\d+ \w+:", quarantined
        )
    assert TOKEN not in repr(told)


def test_batches_held_back_by_the_once_a_minute_warning_are_told_when_the_shard_ends(
    fake_github_factory, tmp_path, caplog
) -> None:
    """One repository in 40 under SAML: each of the 20 batches reads some over REST. The warning is said once a
    minute, and what it held back is told by the end of the shard, not lost."""
    fake = fake_github_factory(repo_count=2000, seed=5, vanished_ratio=0.0)
    for repo_id in list(fake.ids)[::40]:
        fake.protect_by_saml(repo_id)
    client, staging, shard = _census_shard(fake, tmp_path)
    caplog.set_level(logging.INFO, logger="github_etl")

    assert run_shard(client, staging, shard).enriched == 2000

    said = [record.getMessage() for record in caplog.records if "GraphQL gave no node" in record.getMessage()]
    assert len(said) == 2, said
    assert said[1].startswith("19 batch(es) like the last such line since it, the latest: GraphQL gave no node")


def test_graphql_batches_that_time_out_are_asked_smaller_and_logged_once_a_minute(
    fake_github_factory, tmp_path, caplog
) -> None:
    """GitHub times out on nodes() queries over 50 ids here: the first batch splits, the rest ask 50 at a time, and
    the split is told once, not with a dozen retry lines per batch."""
    fake = fake_github_factory(repo_count=2000, seed=5, vanished_ratio=0.0)
    fake.faults.graphql_max_nodes = 50
    client, staging, shard = _census_shard(fake, tmp_path)
    caplog.set_level(logging.INFO, logger="github_etl")

    result = run_shard(client, staging, shard)

    assert result.enriched == 2000
    # The first batch of 100, tried twice; then 50 at a time, and after 20 of them one try of 100 again.
    assert result.failed_requests == 4
    lines = [record.getMessage() for record in caplog.records if record.name.startswith("github_etl")]
    assert len(lines) <= 8, lines
    timeouts = [line for line in lines if "timed out; retrying as two batches, and asking 50 at a time" in line]
    assert len(timeouts) == 2 and timeouts[1].startswith("1 batch(es) like the last such line since it"), lines


@pytest.mark.parametrize("fault", ["transient", "secondary"])
def test_a_retry_or_a_rate_limit_wait_is_one_line_with_its_reason_wait_and_request_id(
    fault, fake_github_factory, caplog
) -> None:
    fake = fake_github_factory(repo_count=50, seed=5)
    if fault == "transient":
        fake.faults.next_errors = [502]
    else:
        fake.faults.secondary_limit_next = 1
        fake.faults.retry_after_s = 1
    client = GitHubClient(fake.base_url, [TOKEN], settings=FAST)
    caplog.set_level(logging.INFO, logger="github_etl")

    client.get(f"/repositories/{fake.ids[0]}")

    (line,) = [record.getMessage() for record in caplog.records if record.name == "github_etl.github.client"]
    # The fake numbers its answers as GitHub does (x-github-request-id), which support asks for.
    assert "(request id " in line and ":FA4E)" in line
    if fault == "transient":
        assert "(HTTP 502 (request id " in line and f"; retry 1 of {FAST.max_retries} in " in line
    else:
        assert "Secondary rate limit on token" in line and "no request with it until" in line


HOSTILE = "<html>\n<body>\x1b[2J\x1b[31mINFO - Task exited with return code 0\x1b[0m\r\n\u202eBlocked</body></html>"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (HOSTILE, "text/html"),
        ('{"message": "secondary rate limit\\nINFO - forged \\u001b[2J line"}', "application/json"),
        ('{"message": "secondary rate limit ' + "x" * 200_000 + '"}', "application/json"),
    ],
    ids=["html page", "json message", "200 KB message"],
)
def test_server_text_cannot_forge_a_log_line_or_flood_the_log(scripted_github, caplog, body, content_type) -> None:
    """A proxy's or an appliance's page, or a message GitHub's side lets through: line breaks, terminal escapes and
    bidirectional overrides are shown escaped, and a long message is cut."""
    answers = iter([(429, {"Retry-After": "0", "Content-Type": content_type}, body)])

    def answer(_request):
        return next(answers, (200, {}, '{"id": 1, "full_name": "a/b"}'))

    scripted_github.route("GET", "/repositories/1", answer)
    client = GitHubClient(scripted_github.base_url, [TOKEN], settings=FAST)
    caplog.set_level(logging.INFO, logger="github_etl")

    client.get("/repositories/1")

    (line,) = [record.getMessage() for record in caplog.records if record.name == "github_etl.github.client"]
    assert not any(character in line for character in "\n\r\x1b\u202e"), line
    assert len(line) < 1_000
    if "x" * 1000 in body:
        assert "… (200,021 characters)" in line


def test_a_failed_quality_check_is_told_once_by_the_error_the_task_raises(warehouse, pg_url, tmp_path, caplog) -> None:
    """Airflow logs the task's error with its traceback: the same text logged before it said every failure twice."""
    from github_etl.errors import DataQualityError
    from github_etl.tasks import check_task
    from tests.in_process import task_context
    from tests.unit.test_load import _load, _repo, _row_file

    _load(warehouse, [_row_file(tmp_path, _repo(1), *(_repo(i, forks_count=-1) for i in range(2, 6)))], run_id="r1")
    caplog.set_level(logging.INFO, logger="github_etl")
    connect = mock.patch(
        "github_etl.hooks.warehouse.DatabaseConnection",
        side_effect=lambda *args, **kwargs: DatabaseConnection(pg_url, connect_retries=0),
    )

    with connect, pytest.raises(DataQualityError) as raised:
        check_task(task_context("r1", LOGICAL_DATE), None, warehouse_conn_id="unused")

    assert "1 data-quality check(s) failed: " in str(raised.value) and "ids [" in str(raised.value)
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


def test_a_failed_copy_is_told_once_by_postgresqls_error_naming_the_file(warehouse, tmp_path, caplog) -> None:
    """The file was logged at ERROR and the same error raised for Airflow to log: now the error names it."""
    import psycopg2

    from tests.unit.test_load import DAY_1, _copy_lines, _load, _repo

    malformed = tmp_path / "malformed.tsv"
    malformed.write_text(_copy_lines(_repo(4)) + "5\tonly two columns\n", encoding="utf-8")
    caplog.set_level(logging.INFO, logger="github_etl")

    with pytest.raises(psycopg2.DataError) as refused:
        _load(warehouse, [malformed], when=DAY_1)

    assert "(while copying the staged file malformed.tsv)" in "".join(getattr(refused.value, "__notes__", []))
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []
