"""Keyset cursors: where the previous page ended, as ``<sort key>.<id>`` in decimal.

The sort key of a timestamp order is in microseconds since the epoch, and ``n`` stands for a row without
the key (those come last). Clients treat the cursor as opaque; the OpenAPI document states its grammar
(``CURSOR_PATTERN``) and every string of that grammar is a position the API can continue from: a key or id
beyond what the warehouse can hold is read as the nearest one it can, so such a cursor is answered, never
rejected. A cursor carried over from another sort order is likewise a position in this one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from github_etl.api.models import CURSOR_PATTERN, RepositorySort

# Sorts whose key is a timestamp; the others sort by an integer.
TIMESTAMP_SORTS = frozenset({RepositorySort.CREATED, RepositorySort.PUSHED})
# PostgreSQL's bigint range, beyond which no id or counter can lie.
MIN_BIGINT = -(2**63)
MAX_BIGINT = 2**63 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The timestamps Python (and so the driver) can represent; a key outside them is read as the nearest.
MIN_TIMESTAMP = datetime.min.replace(tzinfo=UTC)
MAX_TIMESTAMP = datetime.max.replace(tzinfo=UTC)
NULL_KEY = "n"
_CURSOR = re.compile(CURSOR_PATTERN)

SortValue = int | datetime | None


class InvalidCursorError(ValueError):
    """The cursor does not follow the cursor grammar."""


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
    if position.value is None:
        key = NULL_KEY
    elif isinstance(position.value, datetime):
        key = str((position.value - EPOCH) // timedelta(microseconds=1))
    else:
        key = str(position.value)
    return f"{key}.{position.last_id}"


def decode_cursor(token: str, sort: RepositorySort) -> CursorPosition:
    """The position a cursor stands for, in ``sort``.

    :param token: the ``cursor`` parameter.
    :param sort: the sort order of the request.
    :raises InvalidCursorError: the cursor does not follow ``CURSOR_PATTERN`` (the API's request
        validation refuses those before this is called).
    """
    if not _CURSOR.fullmatch(token):
        raise InvalidCursorError("cursor was not issued by this API; pass next_cursor unchanged")
    key, last_id = token.split(".")
    return CursorPosition(sort=sort, value=_decode_key(key, sort), last_id=_clamp(int(last_id)))


def _decode_key(key: str, sort: RepositorySort) -> SortValue:
    if key == NULL_KEY:
        return None
    value = _clamp(int(key))
    if sort not in TIMESTAMP_SORTS:
        return value
    try:
        return EPOCH + timedelta(microseconds=value)
    except OverflowError:
        return MIN_TIMESTAMP if value < 0 else MAX_TIMESTAMP


def _clamp(value: int) -> int:
    return min(max(value, MIN_BIGINT), MAX_BIGINT)
