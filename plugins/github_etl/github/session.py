"""The HTTP session every request to GitHub goes through, and what a refused certificate means.

A GitHub Enterprise Server usually presents a certificate of the company's own CA. ``requests`` trusts
what ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``) names and goes through ``HTTPS_PROXY`` unless
``NO_PROXY`` says otherwise; unlike OpenSSL, curl and most other clients it ignores ``SSL_CERT_FILE``
and ``SSL_CERT_DIR``, which users of those set instead: the session honours them too. The token is the
connection's, never a ``~/.netrc`` entry's.

A proxy's faults are told apart from GitHub's: a 407 (the proxy wants other credentials) is final, a proxy
down or refusing a tunnel is retried like an outage, and both name the proxy and its variable, with the
password of its URL replaced by ``***``.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Iterator
from urllib.parse import unquote

import requests
import urllib3.exceptions

from github_etl.errors import ConfigurationError, ProxyAuthenticationError, UntrustedCertificateError

# Bytes asked of the socket at a time; read1 returns what has arrived, up to this, without waiting for more.
_READ_SIZE = 256 * 1024
# What sending a request and reading its answer raise when the network or the answer fails, not the request:
# each is worth another try.
TRANSPORT_FAULTS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
# What requests itself reads, in its order; when one is set, it decides.
REQUESTS_CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
OPENSSL_CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR")


class _HeadersOnly(requests.auth.AuthBase):
    """Leaves each request's own ``Authorization`` header alone.

    A session that trusts the environment otherwise puts the ``~/.netrc`` entry of the host in its place:
    git users keep their GitHub Enterprise password there, and the connection's token would go unsent.
    """

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class _TokenSession(requests.Session):
    """A session whose redirects keep the token on GitHub's host and drop it elsewhere, and never take a
    ``~/.netrc`` entry in its place: ``requests`` reads one on every redirect (a renamed repository's 301)."""

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        if "Authorization" in prepared_request.headers and self.should_strip_auth(
            response.request.url, prepared_request.url
        ):
            del prepared_request.headers["Authorization"]


def new_session() -> requests.Session:
    """A session that takes proxies and trusted CAs from the environment, as ``requests`` users expect."""
    session = _TokenSession()
    session.trust_env = True
    session.auth = _HeadersOnly()
    if not any(os.environ.get(name) for name in REQUESTS_CA_VARIABLES):
        for name in OPENSSL_CA_VARIABLES:
            if path := os.environ.get(name, "").strip():
                session.verify = path
                break
    return session


class SlowAnswerError(requests.Timeout):
    """An answer whose body was still coming in at the deadline for the whole answer."""


def read_body(response: requests.Response, started: float, allowed: float) -> bytes:
    """The whole body of a streamed ``response`` sent at ``started`` (``time.monotonic()``), within ``allowed`` s.

    A read timeout bounds each wait for bytes, not the answer: a link or a proxy that delivers a few bytes
    within every timeout would hold the worker for hours. A truncated transfer raises, as ``requests`` does.
    """
    body = bytearray()
    try:
        while chunk := response.raw.read1(_READ_SIZE, decode_content=True):
            body += chunk
            if time.monotonic() - started > allowed:
                response.close()
                raise SlowAnswerError(
                    f"the answer took longer than {allowed:g} s: {len(body):,} bytes had come in, and more were coming"
                )
    # The errors requests raises when it reads a body itself, so callers tell faults apart the same way.
    except urllib3.exceptions.ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.ConnectionError(exc) from exc
    except urllib3.exceptions.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc
    return bytes(body)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every error inside it."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        # requests wraps urllib3's MaxRetryError, whose reason wraps the ssl module's or the proxy's error.
        inner = (error.__cause__, error.__context__, getattr(error, "reason", None), *error.args)
        pending.extend(cause for cause in inner if isinstance(cause, BaseException))


def untrusted_certificate(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure inside a ``requests`` error, or None when it is another fault."""
    return next((error for error in _causes(exc) if isinstance(error, ssl.SSLCertVerificationError)), None)


def proxy_of(url: str) -> str | None:
    """The proxy requests goes through for ``url`` (NO_PROXY honoured), as ``the proxy URL (VARIABLE)`` with
    the password replaced by ``***``; None when the request goes direct."""
    found = _proxy_for(url)
    return f"the proxy {found[0]} ({found[1]})" if found else None


def _proxy_for(url: str) -> tuple[str, str] | None:
    """The proxy for ``url`` as shown in a log, and the variable naming it; None when the request goes direct."""
    proxy = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
    if not proxy:
        return None
    scheme = requests.utils.urlparse(url).scheme.lower()
    # urllib reads each *_proxy variable in either case, the lower-case one winning.
    names = [name for name, value in os.environ.items() if value == proxy]
    names = sorted((name for name in names if name.lower() in (f"{scheme}_proxy", "all_proxy")), key=str.isupper)
    return shown_proxy(proxy), (names[0] if names else f"{scheme.upper()}_PROXY")


def shown_proxy(proxy: str) -> str:
    """A proxy URL fit for a log: its password (or a lone user part, which may be a token) as ``***``."""
    scheme, separator, rest = proxy.partition("://")
    if not separator:
        scheme, rest = "http", proxy
    netloc = rest.split("/", 1)[0]
    userinfo, at, hostport = netloc.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if colon else f"***@{hostport}"
    return f"{scheme}://{netloc}"


def proxy_passwords() -> set[str]:
    """The passwords of the proxy URLs the environment names, as written and percent-decoded, for masking."""
    found: set[str] = set()
    for name, value in os.environ.items():
        if not name.lower().endswith("_proxy") or name.lower() == "no_proxy":
            continue
        # requests takes a proxy without a scheme (user:password@proxy:3128) as http://.
        address = value.partition("://")[2] if "://" in value else value
        userinfo, at, _ = address.split("/", 1)[0].rpartition("@")
        secret = userinfo.partition(":")[2] if ":" in userinfo else userinfo
        if at and secret:
            found |= {secret, unquote(secret)}
    return found


def proxy_refusal(exc: BaseException, url: str) -> ProxyAuthenticationError | None:
    """A final error naming the proxy when it refused the tunnel with 407; None for any other fault."""
    for error in _causes(exc):
        # http.client's words when a CONNECT is answered with anything but 200.
        if not isinstance(error, requests.RequestException) and str(error).startswith("Tunnel connection failed: 407"):
            return proxy_authentication_error(url, str(error).removeprefix("Tunnel connection failed: "))
    return None


def proxy_authentication_error(url: str, answer: str) -> ProxyAuthenticationError:
    """The proxy answered ``answer`` (a 407): the credentials in its URL are missing or refused."""
    parts = requests.utils.urlparse(url)
    if found := _proxy_for(url):
        proxy, variable = f"The proxy {found[0]} ({found[1]})", found[1]
    else:
        # A proxy no variable names (a transparent one) asks all the same; only a variable can answer it.
        proxy, variable = "A proxy none of the *_PROXY variables names", f"{parts.scheme.upper()}_PROXY"
    return ProxyAuthenticationError(
        f"{proxy} answered {answer} on the way to {parts.hostname}: it wants credentials its URL lacks, or "
        f"other ones. Put the proxy's user and password in {variable} wherever the tasks run, as "
        "http://USER:PASSWORD@PROXY:PORT (characters such as @ : / # percent-encoded), or add the host to "
        "NO_PROXY if it is reached directly. Retrying cannot fix this.",
        status=407,
        url=url,
    )


def through_proxy(exc: BaseException, url: str) -> str | None:
    """``the proxy URL (VARIABLE)`` when ``exc`` is the proxy's fault (down, or refusing the tunnel); else None."""
    if not any(isinstance(error, requests.exceptions.ProxyError) for error in _causes(exc)):
        return None
    return proxy_of(url) or "the proxy"


def missing_ca_error(exc: BaseException) -> ConfigurationError | None:
    """A final error naming the variable whose CA file does not exist, for the error requests raises then; else None.

    requests raises a bare ``OSError`` for it (not one of its own errors), which would be retried as an
    unknown fault although only the variable or the mount can change it.
    """
    if isinstance(exc, requests.RequestException) or "TLS CA certificate bundle" not in str(exc):
        return None
    where = _ca_setting() or "the CA bundle requests uses"
    return ConfigurationError(
        f"{where} names no CA file or folder that exists here ({exc}). Mount the company CA's PEM file wherever "
        "the tasks run and point the variable at it."
    )


# What the ssl module says of a CA file it cannot load certificates from (empty, DER, another secret mounted).
_CA_FILE_UNUSABLE = frozenset({"NO_CERTIFICATE_OR_CRL_FOUND", "PEM_LIB"})


def unusable_ca_error(exc: BaseException) -> ConfigurationError | None:
    """A final error naming the variable whose CA file holds no certificate; else None.

    requests raises an ``SSLError`` for it, which reads like a network fault and would be retried.
    """
    for error in _causes(exc):
        if isinstance(error, ssl.SSLError) and getattr(error, "reason", None) in _CA_FILE_UNUSABLE:
            where = _ca_setting() or "the CA bundle requests uses"
            return ConfigurationError(
                f"{where} names a file that holds no CA certificate Python can read ({error}). It must be the "
                "company CA's certificate in PEM form (-----BEGIN CERTIFICATE-----), mounted wherever the tasks run."
            )
    return None


def certificate_error(exc: BaseException, url: str) -> ConfigurationError | None:
    """A final error naming the host whose certificate was refused, or the CA file that cannot be read, and the
    fix; None for other faults."""
    if unusable := unusable_ca_error(exc):
        return unusable
    refused = untrusted_certificate(exc)
    if refused is None:
        return None
    parts = requests.utils.urlparse(url)
    host = f"{parts.scheme}://{parts.netloc}"
    trusted = _ca_setting() or "the default CA bundle"
    reason = refused.verify_message or str(refused)
    inspected = ""
    if proxy := proxy_of(url):
        inspected = (
            f" Requests to it go through {proxy}: a proxy that inspects TLS presents certificates of its own "
            "CA, which needs trusting too (one PEM file may hold both CAs)."
        )
    return UntrustedCertificateError(
        f"The TLS certificate of {host} is not trusted here ({reason}; trusting {trusted}). A GitHub Enterprise "
        "Server with a certificate of your company's own CA needs that CA: set REQUESTS_CA_BUNDLE (or "
        f"SSL_CERT_FILE) to its PEM file wherever the tasks run.{inspected} Retrying cannot fix this.",
        url=url,
    )


def _ca_setting() -> str | None:
    """The variable that decides what the session trusts, as ``NAME=value``; None when none is set."""
    for name in (*REQUESTS_CA_VARIABLES, *OPENSSL_CA_VARIABLES):
        if value := os.environ.get(name, "").strip():
            return f"{name}={value}"
    return None
