"""GitHub App installations: the JWT-for-token exchange and the installation tokens it mints.

``POST /app/installations/{id}/access_tokens`` with ``Authorization: Bearer <JWT>`` answers 201 with
``{"token": "ghs_...", "expires_at": "...Z", ...}`` as GitHub does, once the JWT checks out: signed
RS256 with the App's private key (verified against its public key), ``iss`` the App id or its client
id (:func:`client_id_of`, which GitHub now recommends), ``iat`` not in the future, ``exp`` in the
future and at most ten minutes after ``iat``. A suspended installation (:meth:`AppInstallations.suspend`)
gets 403 instead of a token. ``replication_lag_s`` makes a new token answer 401 ``Bad credentials``
for that long, as GitHub's replicas do until they learn of it. An installation token works like a
personal token until it expires (then 401 ``Bad credentials``); its budget is the installation's,
whichever of the installation's tokens spends it. Minted tokens stay in memory only: tests read them
through :meth:`AppInstallations.issued_tokens` to check none leaked into files.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DOCS_APP_TOKEN = "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app"
DOCS_JWT = "https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app"
# GitHub refuses a JWT that claims to live longer than this.
MAX_JWT_LIFETIME_SECONDS = 600
# GitHub's installation tokens live an hour.
DEFAULT_TOKEN_TTL_SECONDS = 3600.0
# GitHub's client ids of Apps created since 2023: "Iv23li" and 14 more characters.
_CLIENT_ID_PREFIX = "Iv23li"


def client_id_of(app_id: int) -> str:
    """The client id the fake gives the App ``app_id`` (shown on the App's settings page next to its id)."""
    return f"{_CLIENT_ID_PREFIX}{app_id:014x}"


def generate_app_key() -> tuple[str, str]:
    """A fresh RSA key pair for a test App: ``(private key PEM, public key PEM)``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@dataclass(frozen=True)
class Issued:
    """An installation token the fake minted."""

    installation_id: int
    expires_at: float
    issued_at: float = 0.0


@dataclass(frozen=True)
class Exchange:
    """The answer to a call authenticated by a JWT: a status and a JSON body (``items``: a list's page)."""

    status: int
    body: dict[str, Any]
    total: int = 0


class AppInstallations:
    """The Apps the fake knows (id and public key), their installations and the tokens minted for them.

    :param apps: public key PEM by App id.
    :param installations: App id by installation id.
    :param accounts: ``(login, "Organization" or "User")`` of the account each installation is on.
    :param token_ttl_s: lifetime of a minted token (GitHub: an hour; tests make it seconds).
    :param clock: epoch seconds.
    """

    def __init__(
        self,
        apps: Mapping[int, str],
        installations: Mapping[int, int],
        *,
        accounts: Mapping[int, tuple[str, str]] | None = None,
        token_ttl_s: float = DEFAULT_TOKEN_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.apps = dict(apps)
        self.installations = dict(installations)
        self.accounts = dict(accounts or {})
        self.token_ttl_s = token_ttl_s
        # GitHub's replicas learn of a new token within about a second; until then they answer 401.
        self.replication_lag_s = 0.0
        self._clock = clock
        self._issued: dict[str, Issued] = {}
        self._revoked: set[str] = set()
        self._suspended: set[int] = set()
        self._lock = threading.Lock()

    def exchange(self, installation_id: int, bearer: str | None) -> Exchange:
        """Check the JWT and mint a token for the installation (GitHub's statuses and messages)."""
        app_id = self._verify(bearer)
        if isinstance(app_id, Exchange):
            return app_id
        if self.installations.get(installation_id) != app_id:
            return _error(404, "Not Found", DOCS_APP_TOKEN)
        if installation_id in self._suspended:
            return _error(403, "This installation has been suspended", DOCS_APP_TOKEN)
        token = "ghs_" + secrets.token_urlsafe(27)[:36]
        expires_at = self._clock() + self.token_ttl_s
        with self._lock:
            self._issued[token] = Issued(installation_id, expires_at, self._clock())
        return Exchange(
            201,
            {
                "token": token,
                "expires_at": _iso(expires_at),
                "permissions": {"metadata": "read"},
                "repository_selection": "all",
            },
        )

    def list_installations(self, bearer: str | None, base_url: str, page: int, per_page: int) -> Exchange:
        """``GET /app/installations``: the JWT's App's installations, oldest first, a page of them."""
        app_id = self._verify(bearer)
        if isinstance(app_id, Exchange):
            return app_id
        ids = sorted(i for i, app in self.installations.items() if app == app_id)
        chosen = ids[(page - 1) * per_page : page * per_page]
        return Exchange(200, {"items": [self._installation(i, app_id, base_url) for i in chosen]}, len(ids))

    def _installation(self, installation_id: int, app_id: int, base_url: str) -> dict[str, Any]:
        """An installation object as GitHub shapes it (the fields a client reads, and a few more)."""
        login, kind = self.accounts.get(installation_id, (f"account-{installation_id}", "Organization"))
        suspended = installation_id in self._suspended
        return {
            "id": installation_id,
            "client_id": client_id_of(app_id),
            "account": {"login": login, "id": installation_id + 1_000_000, "type": kind},
            "repository_selection": "all",
            "access_tokens_url": f"{base_url}/app/installations/{installation_id}/access_tokens",
            "html_url": f"https://github.com/{'organizations/' + login + '/' if kind == 'Organization' else ''}"
            f"settings/installations/{installation_id}",
            "app_id": app_id,
            "target_id": installation_id + 1_000_000,
            "target_type": kind,
            "permissions": {"metadata": "read"},
            "events": [],
            "created_at": "2026-01-05T10:00:00Z",
            "updated_at": "2026-01-05T10:00:00Z",
            "suspended_by": {"login": login} if suspended else None,
            "suspended_at": "2026-02-01T10:00:00Z" if suspended else None,
        }

    def _verify(self, bearer: str | None) -> int | Exchange:
        """The App a JWT authenticates, or GitHub's refusal of it."""
        import jwt

        if not bearer:
            return _error(401, "A JSON web token could not be decoded", DOCS_JWT)
        try:
            claims = jwt.decode(bearer, options={"verify_signature": False})
            app_id = self._app_of(claims["iss"])
            public_key = self.apps[app_id]
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return _error(401, "A JSON web token could not be decoded", DOCS_JWT)
        try:
            claims = jwt.decode(
                bearer, public_key, algorithms=["RS256"], options={"require": ["exp", "iat", "iss"]}, leeway=0
            )
        except jwt.ExpiredSignatureError:
            return _error(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
                "the assertion expires",
                DOCS_JWT,
            )
        except jwt.ImmatureSignatureError:
            return _error(
                401,
                "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
                DOCS_JWT,
            )
        except jwt.PyJWTError:
            return _error(401, "A JSON web token could not be decoded", DOCS_JWT)
        if int(claims["exp"]) - int(claims["iat"]) > MAX_JWT_LIFETIME_SECONDS:
            return _error(401, "'Expiration time' claim ('exp') is too far in the future", DOCS_JWT)
        return app_id

    def _app_of(self, issuer: object) -> int:
        """The App a JWT's ``iss`` names: its id (a number or its digits) or its client id."""
        text = str(issuer)
        if text.isdigit():
            return int(text)
        for app_id in self.apps:
            if client_id_of(app_id) == text:
                return app_id
        raise KeyError(text)

    def suspend(self, installation_id: int) -> None:
        """Refuse tokens to an installation from now on, as GitHub does once its account suspends it."""
        with self._lock:
            self._suspended.add(installation_id)

    def lookup(self, token: str) -> tuple[Issued | None, str | None]:
        """``(issued, refusal)`` for a token the fake minted (refusal: ``expired_token``, ``revoked_token``,
        ``replication_lag`` or None when valid); ``(None, None)`` for any other token."""
        with self._lock:
            issued = self._issued.get(token)
            revoked = token in self._revoked
        if issued is None:
            return None, None
        if revoked:
            return issued, "revoked_token"
        now = self._clock()
        if now < issued.issued_at + self.replication_lag_s:
            return issued, "replication_lag"
        return issued, "expired_token" if now >= issued.expires_at else None

    def revoke(self, token: str) -> None:
        """Refuse a minted token from now on, as GitHub does once an installation token is revoked."""
        with self._lock:
            self._revoked.add(token)

    def issued_tokens(self) -> list[str]:
        """Every token minted so far (for leak checks; the request log holds only fingerprints)."""
        with self._lock:
            return list(self._issued)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, message: str, documentation_url: str) -> Exchange:
    return Exchange(status, {"message": message, "documentation_url": documentation_url})
