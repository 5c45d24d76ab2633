"""A shard is one independently retriable unit of extraction, described by a small typed record.

Shards run as dynamically mapped tasks; each stages its own files, so one failing shard is retried
without touching the others, and any worker can run any shard.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from github_etl.extract.enrich import StagedBatch, enrich, public_only
from github_etl.github.client import GitHubClient
from github_etl.staging import RunStaging, read_json_uri
from github_etl.xcom import XComRecord

log = logging.getLogger(__name__)

# The staged summary of a finished shard; its list of batches stays there, out of XCom.
DONE_FILE = "done.json"


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
    :param done_uri: the shard's staged summary, which lists its raw batches.
    :param missing_owners: owners: how many owners GitHub knows no user or organisation by.
    """

    shard: str
    listed: int
    enriched: int
    skipped: int
    observed_at: str
    api_requests: int
    failed_requests: int
    done_uri: str
    missing_owners: int = 0

    @classmethod
    def read(cls, done_uri: str) -> Self:
        """The result of the shard whose summary is staged at ``done_uri``."""
        summary = read_json_uri(done_uri)
        return cls.from_xcom(
            {name: value for name, value in summary.items() if name != "batches"} | {"done_uri": done_uri}
        )


def observation_clock() -> datetime:
    """Now, in UTC: when a shard starts fetching, and so the date its observations are stored under."""
    return datetime.now(UTC)


class ShardRecorder:
    """Stages a shard's raw responses as numbered checkpoints and counts what it did.

    A retried task replays the shard's deterministic plan: each listing page or enrichment batch that
    is already staged is read back instead of being fetched again, so a retry only spends API calls on
    work that was not finished.
    """

    def __init__(self, staging: RunStaging, shard: Shard, client: GitHubClient) -> None:
        self.staging = staging
        self.key = shard.key
        self.client = client
        self.pages = 0
        self.batches: list[str] = []
        self.counts = {"listed": 0, "enriched": 0, "skipped": 0}
        self._requests_at_start = client.api_requests
        self._failed_at_start = client.calls["failed"]
        self.observed_at = self._observation_start()

    def _observation_start(self) -> str:
        """When the shard first began fetching: staged once, so a retry stores what it saw at the same time."""
        if self.staging.exists("raw", self.key, "observed.json"):
            return str(self.staging.read_json("raw", self.key, "observed.json")["observed_at"])
        observed_at = observation_clock().isoformat()
        self.staging.write_json({"observed_at": observed_at}, "raw", self.key, "observed.json")
        return observed_at

    def _checkpoint(self, name: str, fetch: Callable[[], Any]) -> Any:
        if self.staging.exists("raw", self.key, name):
            return self.staging.read_json("raw", self.key, name)
        value = fetch()
        self.staging.write_json(value, "raw", self.key, name)
        return value

    def listing_page(self, fetch: Callable[[], Any]) -> Any:
        """A raw listing page (checkpointed)."""
        name = f"listing-{self.pages:06d}.json"
        self.pages += 1
        return self._checkpoint(name, fetch)

    def enriched(self, repositories: list[dict[str, Any]], *, prefer_graphql: bool = True) -> StagedBatch:
        """Enrich minimal objects (checkpointed)."""
        return self.full_objects(lambda: enrich(self.client, repositories, prefer_graphql=prefer_graphql))

    def full_objects(self, fetch: Callable[[], StagedBatch]) -> StagedBatch:
        """Stage a batch of full objects (checkpointed) and count it."""
        name = f"repos-{len(self.batches):06d}.json"
        batch = StagedBatch.from_json(self._checkpoint(name, lambda: public_only(fetch()).to_json()))
        self.batches.append(self.staging.uri("raw", self.key, name))
        self.counts["enriched"] += len(batch.items) + len(batch.rest_items or ())
        self.counts["skipped"] += len(batch.gone)
        return batch

    def done(self) -> ExtractResult:
        """Stage the shard's summary, its completion marker, and return its result."""
        summary = {
            "shard": self.key,
            **self.counts,
            "observed_at": self.observed_at,
            "api_requests": self.client.api_requests - self._requests_at_start,
            "failed_requests": self.client.calls["failed"] - self._failed_at_start,
            "batches": self.batches,
        }
        return ExtractResult.read(self.staging.write_json(summary, "raw", self.key, DONE_FILE))

    def already_done(self) -> ExtractResult | None:
        if not self.staging.exists("raw", self.key, DONE_FILE):
            return None
        return ExtractResult.read(self.staging.uri("raw", self.key, DONE_FILE))
