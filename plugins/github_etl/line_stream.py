"""Lines made on demand, read as a file: COPY takes values that are never all in memory at once.

The ids a run reports beside its rows (repositories gone) are read shard by
shard from staged files; :class:`LineStream` hands them to ``COPY ... FROM STDIN`` a chunk at a time.
"""

from __future__ import annotations

from collections.abc import Iterable


class LineStream:
    """A read-only text file over ``lines``, consumed as it is read.

    :param lines: text lines, each ending with a newline.
    """

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self._pending = ""
        # What making a line raised (a staged file gone, an id that is not a number). COPY reports it
        # only as a cancelled query; the caller raises this instead, the cause a user can act on.
        self.error: Exception | None = None

    def read(self, size: int = -1) -> str:
        """Up to ``size`` characters (everything left when negative); an empty string at the end."""
        parts = [self._pending]
        length = len(self._pending)
        try:
            for line in self._lines:
                parts.append(line)
                length += len(line)
                if 0 <= size <= length:
                    break
        except Exception as exc:
            self.error = exc
            raise
        text = "".join(parts)
        if size < 0:
            self._pending = ""
            return text
        self._pending = text[size:]
        return text[:size]
