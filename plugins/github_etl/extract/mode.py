"""What every mode is: how it splits a run into shards, extracts one, and what its shards cost.

Each mode implements :class:`Mode` in its own module; :data:`github_etl.extract.plan.MODES` names them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from github_etl.extract.budget import Fit, summed
from github_etl.extract.shards import Shard, ShardRecorder

if TYPE_CHECKING:
    from github_etl.github.client import GitHubClient
    from github_etl.hooks.warehouse import DatabaseConnection
    from github_etl.params import RunParams
    from github_etl.staging import RunStaging

ShardT = TypeVar("ShardT", bound=Shard)


@dataclass(frozen=True)
class Planning:
    """What a mode may plan with.

    :param check_budget: fails the run when these shards, and the ``extra`` requests planning will spend asking
        GitHub first, cannot fit its budget (for a mode that knows its cost before it asks GitHub anything), with
        ``advice`` (the mode's own by default).
    :param warehouse: opens the warehouse, for the modes that plan from it; None where there is none.
    """

    client: GitHubClient
    staging: RunStaging
    params: RunParams
    logical_date: datetime
    clock: Callable[[], float]
    check_budget: Callable[..., object]
    warehouse: Callable[[], DatabaseConnection] | None = None

    def connect(self, mode: str, need: str) -> DatabaseConnection:
        if self.warehouse is None:
            raise ValueError(f"mode {mode} needs the warehouse {need}")
        return self.warehouse()


@dataclass(frozen=True, kw_only=True)
class Planned:
    """What a mode's planning decided and found.

    :param shards: one mapped extract task each.
    :param unreachable: search: the seconds whose matches GitHub cannot serve in full (recorded by the load).
    :param census: census: the id range ``{"since_id", "until_id", "expected", "reaches_end"}`` whose cursor the
        load moves (``reaches_end``: 1 when ``until_id`` is today's end of the id space, which may start the cursor).
    :param found: what planning learnt on the way, for the staged plan's reader (``max_id``, ``matches``, ``probes``).
    """

    shards: list[Shard]
    unreachable: list[dict[str, Any]] = field(default_factory=list)
    census: dict[str, int] | None = None
    found: dict[str, int] = field(default_factory=dict)


class Mode(ABC, Generic[ShardT]):
    """One way to choose a run's repositories: its ``mode`` param, its shards and how to fetch one.

    :cvar advice: what a user can lower when a run does not fit its budget.
    """

    advice: ClassVar[str]
    # Whether the mode enriches the repositories it lists by id (GraphQL with a token): each one GraphQL gives no
    # node for (gone since listed, or refused) costs a REST request more.
    enriches: ClassVar[bool] = False
    shard_type: ClassVar[type[Shard]]

    @property
    def name(self) -> str:
        return self.shard_type.mode

    def check_params(self, params: RunParams) -> None:
        """Raise :class:`~github_etl.errors.ConfigurationError` when ``params`` lack what the mode needs."""

    @abstractmethod
    def plan(self, planning: Planning) -> Planned:
        """Split the run into shards, asking GitHub or the warehouse what the mode needs to know."""

    @abstractmethod
    def extract(self, client: GitHubClient, recorder: ShardRecorder, shard: ShardT) -> None:
        """Fetch one shard, staging what it fetches through ``recorder``."""

    @abstractmethod
    def shard_requests(self, shard: ShardT, *, authenticated: bool) -> dict[str, int]:
        """What one shard is expected to spend (see :func:`~github_etl.extract.budget.requests`)."""

    def expected_repositories(self, shard: ShardT) -> int | None:
        """Repositories the shard is expected to stage, for its progress lines; None when only listing tells."""
        return None

    def budget_advice(self, planned: Planned) -> str | Callable[[Fit], str]:
        """What to lower when the planned run does not fit its budget, or a function of the resource judged short."""
        return self.advice

    def requests_needed(self, shards: Sequence[ShardT], *, authenticated: bool) -> dict[str, int]:
        """Requests (GraphQL: points) per resource these shards are expected to spend; a floor, not a bound."""
        return summed(self.shard_requests(shard, authenticated=authenticated) for shard in shards)
