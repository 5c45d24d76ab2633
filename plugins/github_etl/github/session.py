"""The HTTP session every request to GitHub goes through, and what a refused certificate means.

A GitHub Enterprise Server usually presents a certificate of the company's own CA. ``requests`` trusts
what ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``) names and goes through ``HTTPS_PROXY`` unless
``NO_PROXY`` says otherwise; unlike OpenSSL, curl and most other clients it ignores ``SSL_CERT_FILE``
and ``SSL_CERT_DIR``, which users of those set instead: the session honours them too. The token is the
connection's, never a ``~/.netrc`` entry's.
"""

from __future__ import annotations

import os
import ssl

import requests

from github_etl.errors import ConfigurationError, UntrustedCertificateError

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


def new_session() -> requests.Session:
    """A session that takes proxies and trusted CAs from the environment, as ``requests`` users expect."""
    session = requests.Session()
    session.trust_env = True
    session.auth = _HeadersOnly()
    if not any(os.environ.get(name) for name in REQUESTS_CA_VARIABLES):
        for name in OPENSSL_CA_VARIABLES:
            if path := os.environ.get(name, "").strip():
                session.verify = path
                break
    return session


def untrusted_certificate(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure inside a ``requests`` error, or None when it is another fault."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, ssl.SSLCertVerificationError):
            return error
        # requests wraps urllib3's MaxRetryError, whose reason wraps the ssl module's error.
        inner = (error.__cause__, error.__context__, getattr(error, "reason", None), *error.args)
        pending.extend(cause for cause in inner if isinstance(cause, BaseException))
    return None


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


def certificate_error(exc: BaseException, url: str) -> UntrustedCertificateError | None:
    """A final error naming the host whose certificate was refused, and the fix; None for other faults."""
    refused = untrusted_certificate(exc)
    if refused is None:
        return None
    parts = requests.utils.urlparse(url)
    host = f"{parts.scheme}://{parts.netloc}"
    trusted = _ca_setting() or "the default CA bundle"
    reason = refused.verify_message or str(refused)
    return UntrustedCertificateError(
        f"The TLS certificate of {host} is not trusted here ({reason}; trusting {trusted}). A GitHub Enterprise "
        "Server with a certificate of your company's own CA needs that CA: set REQUESTS_CA_BUNDLE (or "
        "SSL_CERT_FILE) to its PEM file wherever the tasks run. Retrying cannot fix this.",
        url=url,
    )


def _ca_setting() -> str | None:
    """The variable that decides what the session trusts, as ``NAME=value``; None when none is set."""
    for name in (*REQUESTS_CA_VARIABLES, *OPENSSL_CA_VARIABLES):
        if value := os.environ.get(name, "").strip():
            return f"{name}={value}"
    return None
