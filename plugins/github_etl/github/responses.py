"""Classify GitHub's answers in one place: usable, tolerated, retriable or final."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

# Detail endpoints answer these for repositories that vanished since they were listed
# (deleted or made private, blocked for legal reasons); a harvest skips and counts them.
GONE_STATUSES = frozenset({404, 410, 451})
RETRIABLE_STATUSES = frozenset({500, 502, 503, 504})
# GitHub's message on a repository it disabled (403, a terms-of-service block) or took down (451, DMCA).
ACCESS_BLOCKED_MESSAGE = "repository access blocked"

# Why a repository is gone, as recorded in github.repositories.deleted_reason.
NOT_FOUND = "not_found"  # 404/410: deleted, or made private
LEGAL_BLOCK = "legal_block"  # 451: blocked for legal reasons (a DMCA takedown)
DISABLED = "disabled"  # 403 "Repository access blocked": disabled by GitHub
NOT_PUBLIC = "not_public"  # served as private or internal: only the token's access shows it
GONE_REASONS = (NOT_FOUND, LEGAL_BLOCK, DISABLED, NOT_PUBLIC)


class Outcome(enum.Enum):
    OK = "ok"
    GONE = "gone"
    PRIMARY_LIMIT = "primary_limit"
    SECONDARY_LIMIT = "secondary_limit"
    BAD_CREDENTIALS = "bad_credentials"
    FORBIDDEN = "forbidden"
    TRANSIENT = "transient"
    FINAL = "final"


@dataclass
class GitHubResponse:
    """A fully read and parsed response; ``data`` is None for tolerated statuses."""

    status: int
    url: str
    headers: Mapping[str, str]
    data: Any = None

    @property
    def gone(self) -> bool:
        return self.status in GONE_STATUSES or _access_blocked(self.status, self.data)

    @property
    def gone_reason(self) -> str | None:
        """Why GitHub no longer serves the repository (``GONE_REASONS``), None when it does."""
        if not self.gone:
            return None
        if self.status == 451:
            return LEGAL_BLOCK
        if self.status == 403:
            return DISABLED
        return NOT_FOUND


# Line breaks, terminal escapes and bidirectional overrides: in a log line, they could forge lines of their own or
# act on the terminal of whoever reads it.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
SERVER_TEXT_LIMIT = 500


def printable(text: str, limit: int = SERVER_TEXT_LIMIT) -> str:
    """Text a server sent, fit for one log line and an error message: unprintable characters escaped, cut."""
    shown = _UNPRINTABLE.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text[:limit])
    return f"{shown}… ({len(text):,} characters)" if len(text) > limit else shown


def message_of(data: Any) -> str:
    """GitHub's human message from an error body (printable, cut), or an empty string."""
    if isinstance(data, Mapping):
        return printable(str(data.get("message") or ""))
    return ""


def rate_limiting_disabled(status: int, data: Any) -> bool:
    """Whether ``GET /rate_limit`` answered that the server does not limit rates (a GitHub Enterprise Server can)."""
    return status == 404 and "rate limiting is not enabled" in message_of(data).lower()


def server_name(headers: Mapping[str, str]) -> str:
    """``GitHub Enterprise Server 3.9.0`` when the answer came from one (it says which version), else ``GitHub``."""
    version = headers.get("x-github-enterprise-version")
    return f"GitHub Enterprise Server {version[:40]}" if version else "GitHub"


def details_of(data: Any) -> str:
    """GitHub's reasons under ``errors``: a 422 says only "Validation Failed" in ``message``, and why there."""
    if not isinstance(data, Mapping) or not isinstance(data.get("errors"), list):
        return ""
    reasons = (error.get("message") or error.get("code") for error in data["errors"] if isinstance(error, Mapping))
    return printable("; ".join(str(reason) for reason in reasons if reason))


def request_id_of(headers: Mapping[str, str]) -> str:
    """`` (request id …)`` naming the answer, as GitHub's support asks, or an empty string."""
    request_id = headers.get("x-github-request-id")
    return f" (request id {printable(request_id, 100)})" if request_id else ""


def classify(status: int, headers: Mapping[str, str], data: Any) -> Outcome:
    """Decide what a status means, from the headers and message as GitHub advises, not the status alone."""
    if 200 <= status < 300:
        return Outcome.OK
    if status in GONE_STATUSES or _access_blocked(status, data):
        return Outcome.GONE
    if status == 401:
        return Outcome.BAD_CREDENTIALS
    if status in (403, 429):
        message = message_of(data).lower()
        if "secondary rate limit" in message or "abuse" in message or "retry-after" in headers:
            return Outcome.SECONDARY_LIMIT
        if headers.get("x-ratelimit-remaining") == "0" or "rate limit" in message:
            return Outcome.PRIMARY_LIMIT
        if status == 429:
            # A 429 without a reason is still a request to slow down.
            return Outcome.SECONDARY_LIMIT
        return Outcome.FORBIDDEN
    if status in RETRIABLE_STATUSES:
        return Outcome.TRANSIENT
    return Outcome.FINAL


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` asks to wait: GitHub sends seconds, HTTP allows a date too (a proxy's)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


# GitHub says on each answer to a personal access token made to expire when it will ("2026-12-10 12:00:00 UTC").
EXPIRATION_HEADER = "GitHub-Authentication-Token-Expiration"
_EXPIRATION = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) ?(UTC|[+-]\d{2}:?\d{2})$")


def token_expiry(headers: Mapping[str, str]) -> datetime | None:
    """When the token this answer was sent with stops working; None when it does not expire or says so unreadably."""
    match = _EXPIRATION.match((headers.get(EXPIRATION_HEADER) or "").strip())
    if match is None:
        return None
    moment, zone = match.groups()
    try:
        if zone == "UTC":
            return datetime.fromisoformat(moment).replace(tzinfo=UTC)
        return datetime.fromisoformat(f"{moment}{zone}").astimezone(UTC)
    except ValueError:
        return None


def _access_blocked(status: int, data: Any) -> bool:
    """A 403 for a repository GitHub disabled: its answer names the block, unlike a missing permission."""
    return status == 403 and ACCESS_BLOCKED_MESSAGE in message_of(data).lower()
