"""Before ``make run``: can the GitHub API that ``github_default`` resolves to be reached at all?

Against a host that cannot be reached, a run retries each request with backoff and each task with
Airflow's retries, as it should in production: minutes pass before the error. ``make run`` asks once
first, with short timeouts. Any HTTP answer means reachable, even 401 or 503: the pipeline deals with
those and says what they mean. Only a failure to get an answer at all (name resolution, refused
connection, TLS, timeout) stops ``make run``, at once and saying why.

Run with the Airflow environment of ``tools.dev`` (it resolves the connection as the DAG's hook does).
"""

from __future__ import annotations

import sys

import requests

from tools.airflow_processes import see_stored_connections

# Seconds to connect and to get an answer; GitHub answers /rate_limit in well under a second.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 15.0


def unreachable_reason(base_url: str) -> str | None:
    """Why ``GET base_url/rate_limit`` got no HTTP answer, or None when it got one.

    :param base_url: API root, e.g. ``https://api.github.com``.
    """
    from github_etl.github.session import (
        certificate_error,
        missing_ca_error,
        new_session,
        proxy_authentication_error,
        proxy_of,
        proxy_refusal,
        through_proxy,
    )

    url = f"{base_url}/rate_limit"
    try:
        # /rate_limit costs no quota; no token is sent, none is needed to learn that the host answers.
        # The status line is the answer: the body is not read, so a body cut short (a transient fault
        # the run retries) does not read as an unreachable host. The session trusts and proxies as the run's.
        with (
            new_session() as session,
            session.get(url, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), stream=True) as response,
        ):
            if response.status_code == 407:
                # The proxy's answer to a plain-http request: GitHub was not asked, and the run would fail.
                return str(proxy_authentication_error(url, "407 Proxy Authentication Required"))
    except requests.Timeout:
        routed = f" (through {proxy})" if (proxy := proxy_of(url)) else ""
        return f"no answer within {CONNECT_TIMEOUT:g} s to connect or {READ_TIMEOUT:g} s to reply{routed}"
    except requests.RequestException as exc:
        if untrusted := certificate_error(exc, base_url):
            return str(untrusted)
        if refused := proxy_refusal(exc, url):
            return str(refused)
        # The innermost cause names what failed (name resolution, refused, certificate) without the noise.
        cause: BaseException = exc
        while cause.__cause__ is not None or cause.__context__ is not None:
            cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
        if proxy := through_proxy(exc, url):
            # A refused connection is the proxy's, not GitHub's: say whose.
            return f"{proxy} did not let the request through: {type(cause).__name__}: {cause}"
        return f"{type(cause).__name__}: {cause}"
    except OSError as exc:
        if (missing := missing_ca_error(exc)) is None:
            raise
        # A configuration error, which main() prints without a traceback.
        raise missing from exc
    return None


def main() -> int:
    """Exit 1 with a hint when GitHub cannot be reached; else print ``authenticated`` or ``anonymous``."""
    see_stored_connections()
    from github_etl.hooks.env_connection import backend_holding
    from github_etl.hooks.github import GitHubHook

    hook = GitHubHook()
    base_url = hook.api_base_url()
    reason = unreachable_reason(base_url)
    if reason is None:
        print("authenticated" if hook.has_credentials() else "anonymous")
        return 0
    # The fake accepts any token; with one, the run enriches through GraphQL and ends in seconds.
    fake = '{"conn_type": "http", "host": "http://127.0.0.1:8765", "password": "fake-token"}'
    if (place := backend_holding(hook.github_conn_id)) is not None:
        # Airflow reads the backend's entry before any variable: an AIRFLOW_CONN_GITHUB_DEFAULT would change nothing.
        point = f"  and make {hook.github_conn_id} in {place} {fake}\n"
    else:
        point = f"  export AIRFLOW_CONN_GITHUB_DEFAULT='{fake}'\n"
    print(
        f"GitHub at {base_url} cannot be reached from here ({reason}).\n"
        "`make run` harvests from that API: check the network or the proxy (HTTPS_PROXY), or point the "
        "connection elsewhere, e.g. at the project's fake GitHub, which accepts any token:\n"
        "  .venv/bin/python -m tests.fake_github --port 8765 &\n"
        f"{point}"
        "  make run",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    from github_etl.errors import ConfigurationError, SecretsBackendUnavailableError

    try:
        sys.exit(main())
    except (ConfigurationError, SecretsBackendUnavailableError) as exc:
        # A malformed connection (a GitHub App without its installation id): its message, no traceback.
        sys.exit(f"make: {exc}")
