"""Authentication and authorization of API requests by Airflow itself: the JWT of Airflow's REST API or the UI's
session cookie, and the user's permission to read the harvest DAG (``github_repositories``, or the one
``GITHUB_ETL_API_DAG_ID`` names).

No user store here: the token is checked by Airflow's own ``get_user`` (``airflow.api_fastapi.core_api
.security``), which asks the configured auth manager; so is the permission (``is_authorized_dag``). The
warehouse holds what the DAG's runs loaded, so whoever may read the DAG in Airflow may read the API, as
Airflow's own REST API shows a DAG's runs and XComs to those who may read the DAG. Airflow's core API is
imported when the first request is authenticated, not when the plugin is imported: every Airflow process
loads plugins, and only the API server serves requests.

Airflow's check costs about a millisecond of CPU per request (signature, claims, and a query of the
metadata database for revoked tokens, run synchronously on the event loop): more than the whole work of
most routes here. A bearer token Airflow accepted, of a user it lets read the DAG, is therefore remembered
for a few seconds (:class:`AcceptedTokens`, ``GITHUB_ETL_API_AUTH_CACHE_SECONDS``), never past its own
expiry: a permission withdrawn applies to it once its entry lapses.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

from github_etl.api.config import ApiSettings

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

# Airflow's token endpoint; declared like Airflow's core API declares it, so Swagger UI offers the same login.
# The OpenAPI document serves it under Airflow's base path (token_url).
TOKEN_URL = "/auth/token"  # noqa: S105 - a URL, not a secret
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL,
    auto_error=False,
    description="A JWT of Airflow's REST API: `POST /auth/token` with an Airflow user's credentials.",
)
bearer_scheme = HTTPBearer(auto_error=False)
# RFC 6750: a 401 tells the client which scheme to authenticate with.
CHALLENGE = {"WWW-Authenticate": "Bearer"}
# Distinct tokens remembered per API server process; the oldest is forgotten first.
MAX_ACCEPTED_TOKENS = 4096


class AcceptedTokens:
    """Users of the tokens Airflow accepted in the last ``ttl`` seconds, for one API server process.

    Only acceptances are remembered: a rejected token is asked about again on every request. An entry
    lasts ``ttl`` seconds and never past the token's ``exp`` claim, so an expired token is refused as
    Airflow would refuse it; a token revoked by logging out is refused once its entry lapses, at most
    ``ttl`` seconds later. Tokens are kept as digests, not as themselves.

    Used from the event loop's thread only, like every coroutine of the app: no lock.

    :param ttl: seconds an acceptance is reused; 0 asks Airflow on every request.
    :param max_entries: tokens remembered at most.
    :param clock: monotonic seconds, for the ``ttl``.
    :param wall_clock: seconds since the epoch, for ``exp``.
    """

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = MAX_ACCEPTED_TOKENS,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._wall_clock = wall_clock
        # digest -> (user, monotonic deadline of the entry, the token's exp)
        self._entries: OrderedDict[bytes, tuple[BaseUser, float, float]] = OrderedDict()

    def get(self, token: str) -> BaseUser | None:
        """The user of ``token`` if Airflow accepted it less than ``ttl`` seconds ago and it has not expired."""
        if self.ttl <= 0:
            return None
        key = _digest(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        user, deadline, expires = entry
        if self._clock() >= deadline or self._wall_clock() >= expires:
            del self._entries[key]
            return None
        return user

    def put(self, token: str, user: BaseUser) -> None:
        """Remember that Airflow accepted ``token`` as ``user`` just now."""
        if self.ttl <= 0:
            return
        # Airflow verified the signature a moment ago; only the expiry is read here.
        try:
            expires = jwt.decode(token, options={"verify_signature": False}).get("exp")
        except jwt.PyJWTError:
            return  # accepted by an auth manager whose tokens are not JWTs: checked every time
        if not isinstance(expires, int | float):
            return  # a token without an expiry is checked every time
        if len(self._entries) >= self._max_entries:
            self._entries.popitem(last=False)
        self._entries[_digest(token)] = (user, self._clock() + self.ttl, float(expires))


def token_url() -> str:
    """Path of Airflow's token endpoint on this host: ``/auth/token`` under the path of ``[api] base_url``."""
    from airflow.configuration import conf

    base_path = urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")
    return f"{base_path}{TOKEN_URL}"


def _digest(token: str) -> bytes:
    return hashlib.blake2b(token.encode(), digest_size=32).digest()


def forbidden(dag_id: str) -> str:
    """The answer to a user Airflow knows but does not let read the DAG; names no more than the API's description."""
    return f"Airflow does not let this user read the DAG {dag_id}, whose data this API serves"


def _settings(request: Request) -> ApiSettings:
    """The app's settings; read on first use (an app built without :func:`~github_etl.api.app.create_app`)."""
    state = request.app.state
    settings = getattr(state, "settings", None)
    if settings is None:
        settings = state.settings = ApiSettings.from_env()
    return settings


def _accepted_tokens(request: Request) -> AcceptedTokens:
    """The app's token cache; made on first use."""
    state = request.app.state
    accepted = getattr(state, "accepted_tokens", None)
    if accepted is None:
        accepted = state.accepted_tokens = AcceptedTokens(_settings(request).auth_cache_seconds)
    return accepted


async def require_dag_reader(
    request: Request,
    oauth_token: Annotated[str | None, Depends(oauth2_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> BaseUser:
    """The Airflow user behind the request's bearer token or Airflow UI session cookie, if Airflow lets them read
    the harvest DAG (:attr:`ApiSettings.dag_id`); 401 without a user, 403 without the permission.

    Airflow's core API answers 403 to a token it cannot decode; here any rejected credential is a 401,
    so a client knows to fetch a new token rather than to ask for more permissions.
    """
    # Only bearer tokens are remembered: a session cookie is already checked by Airflow's own middleware
    # (JWTRefreshMiddleware) before the request gets here, and get_user then reuses that check.
    token = bearer.credentials if bearer and bearer.scheme.lower() == "bearer" else None
    accepted = _accepted_tokens(request)
    if token:
        user = accepted.get(token)
        if user is not None:
            return user

    from airflow.api_fastapi.core_api.security import get_user

    try:
        user = await get_user(request, oauth_token, bearer)
    except HTTPException as exc:
        if exc.status_code in (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=exc.detail, headers=CHALLENGE) from None
        raise
    dag_id = _settings(request).dag_id
    if not _may_read_the_dag(user, dag_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=forbidden(dag_id))
    if token:
        accepted.put(token, user)
    return user


def _may_read_the_dag(user: BaseUser, dag_id: str) -> bool:
    """Whether the configured auth manager lets ``user`` read ``dag_id``, as Airflow's ``requires_access_dag`` asks."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
    from airflow.configuration import conf

    team_name = None
    # A DAG belongs to a team only in multi-team mode: the metadata database is asked only then.
    if conf.getboolean("core", "multi_team", fallback=False):
        from airflow.models.dag import DagModel

        team_name = DagModel.get_team_name(dag_id)
    return get_auth_manager().is_authorized_dag(
        method="GET", details=DagDetails(id=dag_id, team_name=team_name), user=user
    )
