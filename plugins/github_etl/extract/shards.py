"""A shard is one independently retriable unit of extraction, described by a small typed record.

Shards run as dynamically mapped tasks; each stages its own files, so one failing shard is retried
without touching the others, and any worker can run any shard.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self

from github_etl import metrics
from github_etl.errors import StaleShardError
from github_etl.extract.enrich import StagedBatch, enrich, public_only
from github_etl.github.client import GitHubClient
from github_etl.staging import RunStaging, collision, read_json_uri, run_folder
from github_etl.xcom import XComRecord

log = logging.getLogger(__name__)

# The staged summary of a finished shard; its list of batches stays there, out of XCom.
DONE_FILE = "done.json"
# Seconds between two progress lines (and metric updates) of a running shard: a line a minute tells how far
# a shard of hours has come without one line per request.
PROGRESS_EVERY_S = 60.0


@dataclass(frozen=True)
class Shard(XComRecord):
    """What every mode's shard has: a key naming its staged files; its XCom form names its mode."""

    mode: ClassVar[str]
    key: str

    def to_xcom(self) -> dict[str, Any]:
        return {"mode": self.mode, **super().to_xcom()}

    @classmethod
    def from_xcom(cls, data: Mapping[str, Any]) -> Self:
        return cls(**{name: value for name, value in data.items() if name != "mode"})


@dataclass(frozen=True)
class IdRangeShard(Shard):
    """A shard of the public repositories with ids in ``(id_low, id_high]``."""

    id_low: int
    id_high: int


def equal_cuts(low: int, high: int, count: int) -> list[tuple[int, int]]:
    """``(low, high]`` cut into ``count`` consecutive pieces whose widths differ by one at most."""
    return [(low + (high - low) * index // count, low + (high - low) * (index + 1) // count) for index in range(count)]


@dataclass(frozen=True)
class ExtractResult(XComRecord):
    """What one extracted shard hands the transform: its counts and its staged summary.

    :param shard: the shard's key.
    :param observed_at: when the shard began fetching (ISO 8601): the date its observations are stored under.
    :param done_uri: the shard's staged summary.
    :param batches: how many batches of full objects the shard staged (:func:`batch_uris` names them).
    :param missing_owners: owners: how many owners GitHub knows no user or organisation by.
    :param read_over_rest: repositories GraphQL gave no node for or refused (SAML) that were asked over REST, one
        request each (found gone there, or served); not those known gone already.
    :param plan_id: the plan whose shard this is (:class:`~github_etl.extract.plan.RunPlan`); empty for a shard
        extracted outside a plan (tests, benchmarks).
    """

    shard: str
    listed: int
    enriched: int
    skipped: int
    observed_at: str
    api_requests: int
    failed_requests: int
    done_uri: str
    plan_id: str
    batches: int
    missing_owners: int = 0
    read_over_rest: int = 0

    @classmethod
    def read(cls, done_uri: str) -> Self:
        """The result of the shard whose summary is staged at ``done_uri``."""
        return cls.from_xcom(read_json_uri(done_uri) | {"done_uri": done_uri})


def listing_name(index: int) -> str:
    """The staged file of a shard's ``index``-th listing page, counted from 0."""
    return f"listing-{index:06d}.json.gz"


def batch_name(index: int) -> str:
    """The staged file of a shard's ``index``-th batch of full objects, counted from 0."""
    return f"repos-{index:06d}.json.gz"


def batch_uris(staging: RunStaging, result: ExtractResult) -> Iterator[str]:
    """Where an extracted shard's batches are staged, in the order they were: named by their number, so that
    neither the extract nor the transform holds a list that grows with the shard."""
    for index in range(result.batches):
        yield staging.uri("raw", result.shard, batch_name(index))


def observation_clock() -> datetime:
    """Now, in UTC: when a shard starts fetching, and so the date its observations are stored under."""
    return datetime.now(UTC)


class ShardRecorder:
    """Stages a shard's raw responses as numbered checkpoints and counts what it did.

    A retried task replays the shard's deterministic plan: each listing page or enrichment batch that
    is already staged is read back instead of being fetched again, so a retry only spends API calls on
    work that was not finished.
    """

    def __init__(
        self,
        staging: RunStaging,
        shard: Shard,
        client: GitHubClient,
        *,
        expected: int | None = None,
        resources: Sequence[str] = ("core", "graphql", "search"),
        monotonic: Callable[[], float] = time.monotonic,
        plan_id: str = "",
    ) -> None:
        """:param expected: repositories the shard is expected to stage, for its progress lines; None: unknown.
        :param resources: the budgets the shard spends, whose remains its progress lines and metrics tell.
        :param monotonic: the clock of the progress lines, injectable for tests.
        :param plan_id: the plan the shard belongs to, staged with its first checkpoint and its summary: checkpoints
            another plan's shard of the same key staged are refused, not read back; empty outside a plan: not
            checked."""
        self.staging = staging
        self.key = shard.key
        self.plan_id = plan_id
        self.client = client
        self.pages = 0
        self.batches = 0
        self.counts = {"listed": 0, "enriched": 0, "skipped": 0, "read_over_rest": 0}
        self.expected = expected
        self.resources = tuple(resources)
        self._requests_at_start = client.api_requests
        self._failed_at_start = client.calls["failed"]
        self.observed_at = self._observation_start()
        self._monotonic = monotonic
        self._started = self._last_report = monotonic()
        # Checkpoints an earlier attempt staged, read back; and the repositories this attempt fetched.
        self.read_back = 0
        self._fetched = 0
        # What the metrics were last told, so each update sends what happened since.
        self._sent = {"requests": self._requests_at_start, "failed": self._failed_at_start, "staged": 0}

    def _observation_start(self) -> str:
        """When the shard first began fetching: staged once, so a retry stores what it saw at the same time."""
        if self.staging.exists("raw", self.key, "observed.json"):
            observed = self.staging.read_json("raw", self.key, "observed.json")
            self._check_plan(observed["plan"])
            if not self._started_too_long_ago(datetime.fromisoformat(observed["observed_at"])):
                return str(observed["observed_at"])
        observed_at = observation_clock().isoformat()
        self.staging.write_json({"observed_at": observed_at, "plan": self.plan_id}, "raw", self.key, "observed.json")
        return observed_at

    def _started_too_long_ago(self, started: datetime) -> bool:
        """Whether what this attempt fetches would be stored under ``started``, longer ago than a run may take.

        A finished shard is read back, not fetched, and within the deadline a retry resumes. Past it (the extract
        cleared, or the DAG unpaused, days later) a shard that staged nothing starts again now; one with staged pages
        would date what it fetches now by its first start, so it is refused.
        """
        from github_etl.settings import run_deadline_hours

        deadline = timedelta(hours=run_deadline_hours())
        if observation_clock() - started <= deadline or self.staging.exists("raw", self.key, DONE_FILE):
            return False
        if not any(self.staging.exists("raw", self.key, first) for first in (listing_name(0), batch_name(0))):
            log.info("Shard %s began fetching at %s UTC and staged nothing: it starts again now", self.key, started)
            return True
        raise StaleShardError(
            f"Shard {self.key} began fetching at {started:%Y-%m-%d %H:%M} UTC, longer ago than "
            f"GITHUB_ETL_RUN_DEADLINE_HOURS ({run_deadline_hours():g} h), and staged pages then: what it fetches now "
            f"would be stored as seen then. To fetch it again, delete {run_folder(self.staging)}/raw/{self.key}/ and "
            "clear this task with its downstream tasks (the load then names any other shard fetched too long "
            "before); or mark this run failed and trigger a new one."
        )

    def _check_plan(self, staged: str) -> None:
        if self.plan_id and staged != self.plan_id:
            raise collision(
                self.staging,
                f"shard {self.key} was staged for plan {staged}, not for plan {self.plan_id} that this run's shard has",
            )

    def _checkpoint(self, name: str, fetch: Callable[[], Any]) -> Any:
        if self.staging.exists("raw", self.key, name):
            self.read_back += 1
            return self.staging.read_json("raw", self.key, name)
        value = fetch()
        self.staging.write_json(value, "raw", self.key, name)
        return value

    def listing_page(self, fetch: Callable[[], Any]) -> Any:
        """A raw listing page (checkpointed)."""
        page = self._checkpoint(listing_name(self.pages), fetch)
        self.pages += 1
        self._progress()
        return page

    def enriched(self, repositories: list[dict[str, Any]], *, prefer_graphql: bool = True) -> StagedBatch:
        """Enrich minimal objects (checkpointed)."""
        return self.full_objects(lambda: enrich(self.client, repositories, prefer_graphql=prefer_graphql))

    def full_objects(self, fetch: Callable[[], StagedBatch]) -> StagedBatch:
        """Stage a batch of full objects (checkpointed) and count it."""
        read_back = self.read_back
        staged_batch = self._checkpoint(batch_name(self.batches), lambda: public_only(fetch()).to_json())
        batch = StagedBatch.from_json(staged_batch)
        self.batches += 1
        staged = len(batch.items) + len(batch.rest_items or ())
        self.counts["enriched"] += staged
        self.counts["skipped"] += len(batch.gone)
        self.counts["read_over_rest"] += batch.rest_requests or 0
        if self.read_back == read_back:
            self._fetched += staged + len(batch.gone)
        self._progress()
        return batch

    @property
    def staged(self) -> int:
        """Repositories staged so far, gone ones included: what ``expected`` counts."""
        return self.counts["enriched"] + self.counts["skipped"]

    def elapsed(self) -> float:
        """Seconds since this attempt at the shard began."""
        return self._monotonic() - self._started

    def _progress(self, *, now_or_never: bool = False) -> None:
        """Every :data:`PROGRESS_EVERY_S`: a line telling how far the shard is, and the metrics updated.

        :param now_or_never: report now, whenever the last report was (the shard is about to stop).
        """
        now = self._monotonic()
        if now - self._last_report < PROGRESS_EVERY_S and not now_or_never:
            return
        self._last_report = now
        self.send_metrics()
        elapsed = now - self._started
        done = self.staged
        if self.expected:
            share = min(100.0, 100.0 * done / self.expected)
            how_far = f"{done:,} of about {self.expected:,} repositories staged ({share:.0f}%)"
        else:
            how_far = f"{done:,} repositories staged"
        left = ""
        if self.expected and self._fetched and done < self.expected:
            left = f"; about {duration((self.expected - done) * elapsed / self._fetched)} left at this pace"
        requests = self.client.api_requests - self._requests_at_start
        failed = self.client.calls["failed"] - self._failed_at_start
        log.info(
            "Shard %s: %s, %s gone; %s listing page(s) and %s batch(es)%s; %s API request(s)%s in %s%s%s",
            self.key,
            how_far,
            f"{self.counts['skipped']:,}",
            f"{self.pages:,}",
            f"{self.batches:,}",
            f" ({self.read_back:,} read back from an earlier attempt)" if self.read_back else "",
            f"{requests:,}",
            f" ({failed:,} failed)" if failed else "",
            duration(elapsed),
            left,
            budget_text(self.client, self.resources),
        )

    def interrupted(self) -> None:
        """The attempt stops before the shard's end (a deferral, an error): how far it came, for the resumption."""
        try:
            self._progress(now_or_never=True)
        except Exception as exc:  # the error that stopped the shard is the one to see
            log.debug("Could not report the progress of shard %s: %s", self.key, exc)

    def send_metrics(self) -> None:
        """Tell the metrics what the shard did since they were last told, and the budget left."""
        # Repositories this attempt fetched: those an earlier attempt staged were counted then.
        counts = {"requests": self.client.api_requests, "failed": self.client.calls["failed"], "staged": self._fetched}
        metrics.incr(metrics.EXTRACT_REQUESTS, counts["requests"] - self._sent["requests"])
        metrics.incr(metrics.EXTRACT_FAILED_REQUESTS, counts["failed"] - self._sent["failed"])
        metrics.incr(metrics.EXTRACT_REPOSITORIES, counts["staged"] - self._sent["staged"])
        self._sent = counts
        for resource, (remaining, _) in self.client.budget_left(self.resources).items():
            metrics.gauge(f"{metrics.RATE_LIMIT_REMAINING}.{resource}", remaining)

    def done(self) -> ExtractResult:
        """Stage the shard's summary, its completion marker, and return its result."""
        summary = {
            "shard": self.key,
            **self.counts,
            "observed_at": self.observed_at,
            "api_requests": self.client.api_requests - self._requests_at_start,
            "failed_requests": self.client.calls["failed"] - self._failed_at_start,
            "plan_id": self.plan_id,
            "batches": self.batches,
        }
        result = ExtractResult.read(self.staging.write_json(summary, "raw", self.key, DONE_FILE))
        self.send_metrics()
        return result

    def already_done(self) -> ExtractResult | None:
        if not self.staging.exists("raw", self.key, DONE_FILE):
            return None
        result = ExtractResult.read(self.staging.uri("raw", self.key, DONE_FILE))
        self._check_plan(result.plan_id)
        return result


def duration(seconds: float) -> str:
    """``45 s``, ``12 min 5 s``, ``3 h 20 min``: a span as someone watching a log reads it."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def budget_text(client: GitHubClient, resources: Sequence[str]) -> str:
    """``; budget left: core 4,210 until 12:58:00 UTC, …`` as GitHub last told, and the tokens a secondary rate
    limit paused; nothing when GitHub told nothing."""
    left = client.budget_left(resources)
    parts = [
        f"{resource} {remaining:,} until {datetime.fromtimestamp(reset_at, tz=UTC):%H:%M:%S} UTC"
        for resource, (remaining, reset_at) in left.items()
    ]
    text = "; budget left: " + ", ".join(parts) if parts else ""
    if pauses := client.pauses():
        # A paused token's budget is there, but GitHub asked for none of it to be spent yet.
        end = datetime.fromtimestamp(min(pauses), tz=UTC)
        text += f"; {len(pauses)} token(s) paused until {end:%H:%M:%S} UTC (secondary rate limit)"
    return text
