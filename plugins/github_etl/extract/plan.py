"""Split a run into shards, per mode, and run one shard; both checkpointed in staging."""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from github_etl.errors import ConfigurationError, StagedFileGoneError
from github_etl.extract.budget import Fit, check_budget
from github_etl.extract.census import CensusMode
from github_etl.extract.enrich import say_held_warnings
from github_etl.extract.mode import Mode, Planned, Planning
from github_etl.extract.owners import OwnersMode
from github_etl.extract.refresh import RefreshMode
from github_etl.extract.sample import SampleMode
from github_etl.extract.search import SearchMode
from github_etl.extract.shards import PROGRESS_EVERY_S, ExtractResult, Shard, ShardRecorder, duration
from github_etl.github.client import GitHubClient
from github_etl.load.source import check_source, same_github
from github_etl.params import RunParams
from github_etl.settings import run_deadline_hours
from github_etl.staging import RunStaging, collision, stage_again
from github_etl.xcom import XComRecord

if TYPE_CHECKING:
    from psycopg2.extensions import cursor as PgCursor

    from github_etl.hooks.warehouse import DatabaseConnection

log = logging.getLogger(__name__)

PLAN_FILE = "plan.json"
# The params the staged plan was made for, written before it.
PARAMS_FILE = "params.json"
# Where the extract stages each shard's pages (ShardRecorder).
RAW_FOLDER = "raw"

MODES: dict[str, Mode[Any]] = {
    mode.name: mode for mode in (SampleMode(), SearchMode(), OwnersMode(), RefreshMode(), CensusMode())
}


def shard_from_xcom(data: Mapping[str, Any]) -> Shard:
    """A shard as planned, from its XCom form (which names its mode)."""
    return MODES[data["mode"]].shard_type.from_xcom(data)


@dataclass(frozen=True, kw_only=True)
class RunPlan(Planned, XComRecord):
    """A run's plan, staged once (``plan.json``) and read again by a retried plan and by the load.

    :param requests_needed: requests per resource the shards are expected to spend.
    :param discovery_requests: what planning spent asking GitHub.
    :param discovery_failed_requests: those of them GitHub failed.
    :param source: the API root of the GitHub the run harvests, which the load records in the warehouse.
    :param plan_id: drawn once per plan and staged with it: the shards and the load check that the staged plan
        is still the one they were planned by, not one another run of the same id staged over it since (another
        Airflow with the same staging URL).
    """

    mode: str
    requests_needed: dict[str, int]
    discovery_requests: int
    discovery_failed_requests: int
    source: str
    plan_id: str

    def to_xcom(self) -> dict[str, Any]:
        return {**super().to_xcom(), "shards": [shard.to_xcom() for shard in self.shards]}

    @classmethod
    def from_xcom(cls, data: Mapping[str, Any]) -> Self:
        return cls(**{**data, "shards": [shard_from_xcom(shard) for shard in data["shards"]]})


def plan_run(
    client: GitHubClient,
    staging: RunStaging,
    params: RunParams,
    *,
    logical_date: datetime,
    warehouse: Callable[[], DatabaseConnection] | None = None,
    clock: Callable[[], float] = time.time,
) -> RunPlan:
    """Decide the run's shards (once: a retried run reuses the staged plan) and check they fit the budget.

    :raise BudgetTooSmallError: the shards need more requests than GitHub gives before the run's deadline.
    :raise OtherGitHubError: the warehouse holds the data of another GitHub; raised before any request.
    """
    mode = MODES[params.mode]
    planned_before = staging.exists(PLAN_FILE)
    rest_share = 0.0
    if warehouse is not None:
        # Before any request, and before refresh plans from ids that would name other repositories here.
        with warehouse() as db, db.cursor() as cur:
            check_source(cur, client.base_url, where=db.where)
            if not planned_before and mode.enriches and client.authenticated:
                rest_share = recent_rest_share(cur, mode.name)
    if planned_before:
        _check_planned_params(staging, params)
        staged = RunPlan.from_xcom(staging.read_json(PLAN_FILE))
        _check_planned_github(staged.source, client, staging)
        log.info("Reusing the staged plan %s", staging.uri(PLAN_FILE))
        return staged
    if staging.exists(RAW_FOLDER):
        # Shards are named by their place in the plan, so a new plan's shards would take the lost plan's staged
        # pages as their own: a census would then move its cursor over ids that no page listed.
        raise StagedFileGoneError(
            f"The plan of run {staging.run_id} is not in the staging store, but shards its extract staged are "
            f"({staging.uri(RAW_FOLDER)}): planning again would reuse them for other shards. To plan and fetch "
            f"the run again, {stage_again(staging)}"
        )

    def check(
        shards: Sequence[Shard],
        *,
        announce: bool,
        advice: str | Callable[[Fit], str] = mode.advice,
        extra: Mapping[str, int] | None = None,
    ) -> dict[str, int]:
        needs = mode.requests_needed(shards, authenticated=client.authenticated)
        if rest_share:
            enriched = sum(mode.expected_repositories(shard) or 0 for shard in shards)
            needs["core"] = needs.get("core", 0) + math.ceil(enriched * rest_share)
        for resource, count in (extra or {}).items():
            needs[resource] = needs.get(resource, 0) + count
        check_budget(
            needs,
            client.budgets(),
            now=clock(),
            deadline_hours=run_deadline_hours(),
            authenticated=client.authenticated,
            advice=advice,
            announce=announce,
            token_setting=client.token_setting,
        )
        return needs

    planning = Planning(
        client,
        staging,
        params,
        logical_date,
        clock,
        lambda shards, extra=None, advice=mode.advice: check(shards, announce=False, advice=advice, extra=extra),
        warehouse,
    )
    planned = mode.plan(planning)
    plan = RunPlan(
        **vars(planned),
        mode=mode.name,
        requests_needed=check(planned.shards, announce=True, advice=mode.budget_advice(planned)),
        discovery_requests=client.api_requests,
        discovery_failed_requests=client.calls["failed"],
        source=client.base_url,
        plan_id=uuid.uuid4().hex,
    )
    staging.write_json(_params_json(params), PARAMS_FILE)
    staging.write_json(plan.to_xcom(), PLAN_FILE)
    log.info("Planned %s shard(s) with %s discovery request(s)", len(plan.shards), client.api_requests)
    return plan


# The runs whose share of repositories read over REST prices the next run's.
REST_SHARE_RUNS = 10


def recent_rest_share(cur: PgCursor, mode: str) -> float:
    """The share of listed repositories the last runs of ``mode`` asked over REST when they enriched them (0: none
    yet): those found gone, for which GraphQL gives no node and REST says why, and those GraphQL refused (an
    organization's SAML single sign-on) that REST served. A repository marked deleted that a refresh finds
    still gone costs no request and is not counted: nor is a run without a token, which reads every one over REST.

    Each costs a REST request: a census with 2 % gone spends two and a half times the core requests of its
    listing alone, and one harvesting an organization the token is not authorized for reads it all over REST.
    """
    cur.execute(
        "SELECT coalesce(sum(read_over_rest)::float8 / nullif(sum(listed), 0), 0) FROM ("
        " SELECT read_over_rest, listed FROM github.load_runs WHERE mode = %s"
        " ORDER BY observed_at DESC LIMIT %s) recent",
        (mode, REST_SHARE_RUNS),
    )
    (share,) = cur.fetchone()
    return min(1.0, float(share))


def extract_inputs(plan: RunPlan) -> list[dict[str, Any]]:
    """The extract tasks' inputs: each shard's XCom form with the plan it belongs to and that plan's GitHub."""
    return [{**shard.to_xcom(), "plan": plan.plan_id, "github": plan.source} for shard in plan.shards]


def planned_shard(extract_input: Mapping[str, Any], client: GitHubClient, staging: RunStaging) -> tuple[Shard, str]:
    """The shard of an extract task's input and its plan's id, once the client leads to the GitHub it was planned
    against.

    A connection changed since the plan (an extract cleared or retried after the edit) would stage the other
    GitHub's pages under this plan's shards, and the load would record them as the planned GitHub's.

    :raise ConfigurationError: the client leads to another GitHub; raised before any request.
    """
    fields = dict(extract_input)
    plan_id = fields.pop("plan")
    _check_planned_github(fields.pop("github"), client, staging)
    return shard_from_xcom(fields), plan_id


def _check_planned_github(planned: str, client: GitHubClient, staging: RunStaging) -> None:
    if not same_github(planned, client.base_url):
        raise ConfigurationError(
            f"Run {staging.run_id} planned against the GitHub at {planned} and staged what it fetched there, but "
            f"its GitHub connection now leads to {client.base_url}: the two number their repositories "
            f"independently. Point the connection back, or to harvest {client.base_url} in this run, "
            f"{stage_again(staging)}"
        )


def _params_json(params: RunParams) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(params)))


def _check_planned_params(staging: RunStaging, params: RunParams) -> None:
    """Refuse to reuse a staged plan made for other params: Airflow gives a run id again after its metadata
    database was reset or cleaned (the scheduled run of the same time, a backfill of the same dates), and the
    staged files of the run that had it before would be loaded as this run's."""
    if not staging.exists(PARAMS_FILE):
        return
    staged = staging.read_json(PARAMS_FILE)
    asked = _params_json(params)
    differing = sorted(name for name in staged.keys() & asked.keys() if staged[name] != asked[name])
    if differing:
        changes = ", ".join(f"{name} {staged[name]!r} there, {asked[name]!r} now" for name in differing)
        raise ConfigurationError(
            f"Run {staging.run_id} has a plan staged for other params ({changes}): a run of this id staged it "
            "before (Airflow gives an id again once its metadata database was reset or cleaned), or this run's "
            "params changed since it planned (a cleared run then loads what it staged when only its load task is "
            "cleared), or another Airflow with the same GITHUB_ETL_STAGING_URL runs this DAG (blue/green "
            "deployments, a development Airflow pointed at this store): then give this Airflow its own "
            "GITHUB_ETL_STAGING_URL and clear this run's plan task with its downstream tasks, leaving the folder to "
            f"the other's run. Otherwise, to plan for these params, {stage_again(staging)}"
        )


def check_same_plan(staging: RunStaging, plan_id: str) -> None:
    """Refuse to go on with a run whose staged plan is no longer the one ``plan_id`` names: another run of the same
    id planned over it (two Airflows with one staging URL plan their scheduled run of a time at once, and the last
    plan staged wins), so this run's shards and the staged plan describe different id ranges or queries."""
    if not plan_id:
        return
    staged = staging.read_json(PLAN_FILE)["plan_id"]
    if staged != plan_id:
        raise collision(staging, f"its staged plan is plan {staged}, not plan {plan_id} that this run's shards have")


def run_shard(
    client: GitHubClient,
    staging: RunStaging,
    shard: Shard,
    *,
    plan_id: str = "",
    monotonic: Callable[[], float] = time.monotonic,
) -> ExtractResult:
    """Extract one shard, resuming from its checkpoints; returns its counts and the URI of its summary.

    It logs how far it is every :data:`~github_etl.extract.shards.PROGRESS_EVERY_S` by ``monotonic``.

    :param plan_id: the plan the shard belongs to (its XCom's ``plan``): the staged plan and the shard's checkpoints
        must be that plan's (:func:`check_same_plan`); empty for a shard extracted outside a plan (tests, benchmarks).
    """
    check_same_plan(staging, plan_id)
    mode = MODES[shard.mode]
    needs = {
        name: count for name, count in mode.shard_requests(shard, authenticated=client.authenticated).items() if count
    }
    recorder = ShardRecorder(
        staging,
        shard,
        client,
        expected=mode.expected_repositories(shard),
        resources=list(needs),
        monotonic=monotonic,
        plan_id=plan_id,
    )
    finished = recorder.already_done()
    if finished is not None:
        log.info("Shard %s is already staged; nothing to fetch", shard.key)
        return finished
    # Without an expected count (an owner's pages are known once listed), the requests are a floor.
    log.info(
        "Shard %s: %s, %s %s; progress every %s",
        shard.key,
        f"about {recorder.expected:,} repositories to stage" if recorder.expected else "repositories to list",
        "about" if recorder.expected else "at least",
        " and ".join(f"{count:,} {name} request(s)" for name, count in needs.items()) or "no request",
        duration(PROGRESS_EVERY_S),
    )
    try:
        mode.extract(client, recorder, shard)
    except BaseException:
        recorder.interrupted()
        raise
    finally:
        say_held_warnings(client)
    result = recorder.done()
    log.info(
        "Shard %s done: listed %s, enriched %s%s, skipped %s, %s API request(s) (%s failed) in %s",
        shard.key,
        f"{result.listed:,}",
        f"{result.enriched:,}",
        f" ({result.read_over_rest:,} asked over REST)" if result.read_over_rest else "",
        f"{result.skipped:,}",
        f"{result.api_requests:,}",
        f"{result.failed_requests:,}",
        duration(recorder.elapsed()),
    )
    return result
