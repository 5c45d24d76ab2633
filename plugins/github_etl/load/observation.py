"""A run's observation time, the one clock every date the load stores comes from.

GitHub serves only current values, so first/last-seen bookkeeping, ``deleted_at`` and the snapshot date
all come from when the run fetched its data, never from the wall clock or the run's logical date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime


def snapshot_date_of(observed_at: datetime) -> date:
    """The date a run's snapshots are taken under: its observation time's UTC date."""
    return observed_at.astimezone(UTC).date()


def require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"logical_date and observed_at must be timezone-aware, got {moment!r}")
