"""Repository owners: the named users and organizations a test asks for, and generated ones.

Owner type is deterministic: a named owner is an ``Organization`` when its login starts with an
upper-case letter or is one of :data:`KNOWN_ORGANIZATIONS`, otherwise a ``User``. A generated owner
is an ``Organization`` when its number is a multiple of :data:`ORGANIZATION_EVERY`.
"""

from __future__ import annotations

import re
import zlib
from typing import NamedTuple

from tests.fake_github.derive import Deriver

# fmt: off
KNOWN_ORGANIZATIONS: frozenset[str] = frozenset({
    "apache", "google", "microsoft", "facebook", "kubernetes", "mozilla", "python", "pallets", "github",
    "octokit", "aws", "hashicorp", "rust-lang", "golang", "nodejs", "astronomer",
})
# fmt: on
# Every seventh generated owner is an organization, roughly GitHub's share among repository owners.
ORGANIZATION_EVERY = 7
# Named owners get ids in a band generated owners never reach.
_NAMED_OWNER_ID_BASE = 900_000_000
_NAMED_OWNER_ID_SPAN = 90_000_000
# Generated owner n has id 1000 + 11 * n: distinct, and readable back from the id.
GENERATED_OWNER_ID_BASE = 1000
GENERATED_OWNER_ID_STEP = 11
# Owners that only exist because a repository was transferred to them.
_TRANSFER_OWNER_ID_BASE = 990_000_000
_TRANSFER_OWNER_ID_SPAN = 9_000_000
_GENERATED_LOGIN = re.compile(r"^(?P<words>[A-Za-z-]+?)(?P<number>\d+)$")


class Owner(NamedTuple):
    """A repository owner as GitHub identifies it."""

    login: str
    id: int
    type: str  # "User" or "Organization"


def named_owner(login: str) -> Owner:
    """The owner object of a login a test named (``owners={"apache": 250}``)."""
    is_organization = login[:1].isupper() or login.lower() in KNOWN_ORGANIZATIONS
    owner_id = _NAMED_OWNER_ID_BASE + zlib.crc32(login.lower().encode()) % _NAMED_OWNER_ID_SPAN
    return Owner(login, owner_id, "Organization" if is_organization else "User")


def transfer_owner(login: str) -> Owner:
    """An owner that exists only as the target of a rename/transfer."""
    owner_id = _TRANSFER_OWNER_ID_BASE + zlib.crc32(login.lower().encode()) % _TRANSFER_OWNER_ID_SPAN
    return Owner(login, owner_id, "User")


def generated_owner(deriver: Deriver, number: int) -> Owner:
    """The generated owner with this number: ``quiet-otter42`` (user) or ``QuietOtterLabs42`` (org)."""
    adjective, noun = deriver.pool_owner_words(number)
    owner_id = GENERATED_OWNER_ID_BASE + GENERATED_OWNER_ID_STEP * number
    if number % ORGANIZATION_EVERY == 0:
        return Owner(f"{adjective.capitalize()}{noun.capitalize()}Labs{number}", owner_id, "Organization")
    return Owner(f"{adjective}-{noun}{number}", owner_id, "User")


def generated_owner_number(deriver: Deriver, login: str, pool_size: int) -> int | None:
    """The number of the generated owner with this login (case-insensitive), or None."""
    match = _GENERATED_LOGIN.match(login)
    if match is None:
        return None
    number = int(match["number"])
    if number >= pool_size or generated_owner(deriver, number).login.lower() != login.lower():
        return None
    return number
