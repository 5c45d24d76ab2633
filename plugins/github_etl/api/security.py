"""Authentication of API requests by Airflow itself: the JWT of Airflow's REST API or the UI's session cookie.

No user store here: the token is checked by Airflow's own ``get_user`` (``airflow.api_fastapi.core_api
.security``), which asks the configured auth manager. Airflow's core API is imported when the first request
is authenticated, not when the plugin is imported: every Airflow process loads plugins, and only the API
server serves requests. Every request is checked, so a token revoked by logging out is refused at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

# Airflow's token endpoint; declared like Airflow's core API declares it, so Swagger UI offers the same login.
TOKEN_URL = "/auth/token"  # noqa: S105 - a URL, not a secret
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL,
    auto_error=False,
    description="A JWT of Airflow's REST API: `POST /auth/token` with an Airflow user's credentials.",
)
bearer_scheme = HTTPBearer(auto_error=False)
# RFC 6750: a 401 tells the client which scheme to authenticate with.
CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def require_airflow_user(
    request: Request,
    oauth_token: Annotated[str | None, Depends(oauth2_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> BaseUser:
    """The Airflow user behind the request's bearer token or Airflow UI session cookie; 401 without one.

    Airflow's core API answers 403 to a token it cannot decode; here any rejected credential is a 401,
    so a client knows to fetch a new token rather than to ask for more permissions.
    """
    from airflow.api_fastapi.core_api.security import get_user

    try:
        return await get_user(request, oauth_token, bearer)
    except HTTPException as exc:
        if exc.status_code in (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=exc.detail, headers=CHALLENGE) from None
        raise
