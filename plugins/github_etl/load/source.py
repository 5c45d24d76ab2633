"""The GitHub a warehouse holds the data of (``github.source``), and the refusal of a run of another one.

Two GitHubs (github.com, a GitHub Enterprise Server, a GHE.com tenant) number their repositories, node ids
and owners independently: the same id names a different repository on each. A warehouse fed by both would
have one's rows overwrite the other's, its refresh mark the other's deleted, and its census cursor and star
gains mix ids of both. So the first load records its GitHub's API root, and the plan (before any request)
and every load (in its transaction) refuse a run of another GitHub, saying what to do instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from github_etl.errors import ConfigurationError

if TYPE_CHECKING:
    from psycopg2.extensions import cursor as PgCursor

_DEFAULT_PORTS = {"https": 443, "http": 80}


class OtherGitHubError(ConfigurationError):
    """The warehouse holds the data of another GitHub than the one the run harvests."""


def same_github(recorded: str, harvested: str) -> bool:
    """Whether two API roots name one GitHub: equal but for the case of the host, a default port, a trailing
    slash or the scheme (a host moved to https is the same GitHub)."""
    return _identity(recorded) == _identity(harvested)


def check_source(cur: PgCursor, api_url: str, *, where: str) -> None:
    """Refuse a run of ``api_url`` when the warehouse holds the data of another GitHub.

    :param where: the warehouse, as a message may name it (``host:port/db``).
    :raises OtherGitHubError: the recorded GitHub is another one; the message names both and the fixes.
    """
    cur.execute("SELECT api_url, run_id, dag_id FROM github.source")
    row = cur.fetchone()
    if row is not None and not same_github(row[0], api_url):
        recorded, run_id, dag_id = row
        raise OtherGitHubError(
            f"The warehouse at {where} holds the repositories of the GitHub at {recorded} (recorded by run "
            f"{run_id} of {dag_id}), and this run harvests the GitHub at {api_url}. Two GitHubs number their "
            "repositories independently (the same id is another repository), so this run would overwrite those "
            "rows and mark them deleted. Harvest each GitHub into a database (or warehouse connection) of its own: "
            "point this DAG's postgres_default at another database, as "
            "docs/github-enterprise.md#two-githubs-two-warehouses shows. If "
            f"{api_url} is the same GitHub under another address (a proxy, a renamed host), record it in the "
            f"warehouse first: UPDATE github.source SET api_url = '{api_url}'"
        )


def claim_source(cur: PgCursor, api_url: str, *, dag_id: str, run_id: str, where: str) -> None:
    """Record ``api_url`` as the warehouse's GitHub unless one is recorded, then refuse another GitHub's run.

    In the load's transaction: of two first loads of two GitHubs at once, the second waits for the first to
    commit its record (the one row's key), and is then refused.
    """
    cur.execute(
        "INSERT INTO github.source (api_url, dag_id, run_id, recorded_at)"
        " SELECT %s, %s, %s, now() WHERE NOT EXISTS (SELECT FROM github.source)"
        " ON CONFLICT (singleton) DO NOTHING",
        (api_url, dag_id, run_id),
    )
    check_source(cur, api_url, where=where)


def _identity(url: str) -> tuple[str, str]:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    return netloc, parts.path.rstrip("/")
