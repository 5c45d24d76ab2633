"""Some lines of a staged row file, read as a stream COPY can take.

A merge whose key files show most repositories stored with the data staged parses only the other
repositories' lines (see :func:`github_etl.load.merge.merge_with_keys`). The server names those lines by
number; this module hands COPY just them, skipping the rest at the speed of Python's line iterator
and holding no more than one read's worth of them in memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import IO, Any

from github_etl.errors import StagedFileDamagedError

# What a load refused for its staged files says to do: the transform writes them anew from the raw pages.
TRANSFORM_AGAIN = "transform the run again (clear its transform tasks and the load)"


class StagedFilesMismatch(StagedFileDamagedError):
    """Staged row files disagree with their key files or the transform's counts: a copy cut short, a file lost."""


class LineNumbers:
    """Ascending line numbers across consecutive files, handed out one file at a time.

    :param numbers: 1-based numbers of the wanted lines among all files' lines taken end to end,
        ascending and distinct, as ``take_changed_lines.sql`` numbers them.
    """

    def __init__(self, numbers: Iterable[int]) -> None:
        self._numbers = iter(numbers)
        self._next = next(self._numbers, None)
        self._first_line = 1

    def for_file(self, line_count: int) -> Iterator[int]:
        """The wanted lines of the next file of ``line_count`` lines, 0-based within that file.

        Consume each file's numbers before asking for the next file's.
        """
        first = self._first_line
        self._first_line += line_count
        return self._numbers_below(first, self._first_line)

    def _numbers_below(self, first: int, end: int) -> Iterator[int]:
        while self._next is not None and self._next < end:
            if self._next < first:
                raise ValueError(f"line numbers must ascend; got {self._next} after line {first}")
            yield self._next - first
            self._next = next(self._numbers, None)


class SelectedLines:
    """A readable stream of the lines of ``stream`` whose 0-based numbers ``wanted`` gives, ascending.

    Only ``read`` is offered: it is all ``cursor.copy_expert`` calls.

    :param stream: the row file, one COPY text row per line: binary, or text as a caller may hand it.
    :param wanted: line numbers within this file, ascending and distinct.
    :param name: the file's name, for errors.
    """

    def __init__(self, stream: IO[Any], wanted: Iterable[int], name: str) -> None:
        self._lines = iter(stream)
        self._wanted = iter(wanted)
        self._name = name
        self._position = 0
        self._pending: Any = None  # what the last read took beyond its size: bytes, or str from a text stream
        # Raised from read(), which COPY turns into a QueryCanceled of its own: kept for the caller to re-raise.
        self.error: StagedFilesMismatch | None = None

    def read(self, size: int = -1) -> Any:
        parts = [self._pending] if self._pending else []
        length = len(self._pending) if self._pending else 0
        while size < 0 or length < size:
            line = self._next_line()
            if line is None:
                break
            parts.append(line)
            length += len(line)
        if not parts:
            return b""
        data = parts[0][:0].join(parts)
        if 0 <= size < len(data):
            data, self._pending = data[:size], data[size:]
        else:
            self._pending = None
        return data

    def _next_line(self) -> Any:
        number = next(self._wanted, None)
        if number is None:
            return None
        if number < self._position:
            raise ValueError(f"line numbers must ascend; got {number} after {self._position - 1}")
        # islice skips the lines in between without handing each to Python code.
        line = next(itertools.islice(self._lines, number - self._position, None), None)
        if line is None:
            self.error = StagedFilesMismatch(
                f"staged row file {self._name} ends before line {number + 1}, which its key file names: "
                f"{TRANSFORM_AGAIN}"
            )
            raise self.error
        self._position = number + 1
        return line
