"""Logging in as a GitHub App installation: a signed JWT exchanged for short-lived installation tokens.

The App's private key signs a JWT (RS256, valid for a few minutes) that
``POST /app/installations/{id}/access_tokens`` exchanges for an installation token, which expires an
hour later. :class:`InstallationCredential` is one installation seen as a token by the client's pool:
its budget is the installation's (a fingerprint that survives renewals) and its secret is always a
token with time to spare, minted again before the last one expires. Nothing carries a token across a
deferral: the resumed task builds a new client, which takes a token with that margin left.

Installation tokens live in memory. With a shared store (Redis), the first worker to mint one offers
it to the others until it nears expiry, encrypted with a key derived from the App's private key: what
Redis holds is useless to anyone who could not mint a token anyway.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from github_etl.errors import (
    BadCredentialsError,
    ConfigurationError,
    GitHubError,
    GitHubUnavailableError,
    RateLimitWaitTooLong,
)
from github_etl.github.ratelimit import believable_reset, spent_until
from github_etl.github.responses import Outcome, classify, message_of, retry_after_seconds
from github_etl.github.session import (
    TRANSPORT_FAULTS,
    certificate_error,
    missing_ca_error,
    new_session,
    proxy_authentication_error,
    proxy_refusal,
    read_body,
    through_proxy,
)

if TYPE_CHECKING:
    from github_etl.github.ratelimit import BudgetStore
    from github_etl.settings import ClientSettings

log = logging.getLogger(__name__)

# GitHub refuses a JWT valid for more than ten minutes; nine leave room for a clock running fast.
JWT_LIFETIME_SECONDS = 540
# Issued a minute in the past, as GitHub advises, so a worker whose clock runs slow is not refused.
JWT_BACKDATE_SECONDS = 60
# A token is renewed this long before it expires, so no request (or its retries) outlives it.
RENEW_BEFORE_SECONDS = 300.0
# ... or, for tokens that live only minutes (tests), when a quarter of their life is left.
RENEW_AT_LIFE_SHARE = 0.25
# GitHub's replicas learn of a new installation token within about a second and answer 401 until
# then; a token younger than this is waited for before it is taken for refused (octokit allows 5 s too).
REPLICATION_LAG_SECONDS = 5.0
# A JWT is issued a minute back and lives nine: a clock this far from GitHub's is worth naming in an error.
CLOCK_SKEW_WORTH_TELLING_SECONDS = 30
# GitHub's largest page: an App installed on more accounts than this is looked up over several pages.
INSTALLATIONS_PER_PAGE = 100
# What a refused JWT means, whichever request GitHub refused it on.
JWT_REFUSED_HINT = (
    "Check the App id and that the private key is the App's current one; a clock far off also makes GitHub refuse it."
)
_KEY_INFO = b"github-etl installation token cache"
_PEM_START = "-----BEGIN"


@dataclass(frozen=True)
class GitHubApp:
    """A GitHub App as a connection describes it; the private key never shows in ``repr``.

    :param app_id: the App's id (or client id), the JWT's issuer.
    :param installation_ids: the installations whose tokens the run may use; each is its own budget.
        None named: the App's one installation, looked up (:func:`find_installation`).
    :param private_key: the App's private key, PEM text.
    """

    app_id: str
    installation_ids: tuple[int, ...]
    private_key: str = field(repr=False)

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], conn_id: str) -> GitHubApp | None:
        """The App of a connection's extra (``app_id``/``client_id``, ``installation_id(s)``, ``private_key``), or None.

        :raises ConfigurationError: when a field is missing or malformed (naming the connection, never the key).
        """
        # GitHub's settings page shows both; it now recommends the client id as the JWT's issuer.
        app_id = extra.get("app_id") or extra.get("client_id")
        if app_id in (None, ""):
            if any(
                extra.get(name) for name in ("installation_id", "installation_ids", "private_key", "private_key_path")
            ):
                raise ConfigurationError(
                    f"Connection '{conn_id}': a GitHub App needs 'app_id' in the extra (its client id or App id)"
                )
            return None
        prefix = f"Connection '{conn_id}' (GitHub App {app_id})"
        installation_ids = _installation_ids(extra, prefix)
        return cls(str(app_id).strip(), installation_ids, _private_key(extra, prefix))

    def signing_key(self) -> Any:
        """The private key loaded for signing; refuses anything but an RSA key."""
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            key = load_pem_private_key(self.private_key.encode(), password=None)
        except (ValueError, TypeError):
            raise ConfigurationError(
                f"GitHub App {self.app_id}: the private key is not an unencrypted PEM key "
                "(download it from the App's settings page, 'Generate a private key')"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigurationError(f"GitHub App {self.app_id}: the private key is not an RSA key")
        return key

    def jwt(self, now: float) -> str:
        """A JWT that authenticates as the App for a few minutes."""
        import jwt

        issued = int(now) - JWT_BACKDATE_SECONDS
        claims = {"iat": issued, "exp": issued + JWT_LIFETIME_SECONDS, "iss": self.app_id}
        return jwt.encode(claims, self.signing_key(), algorithm="RS256")

    def cache_cipher(self) -> Any:
        """Encrypts installation tokens shared through a store, with a key only the private key yields."""
        from cryptography.fernet import Fernet
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(
            self.private_key.strip().encode()
        )
        return Fernet(base64.urlsafe_b64encode(derived))


class InstallationCredential:
    """One App installation as a pool credential: a stable budget name and a fresh token on demand.

    :param base_url: the API root the tokens are minted at and used for.
    :param app: the App.
    :param installation_id: the installation.
    :param settings: timeouts and retries of the exchange.
    :param store: a shared budget store also shares minted tokens; the in-process one shares none.
    :param on_mint: called with every token obtained (the hook registers it with the secrets masker).
    :param clock: epoch seconds.
    """

    def __init__(
        self,
        base_url: str,
        app: GitHubApp,
        installation_id: int,
        *,
        settings: ClientSettings,
        store: BudgetStore | None = None,
        on_mint: Callable[[str], None] = lambda _: None,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app = app
        self.installation_id = installation_id
        self._settings = settings
        self._store = store
        self._on_mint = on_mint
        self._clock = clock
        self._session = session or new_session()
        self._lock = threading.Lock()
        self._token: str | None = None
        # The last token GitHub refused: never taken back from the shared store.
        self._refused_token: str | None = None
        self._renew_at = 0.0
        self._minted_at = 0.0
        # Set once GitHub answered a request with the current token other than 401: it knows the token.
        self.known = False
        self._cipher = app.cache_cipher()
        name = f"{self.base_url}|app:{app.app_id}|installation:{installation_id}"
        # The installation's budget outlives each token, so it is keyed by the installation, not the token.
        self.fingerprint = hashlib.sha256(name.encode()).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"InstallationCredential(app={self.app.app_id}, installation={self.installation_id})"

    __str__ = __repr__

    @property
    def secret(self) -> str:
        """An installation token that has at least its renewal margin left (minted or taken from the store)."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._refresh()
            assert self._token is not None
            return self._token

    def fresh_for(self) -> float:
        """Seconds GitHub may still be learning of the current token (0: it knows it, or it is older)."""
        with self._lock:
            if self._token is None or self.known:
                return 0.0
            return max(0.0, self._minted_at + REPLICATION_LAG_SECONDS - self._clock())

    def invalidate(self) -> None:
        """Forget the token (GitHub refused it): the next :attr:`secret` mints another, even while the shared store
        still offers the refused one (revoked, say), which it then stops sharing."""
        with self._lock:
            self._refused_token, self._token = self._token, None
            self._renew_at = 0.0

    def _refresh(self) -> None:
        shared = self._from_store()
        if shared is None:
            token, expires_at, lifetime = self._mint()
            renew_at = _renew_at(expires_at, lifetime)
            if self._store is not None:
                offered = self._seal(token, expires_at, lifetime)
                chosen = self._store.share_secret(self.fingerprint, offered, renew_at)
                if chosen != offered:
                    # Another worker's token won the race: use it, so every worker spends one token.
                    shared = self._open(chosen)
            if shared is None:
                shared = (token, expires_at, lifetime)
        token, expires_at, lifetime = shared
        self._on_mint(token)
        self._token = token
        self._renew_at = _renew_at(expires_at, lifetime)
        self._minted_at = expires_at - lifetime
        self.known = False

    def _from_store(self) -> tuple[str, float, float] | None:
        if self._store is None:
            return None
        sealed = self._store.load_secret(self.fingerprint)
        if sealed is None:
            return None
        opened = self._open(sealed)
        if opened is not None and opened[0] == self._refused_token:
            self._store.forget_secret(self.fingerprint, sealed)
            return None
        if opened is None or self._clock() >= _renew_at(opened[1], opened[2]):
            return None
        return opened

    def _seal(self, token: str, expires_at: float, lifetime: float) -> str:
        payload = json.dumps({"token": token, "expires_at": expires_at, "lifetime": lifetime})
        return self._cipher.encrypt(payload.encode()).decode()

    def _open(self, sealed: str) -> tuple[str, float, float] | None:
        from cryptography.fernet import InvalidToken

        try:
            payload = json.loads(self._cipher.decrypt(sealed.encode()))
            return str(payload["token"]), float(payload["expires_at"]), float(payload["lifetime"])
        except (InvalidToken, ValueError, KeyError, TypeError):
            # Sealed with another key (the App's key was rotated): mint a token of our own.
            return None

    def _mint(self) -> tuple[str, float, float]:
        """Exchange a JWT for an installation token: ``(token, expires_at, lifetime)``; transient faults retried."""
        url = f"{self.base_url}/app/installations/{self.installation_id}/access_tokens"
        what = f"mint a token for App {self.app.app_id} installation {self.installation_id}"
        response, body, sent_at = _jwt_call(
            self._session, "POST", url, self.app, self._settings, self._clock, what=what
        )
        if response.status_code in (200, 201) and isinstance(body, dict) and body.get("token"):
            expires_at = _epoch(str(body.get("expires_at") or ""))
            log.info(
                "Minted a token for GitHub App %s installation %s, valid until %s",
                self.app.app_id,
                self.installation_id,
                body.get("expires_at"),
            )
            return str(body["token"]), expires_at, max(0.0, expires_at - sent_at)
        raise self._refused(response.status_code, message_of(body), _clock_hint(response, sent_at))

    def _refused(self, status: int, message: str, clock_hint: str = "") -> GitHubError:
        where = f"GitHub App {self.app.app_id}, installation {self.installation_id}"
        if status == 404:
            return BadCredentialsError(
                f"{where}: GitHub knows no such installation of this App ({status} {message}). "
                "Check the installation id in the connection (the number in the installation's settings URL).",
                status=status,
            )
        if status == 403:
            # The JWT checked out: the installation itself is refused (its account suspended the App).
            return BadCredentialsError(
                f"{where}: GitHub refuses tokens for this installation ({status} {message}). An owner of "
                "the account it is installed on can unsuspend it (Settings → GitHub Apps → Configure), "
                "or leave it out of the connection's installation ids.",
                status=status,
            )
        return BadCredentialsError(
            f"{where}: GitHub refused the App's JWT ({status} {message}). {JWT_REFUSED_HINT}{clock_hint}",
            status=status,
        )


def app_credentials(
    base_url: str,
    app: GitHubApp,
    *,
    settings: ClientSettings,
    store: BudgetStore | None,
    on_mint: Callable[[str], None],
) -> list[InstallationCredential]:
    """One credential per installation of ``app`` (looked up when none is named), sharing one HTTP session."""
    app.signing_key()  # a key that cannot sign fails here, before any request
    session = new_session()
    installation_ids = app.installation_ids or find_installation(base_url, app, settings=settings, session=session)
    return [
        InstallationCredential(
            base_url, app, installation_id, settings=settings, store=store, on_mint=on_mint, session=session
        )
        for installation_id in installation_ids
    ]


def find_installation(
    base_url: str,
    app: GitHubApp,
    *,
    settings: ClientSettings,
    session: requests.Session,
    clock: Callable[[], float] = time.time,
) -> tuple[int]:
    """The App's one installation that is not suspended (``GET /app/installations``), for a connection naming none.

    :raises ConfigurationError: when the App is installed nowhere, or on several accounts (naming them).
    """
    url: str | None = f"{base_url.rstrip('/')}/app/installations?per_page={INSTALLATIONS_PER_PAGE}"
    installations: list[dict[str, Any]] = []
    while url:
        response, body, sent_at = _jwt_call(
            session, "GET", url, app, settings, clock, what=f"list App {app.app_id}'s installations"
        )
        if response.status_code != 200 or not isinstance(body, list):
            raise BadCredentialsError(
                f"GitHub App {app.app_id}: GitHub refused the App's JWT listing its installations "
                f"({response.status_code} {message_of(body)}). {JWT_REFUSED_HINT}{_clock_hint(response, sent_at)}",
                status=response.status_code,
            )
        installations += [i for i in body if isinstance(i, dict) and isinstance(i.get("id"), int)]
        url = response.links.get("next", {}).get("url")
        if url and urlsplit(url)[:2] != urlsplit(base_url)[:2]:
            # Every page is asked with the App's JWT, which goes to GitHub's API host only.
            raise GitHubError(
                f"Refusing to follow {url[:200]!r} for App {app.app_id}'s installations: not on {base_url}"
            )
    usable = [i for i in installations if not i.get("suspended_at")]
    named = ", ".join(f"{_account_of(i)} ({i['id']})" for i in installations)
    if len(usable) == 1:
        log.info("GitHub App %s is installed on %s: using installation %s", app.app_id, named, usable[0]["id"])
        return (int(usable[0]["id"]),)
    prefix = f"GitHub App {app.app_id}"
    if not installations:
        raise ConfigurationError(
            f"{prefix} is installed on no account: install it on one (the App's settings page, "
            "'Install App'); its budget is the one the runs use"
        )
    if not usable:
        raise ConfigurationError(
            f"{prefix}: every installation is suspended ({named}); an owner of its account can unsuspend it"
        )
    raise ConfigurationError(
        f"{prefix} is installed on several accounts: {named}. Set 'installation_ids' in the connection's "
        "extra to those whose budgets the runs may use"
    )


def _clock_hint(response: requests.Response, sent_at: float) -> str:
    """How far this machine's clock is from GitHub's (its ``Date`` header), when far enough to matter."""
    try:
        skew = sent_at - parsedate_to_datetime(response.headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return ""
    if abs(skew) < CLOCK_SKEW_WORTH_TELLING_SECONDS:
        return ""
    return f" This machine's clock is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} GitHub's: set it right."


def _account_of(installation: Mapping[str, Any]) -> str:
    account = installation.get("account")
    login = account.get("login") if isinstance(account, Mapping) else None
    suspended = " suspended" if installation.get("suspended_at") else ""
    return f"{login or '?'}{suspended}"


def _jwt_call(
    session: requests.Session,
    method: str,
    url: str,
    app: GitHubApp,
    settings: ClientSettings,
    clock: Callable[[], float],
    *,
    what: str,
) -> tuple[requests.Response, Any, float]:
    """A request authenticated as the App: ``(response, parsed body, when it was sent)``; transient faults retried."""
    failures = limited = 0
    while True:
        now = clock()
        started = time.monotonic()
        try:
            response = session.request(
                method,
                url,
                headers={
                    "Accept": "application/vnd.github+json",
                    "Authorization": f"Bearer {app.jwt(now)}",
                    "User-Agent": settings.user_agent,
                },
                timeout=(settings.connect_timeout, settings.read_timeout),
                stream=True,
            )
            content = read_body(response, started, settings.answer_deadline)
            body = json.loads(content) if content else None
        except (*TRANSPORT_FAULTS, ValueError) as exc:
            if untrusted := certificate_error(exc, url):
                raise untrusted from exc
            if refused_by_proxy := proxy_refusal(exc, url):
                raise refused_by_proxy from exc
            failures += 1
            proxy = through_proxy(exc, url)
            _after_failure(url, settings, failures, type(exc).__name__ + (f" from {proxy}" if proxy else ""), what)
            continue
        except OSError as exc:
            if missing := missing_ca_error(exc):
                raise missing from exc
            raise
        if response.status_code == 407:
            # A proxy's answer to a plain-http request (an https one is refused in the tunnel, above).
            raise proxy_authentication_error(url, "407 Proxy Authentication Required")
        if response.status_code >= 500:
            failures += 1
            _after_failure(url, settings, failures, f"HTTP {response.status_code}", what)
            continue
        if classify(response.status_code, response.headers, body) in (Outcome.SECONDARY_LIMIT, Outcome.PRIMARY_LIMIT):
            # A 403 or 429 that asks to slow down, not a refusal of the App: waited out, as any request's.
            limited += 1
            _after_limit(response, body, settings, limited, now, what)
            continue
        return response, body, now


def _after_limit(
    response: requests.Response, body: Any, settings: ClientSettings, hits: int, now: float, what: str
) -> None:
    if hits > settings.secondary_max_tries:
        raise GitHubError(
            f"GitHub kept answering with its rate limit when asked to {what}, after "
            f"{settings.secondary_max_tries} waits: {message_of(body)}",
            status=response.status_code,
        )
    outcome = classify(response.status_code, response.headers, body)
    retry_after = retry_after_seconds(response.headers.get("retry-after"), now)
    if retry_after is not None:
        until = believable_reset(now + retry_after, now)
    elif outcome is Outcome.PRIMARY_LIMIT:
        reset = response.headers.get("x-ratelimit-reset", "").strip()
        until = spent_until(float(reset) if reset.isdigit() else None, now)
    else:
        until = now + settings.secondary_min_wait * 2 ** (hits - 1) + random.uniform(0, settings.secondary_min_wait)
    wait = max(0.0, until - now)
    if wait > settings.max_inline_wait:
        raise RateLimitWaitTooLong(datetime.fromtimestamp(now + wait, tz=UTC), "GitHub App token")
    log.warning("GitHub rate-limited the request to %s (%s); retry in %.1f s", what, message_of(body), wait)
    time.sleep(wait)


def _after_failure(url: str, settings: ClientSettings, failures: int, why: str, what: str) -> None:
    if failures > settings.max_retries:
        root = url.split("/app/", 1)[0]
        raise GitHubUnavailableError(f"GitHub at {root} did not {what} after {settings.max_retries} retries ({why})")
    ceiling = min(settings.backoff_max, settings.backoff_base * 2 ** (failures - 1))
    wait = random.uniform(ceiling / 2, ceiling)
    log.warning("GitHub did not %s (%s); retry %s in %.1f s", what, why, failures, wait)
    time.sleep(wait)


def _renew_at(expires_at: float, lifetime: float) -> float:
    return expires_at - min(RENEW_BEFORE_SECONDS, lifetime * RENEW_AT_LIFE_SHARE)


def _epoch(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise GitHubError(f"GitHub answered an installation token without a readable expiry ({iso!r})") from None


def _installation_ids(extra: Mapping[str, Any], prefix: str) -> tuple[int, ...]:
    # Both fields count: one left behind when the other was added still names an installation to use.
    values: list[Any] = []
    for name in ("installation_id", "installation_ids"):
        raw = extra.get(name)
        if isinstance(raw, str):
            values += raw.replace(",", " ").split()
        elif isinstance(raw, list):
            values += raw
        elif raw is not None:
            values.append(raw)
    if not values:
        return ()  # looked up: the App's one installation
    try:
        ids = tuple(dict.fromkeys(_numeric_id(v) for v in values))
    except ValueError:
        ids = ()
    if not ids or any(i <= 0 for i in ids):
        raise ConfigurationError(
            f"{prefix}: 'installation_id' (or 'installation_ids', a list) must name the App's installation(s) "
            "by their numeric id"
        )
    return ids


def _numeric_id(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ValueError(value)


def _private_key(extra: Mapping[str, Any], prefix: str) -> str:
    text = extra.get("private_key")
    path = extra.get("private_key_path")
    if text and path:
        raise ConfigurationError(f"{prefix}: give 'private_key' (PEM text) or 'private_key_path', not both")
    if path:
        # A path pasted from a terminal may carry the copy's spaces or line end.
        path = str(path).strip()
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"{prefix}: cannot read 'private_key_path' {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            # A key converted to DER, or a .pem saved again as UTF-16 (PowerShell 5's redirection does that).
            raise ConfigurationError(
                f"{prefix}: 'private_key_path' {path} is not PEM text: give the .pem file GitHub downloaded, "
                "as ASCII (UTF-8)"
            ) from None
    if not text or _PEM_START not in str(text):
        raise ConfigurationError(
            f"{prefix}: 'private_key' must hold the App's private key as PEM text (-----BEGIN ... KEY-----), "
            "or 'private_key_path' the path of the .pem file"
        )
    # A key pasted into a one-line field arrives with literal "\n"s ("\r\n"s from a Windows file).
    return str(text).replace("\\r", "").replace("\\n", "\n").strip() + "\n"
