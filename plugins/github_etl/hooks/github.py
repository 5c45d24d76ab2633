"""Airflow hook for the GitHub REST and GraphQL APIs.

The connection (``github_default``) holds the API root in ``host`` and the token in ``password``:

- ``https://api.github.com`` (default), a GitHub Enterprise root ``https://HOST/api/v3`` (or just ``HOST``), or any
  GitHub-compatible server such as ``http://127.0.0.1:8765``;
- no password: unauthenticated requests (60 per hour); one token; or several tokens separated by
  commas or newlines (``extra: {"tokens": [...]}`` works too). Tokens of the *same user* share one
  budget on GitHub's side, so only tokens of different users (or apps) add quota.
- a GitHub App: ``extra: {"app_id": 123, "installation_id": 456, "private_key": "-----BEGIN ..."}``
  (``installation_ids: [456, 789]`` for several, none for the App's one installation, looked up;
  ``private_key_path`` for a .pem file instead of the text). The hook signs a JWT with the key and
  exchanges it for installation tokens, renewed before they expire; each installation is a budget of
  its own, used like one more token.

Without the connection, ``GITHUB_API_URL`` and ``GITHUB_TOKEN`` (comma-separated for several) are used.
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from github_etl.errors import ConfigurationError, GitHubError
from github_etl.hooks.env_connection import unreadable_connection, where_to_define
from github_etl.settings import DEFAULT_API_URL, GITHUB_CONN_ID, ClientSettings

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from github_etl.github.app_auth import GitHubApp, InstallationCredential
    from github_etl.github.client import GitHubClient
    from github_etl.github.ratelimit import BudgetStore

_TOKEN_SEPARATORS = re.compile(r"[\s,]+")
# Where a GitHub Enterprise Server serves its REST API (GraphQL: /api/graphql beside it).
ENTERPRISE_API_PATH = "/api/v3"


# The words that go before a token in an Authorization header (and the header's own name).
_AUTH_WORDS = frozenset(("bearer", "token", "authorization"))
_QUOTES = frozenset("\"'`\u201c\u201d\u2018\u2019")


def split_tokens(raw: str | None) -> list[str]:
    """Tokens from a password or env value holding one or several, separated by commas or whitespace."""
    return [t for t in _TOKEN_SEPARATORS.split(raw or "") if t]


def _tokens_of(raw: str | None, where: str) -> list[str]:
    """The tokens of a password or ``GITHUB_TOKEN``; a PEM key there is refused before its lines go out as tokens."""
    if "-----BEGIN" in (raw or ""):
        raise ConfigurationError(
            f"{where} holds a private key, not tokens. A GitHub App's key goes in the connection's extra, "
            "as 'private_key' (or the .pem file's path as 'private_key_path'), next to 'app_id'."
        )
    tokens = split_tokens(raw)
    # GitHub's docs show a token in its header ("Authorization: Bearer ghp_…"); copied with it, the word would go
    # to GitHub as a token of its own, and the 401 would name a token the user never set.
    scheme = next((word for word in tokens if word.rstrip(":").lower() in _AUTH_WORDS), None)
    if scheme is not None:
        raise ConfigurationError(
            f"{where} holds {scheme!r}, a word of the Authorization header, beside its token(s): write the token "
            "alone (several: separated by commas)."
        )
    # Quotes kept by an .env file or a secret written from a shell go to GitHub as part of the token.
    if any(token[0] in _QUOTES or token[-1] in _QUOTES for token in tokens):
        raise ConfigurationError(f"{where} holds a token in quotes, which GitHub would reject: write it without them.")
    # A token goes in an HTTP header, which takes printable ASCII alone; a zero-width space copied from a web page
    # or a byte-order mark an editor saved cannot be sent, and would fail every request as if the network had.
    for number, token in enumerate(tokens, start=1):
        if odd := next((char for char in token if not (char.isascii() and char.isprintable())), None):
            raise ConfigurationError(
                f"{where} holds a token with a character no token has, {_named(odd)}, at position "
                f"{token.index(odd) + 1} of token {number} of {len(tokens)} (often invisible, copied with it): "
                "type or paste the token again."
            )
    return tokens


def _named(char: str) -> str:
    import unicodedata

    return f"U+{ord(char):04X} {unicodedata.name(char, 'without a name')}"


# What Airflow's HttpHook reads from an http connection's extra to set up its session, and what sets the
# same here: the environment, which every request to GitHub (and S3's) follows.
_SESSION_OPTIONS = {
    "verify": "REQUESTS_CA_BUNDLE (or SSL_CERT_FILE) naming the CA's PEM file",
    "verify_ssl": "REQUESTS_CA_BUNDLE (or SSL_CERT_FILE) naming the CA's PEM file",
    "proxies": "HTTPS_PROXY (and NO_PROXY)",
    "proxy": "HTTPS_PROXY (and NO_PROXY)",
    "trust_env": "NO_PROXY naming the hosts to reach without the proxy",
}


def _refuse_session_options(extra: dict[str, Any], conn_id: str) -> None:
    """Refuse HttpHook's session options, which this hook would go on without (trusting or proxying otherwise).

    ``verify: true`` is the default and changes nothing. The values are never quoted: a proxy's holds its password.
    """
    for name, instead in _SESSION_OPTIONS.items():
        if name in extra and not (name in ("verify", "verify_ssl") and extra[name] is True):
            raise ConfigurationError(
                f"Connection '{conn_id}': the extra's '{name}' is not read (Airflow's HttpHook reads it, this hook "
                f"does not). Remove it and set {instead} in the environment wherever the tasks run."
            )


def base_url_of(conn: Connection) -> str:
    """Rebuild the API root from a connection, whichever way it was written (URI or JSON form)."""
    extra = conn.extra_dejson or {}
    if extra.get("base_url"):
        return api_root(str(extra["base_url"]))
    host = (conn.host or "").strip()
    if not host:
        # A connection that holds only the token: the root GITHUB_API_URL names (as on a GHES runner, which
        # sets it), so a GitHub Enterprise token is not sent to api.github.com.
        return api_root(os.environ.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL)
    if "://" in host:
        scheme, rest = host.rstrip("/").split("://", 1)
        netloc, _, path = rest.partition("/")
        return api_root(f"{scheme}://{_with_port(netloc, conn.port)}" + (f"/{path}" if path else ""))
    # A host without a scheme: the HTTP form's "Schema" field names the scheme (as for Airflow's HttpHook),
    # or the path of a URI form (https://host/api%2Fv3); otherwise https, since the token travels in a
    # header, except to this machine, where the fake GitHub and tunnels listen on plain http. A URI's
    # scheme is the connection's type, not a protocol: http://:token@ghe.example.com still means https.
    schema = (conn.schema or "").strip().strip("/")
    if schema.lower() in ("http", "https"):
        scheme, path = schema.lower(), ""
    else:
        loopback = _is_loopback(_host_name(host))
        scheme, path = ("http" if conn.conn_type == "http" and loopback else "https"), schema
    # The Host field may hold a path (ghe.corp/api/v3) or a port (ghe.corp:8443) besides the Port field's.
    netloc, _, host_path = host.rstrip("/").partition("/")
    path = "/".join(part for part in (host_path, path) if part)
    return api_root(f"{scheme}://{_with_port(netloc, conn.port)}" + (f"/{path}" if path else ""))


def _with_port(netloc: str, port: int | None) -> str:
    """The host with the Port field's port, unless the host names one already."""
    return f"{netloc}:{port}" if port and not re.search(r":\d+$", netloc) else netloc


def api_root(url: str) -> str:
    """The API root a user means by ``url``, in any form GitHub's own tools accept.

    ``https://ghe.corp``, ``ghe.corp`` and ``https://ghe.corp/api/v3/`` all mean a GitHub Enterprise Server's
    ``https://ghe.corp/api/v3`` (as for ``gh``'s ``GH_HOST``): at its root the appliance serves its web
    pages, which answer the API's paths with HTML. ``github.com`` and a GHE.com tenant (``corp.ghe.com``)
    serve their APIs at the root of their ``api.`` host; any ``api.`` host (a company proxy in front of
    api.github.com, say) is an API root as given, as is a root on this machine (the fake GitHub, a tunnel).
    A host without a scheme is https, but http for this machine. A GraphQL endpoint pasted for the root
    (``https://ghe.corp/api/graphql``, ``https://api.github.com/graphql``) names the root it sits beside.

    :raises ConfigurationError: the URL holds credentials (``user:token@host``); never quoted.
    """
    url = url.strip()
    if "://" not in url:
        url = f"{'http' if _is_loopback(_host_name(url)) else 'https'}://{url}"
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if "?" in rest or "#" in rest:
        # GitHub's old ?access_token= form: a root has neither, and this one would be shown wherever the root is.
        raise ConfigurationError(
            "The GitHub API URL holds a query string or fragment (?...), which an API root never has: put a token "
            "in the connection's password (or GITHUB_TOKEN), and the URL without it in its host"
        )
    netloc, _, path = rest.partition("/")
    path = path.strip("/")
    # The inverse of the client's graphql_url: GraphQL sits at /api/graphql beside /api/v3, else at the root's /graphql.
    if path == "api/graphql" or path.endswith("/api/graphql"):
        path = path.removesuffix("graphql") + "v3"
    elif path == "graphql" or path.endswith("/graphql"):
        path = path.removesuffix("graphql").rstrip("/")
    if "@" in netloc:
        # A token written as user:token@host would be sent to no one (requests takes the Authorization header
        # given) and shown wherever the root is: the task log, errors, the OpenLineage dataset's namespace.
        raise ConfigurationError(
            "The GitHub API URL holds credentials (user:token@host), which GitHub is never sent: put the token in "
            "the connection's password (or GITHUB_TOKEN), and the URL without them in its host"
        )
    host = netloc.lower().rsplit(":", 1)[0]
    if path or not host or _is_loopback(host):
        return f"{scheme}://{netloc}" + (f"/{path}" if path else "")
    if host.startswith("api."):
        return f"{scheme}://{netloc}"
    if host == "github.com" or host.endswith(".ghe.com"):
        return f"{scheme}://api.{netloc}"
    return f"{scheme}://{netloc}{ENTERPRISE_API_PATH}"


def _host_name(host: str) -> str:
    """The name a host's text gives, without its port or path: ``localhost:8765`` and ``[::1]:8765/x`` name
    ``localhost`` and ``[::1]``."""
    netloc = host.split("/", 1)[0]
    return netloc.split("]", 1)[0] + "]" if netloc.startswith("[") else netloc.rsplit(":", 1)[0]


def _is_loopback(host: str) -> bool:
    return host.lower() in ("localhost", "::1", "[::1]") or host.startswith("127.")


class GitHubHook(BaseHook):
    """Interact with GitHub's REST and GraphQL APIs through :class:`~github_etl.github.client.GitHubClient`.

    :param github_conn_id: Airflow connection holding the API root (host) and token(s) (password).
    :param settings: timeouts, retries and waits; read from the environment by default.
    :param budget_store: shared rate-limit state (e.g. Redis) so several workers respect one budget.
    """

    conn_name_attr = "github_conn_id"
    default_conn_name = GITHUB_CONN_ID
    # An HTTP connection (host = API root, password = token(s)): Airflow's form for it has every field
    # used here. A plugin cannot register a connection type of its own, and "github" is the official
    # GitHub provider's.
    conn_type = "http"
    hook_name = "GitHub API (github_etl)"

    def __init__(
        self,
        github_conn_id: str = default_conn_name,
        *,
        settings: ClientSettings | None = None,
        budget_store: BudgetStore | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.github_conn_id = github_conn_id
        # Set when github_conn_id is not defined and GITHUB_API_URL and GITHUB_TOKEN configure the client.
        self.from_environment = False
        self._settings = settings
        self._budget_store = budget_store

    def _connection_settings(self) -> tuple[str, list[str]]:
        return self._connection()[:2]

    def _connection(self) -> tuple[str, list[str], GitHubApp | None]:
        from github_etl.airflow_version import AirflowNotFoundException

        try:
            conn = self.get_connection(self.github_conn_id)
        except AirflowNotFoundException:
            unreadable = unreadable_connection(self.github_conn_id)
            if unreadable is not None:
                raise unreadable from None
            if self.github_conn_id != self.default_conn_name:
                raise ConfigurationError(
                    f"The GitHub connection '{self.github_conn_id}' is not defined. Define it "
                    f"({where_to_define(self.github_conn_id)}) or use '{self.default_conn_name}'."
                ) from None
            url = os.environ.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
            self.from_environment = True
            return api_root(url), _tokens_of(os.environ.get("GITHUB_TOKEN"), "GITHUB_TOKEN"), None
        from github_etl.github.app_auth import GitHubApp

        tokens = _tokens_of(conn.password, f"Connection '{self.github_conn_id}': the password")
        extra = conn.extra_dejson or {}
        _refuse_session_options(extra, self.github_conn_id)
        extra_tokens = extra.get("tokens") or []
        if not isinstance(extra_tokens, list) or not all(isinstance(t, str) for t in extra_tokens):
            raise ConfigurationError(f"Connection '{self.github_conn_id}': extra 'tokens' must be a list of strings")
        tokens += _tokens_of(",".join(extra_tokens), f"Connection '{self.github_conn_id}': extra 'tokens'")
        app = GitHubApp.from_extra(extra, self.github_conn_id)
        if conn.login and not tokens and app is None:
            # git's habit (https://TOKEN@github.com): the token lands in the login, which GitHub's API never reads.
            # Not quoted: it may be the token.
            raise ConfigurationError(
                f"Connection '{self.github_conn_id}' has a login and no password: its requests would go without a "
                "token (60 an hour). Put the token in the password, with no login (a URI's http://:TOKEN@HOST, or "
                'JSON\'s "password")'
            )
        return base_url_of(conn), tokens, app

    def api_base_url(self) -> str:
        """The API root this hook's connection resolves to (the connection, ``GITHUB_API_URL`` or GitHub's)."""
        return self._connection_settings()[0]

    def has_credentials(self) -> bool:
        """Whether the connection holds a token or a GitHub App (without, GitHub allows 60 requests an hour)."""
        _, tokens, app = self._connection()
        return bool(tokens) or app is not None

    def get_conn(self) -> GitHubClient:
        """The client, built once per hook; tokens are registered with the secrets masker first."""
        return self.client

    @cached_property
    def client(self) -> GitHubClient:
        from airflow.sdk.log import mask_secret

        from github_etl.github.app_auth import app_credentials
        from github_etl.github.client import GitHubClient
        from github_etl.github.ratelimit import Credential
        from github_etl.github.session import proxy_passwords
        from github_etl.github.shared_budget import budget_store_from_env

        base_url, tokens, app = self._connection()
        if not re.match(r"^https?://[^/\s]+", base_url):
            source = "GITHUB_API_URL" if self.from_environment else f"Connection '{self.github_conn_id}'"
            raise ConfigurationError(
                f"{source} has no usable API base URL ({base_url!r}); "
                f"expected e.g. {DEFAULT_API_URL} or https://HOST/api/v3"
            )
        for token in tokens:
            mask_secret(token)
        # The password of an HTTPS_PROXY URL is no connection's, so Airflow knows nothing to mask of it.
        for password in proxy_passwords():
            mask_secret(password)
        settings = self._settings or ClientSettings.from_env()
        # Workers share one budget per token when GITHUB_ETL_RATE_LIMIT_STORE names a Redis.
        store = self._budget_store if self._budget_store is not None else budget_store_from_env()
        credentials: list[str | Credential] = list(tokens)
        installations: list[InstallationCredential] = []
        if app is not None:
            mask_secret(app.private_key)
            # Minted tokens are masked as they arrive, so a log line that quotes one shows ***.
            installations = app_credentials(base_url, app, settings=settings, store=store, on_mint=mask_secret)
            credentials += installations
        self.log.info(
            "GitHub API at %s with %s token(s)%s%s, %s",
            base_url,
            len(tokens),
            f" and GitHub App {app.app_id} installation(s) {', '.join(str(i.installation_id) for i in installations)}"
            if app is not None
            else "",
            "" if credentials else " (unauthenticated: 60 requests/hour)",
            # A misspelt AIRFLOW_CONN_ variable ends here too: the id looked up is the setting to check.
            f"from GITHUB_API_URL and GITHUB_TOKEN: no Airflow connection '{self.github_conn_id}' is defined"
            if self.from_environment
            else f"from the Airflow connection '{self.github_conn_id}'",
        )
        conn_id = None if self.from_environment else self.github_conn_id
        return GitHubClient(base_url, credentials, settings=settings, conn_id=conn_id, budget_store=store)

    def test_connection(self) -> tuple[bool, str]:
        """Ask ``/rate_limit`` (free of charge) whether the URL and token work."""
        from github_etl.github.responses import message_of, rate_limiting_disabled, server_name

        try:
            response = self.client.get("/rate_limit", tolerate_gone=True)
        except (GitHubError, ConfigurationError) as exc:
            return False, str(exc)
        server = server_name(response.headers)
        if rate_limiting_disabled(response.status, response.data):
            # A GitHub Enterprise Server may run without rate limits: the token was accepted all the same.
            return True, f"Connected to {server} at {self.client.base_url}; rate limiting is not enabled on it"
        if response.status != 200:
            return False, f"{server} answered {response.status} to GET /rate_limit: {message_of(response.data)[:200]}"
        core = (response.data or {}).get("resources", {}).get("core", {})
        return True, f"Connected to {server}; core budget {core.get('remaining', '?')}/{core.get('limit', '?')}"
