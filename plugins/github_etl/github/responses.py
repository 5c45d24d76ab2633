"""Classify GitHub's answers in one place: usable, tolerated, retriable or final."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Detail endpoints answer these for repositories that vanished since they were listed
# (deleted or made private, blocked for legal reasons); a harvest skips and counts them.
GONE_STATUSES = frozenset({404, 410, 451})
RETRIABLE_STATUSES = frozenset({500, 502, 503, 504})


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
        return self.status in GONE_STATUSES


def message_of(data: Any) -> str:
    """GitHub's human message from an error body, or an empty string."""
    if isinstance(data, Mapping):
        return str(data.get("message") or "")
    return ""


def classify(status: int, headers: Mapping[str, str], data: Any) -> Outcome:
    """Decide what a status means, from the headers and message as GitHub advises, not the status alone."""
    if 200 <= status < 300:
        return Outcome.OK
    if status in GONE_STATUSES:
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
