"""A hostile or broken GitHub (or proxy) answering listings: a clear error, never a hang, a leak or a traceback."""

from __future__ import annotations

from typing import Any

import pytest
import responses

from github_etl.errors import GitHubError
from github_etl.extract.owners import OwnersShard
from github_etl.extract.plan import run_shard
from github_etl.github.client import GitHubClient
from github_etl.settings import ClientSettings, QuotaReserve
from github_etl.staging import RunStaging

BASE = "https://github.test"
TOKEN = "ghp_hostile_extract_token_0001"
FAST = ClientSettings(
    backoff_base=0.01,
    backoff_max=0.02,
    secondary_min_wait=0.01,
    reset_jitter=0.01,
    read_timeout=2,
    max_retries=1,
    quota_reserve=QuotaReserve(default=0.0),
)
# More requests than any of these tests needs: a client still asking past it is looping.
REQUEST_CAP = 60


class Looping(Exception):
    """Raised by a mocked endpoint asked more than REQUEST_CAP times."""


def _client() -> GitHubClient:
    return GitHubClient(BASE, [TOKEN], settings=FAST)


def _repo(repo_id: int, owner: str = "acme") -> dict[str, Any]:
    return {
        "id": repo_id,
        "node_id": f"R_{repo_id}",
        "name": f"r{repo_id}",
        "full_name": f"{owner}/r{repo_id}",
        "private": False,
        "visibility": "public",
        "owner": {"login": owner, "id": 7, "type": "Organization"},
    }


def _capped(reply: Any) -> Any:
    calls = {"n": 0}

    def callback(request: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > REQUEST_CAP:
            raise Looping(f"{request.url} asked {calls['n']} times")
        return reply(request)

    return callback


@responses.activate
def test_a_next_link_to_another_host_is_refused_and_gets_no_token(tmp_path) -> None:
    responses.get(
        f"{BASE}/orgs/acme/repos",
        json=[_repo(1)],
        headers={"Link": '<https://evil.test/orgs/acme/repos?page=2>; rel="next"'},
    )
    stolen = responses.get("https://evil.test/orgs/acme/repos", json=[_repo(2)])
    shard = OwnersShard(key="owners-000", owners=["acme"], organizations=["acme"])

    with pytest.raises(GitHubError, match=r"evil\.test"):
        run_shard(_client(), RunStaging("d", "r", root=tmp_path.as_uri()), shard)

    assert stolen.call_count == 0, f"sent to another host: {[c.request.headers for c in stolen.calls]}"
