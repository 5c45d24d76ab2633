"""Opaque keyset cursors: where the previous page ended, as URL-safe base64 of a small JSON object.

A cursor names the sort it was issued for, the sort key of the last row (``null`` when that row has no
value for it) and the row's id. Clients treat it as opaque; the server checks every part of it, since
it arrives from the outside like any other parameter.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from github_etl.api.models import RepositorySort

# Sorts whose key is a timestamp; the others sort by an integer.
TIMESTAMP_SORTS = frozenset({RepositorySort.CREATED, RepositorySort.PUSHED})
# PostgreSQL's bigint range, beyond which no id or counter can lie.
MIN_BIGINT = -(2**63)
MAX_BIGINT = 2**63 - 1

SortValue = int | datetime | None


class InvalidCursorError(ValueError):
    """The cursor was not issued by this API for this sort order."""


@dataclass(frozen=True)
class CursorPosition:
    """The last row of a page: its sort key and id.

    :param sort: sort order the cursor belongs to.
    :param value: sort key of the row; None when the row has no value for it (sorted last).
    :param last_id: id of the row.
    """

    sort: RepositorySort
    value: SortValue
    last_id: int


def encode_cursor(position: CursorPosition) -> str:
    """The opaque string for a position.

    :param position: last row of the page just served.
    """
    value = position.value.isoformat() if isinstance(position.value, datetime) else position.value
    payload = json.dumps({"sort": position.sort.value, "value": value, "id": position.last_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(token: str, sort: RepositorySort) -> CursorPosition:
    """The position a cursor stands for.

    :param token: the ``cursor`` parameter.
    :param sort: the sort order of the request; a cursor of another order is rejected.
    :raises InvalidCursorError: whatever is wrong with it, with a message for the client.
    """
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidCursorError("cursor was not issued by this API; pass next_cursor unchanged") from None
    if not isinstance(payload, dict) or set(payload) != {"sort", "value", "id"}:
        raise InvalidCursorError("cursor was not issued by this API; pass next_cursor unchanged")
    if payload["sort"] != sort.value:
        raise InvalidCursorError(
            f"cursor belongs to sort={payload['sort']!r}, not sort={sort.value!r}; keep the sort of the first page"
        )
    last_id = payload["id"]
    if not _is_bigint(last_id):
        raise InvalidCursorError("cursor has an invalid id")
    return CursorPosition(sort=sort, value=_decode_value(payload["value"], sort), last_id=last_id)


def _decode_value(value: object, sort: RepositorySort) -> SortValue:
    if sort in TIMESTAMP_SORTS:
        # Only dates may be missing: those rows form the last segment of the order.
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidCursorError("cursor has an invalid sort key")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidCursorError("cursor has an invalid sort key") from None
        if parsed.tzinfo is None:
            raise InvalidCursorError("cursor has an invalid sort key")
        return parsed
    if not _is_bigint(value):
        raise InvalidCursorError("cursor has an invalid sort key")
    return value


def _is_bigint(value: object) -> bool:
    # bool is an int subclass, and JSON true is no id.
    return isinstance(value, int) and not isinstance(value, bool) and MIN_BIGINT <= value <= MAX_BIGINT
