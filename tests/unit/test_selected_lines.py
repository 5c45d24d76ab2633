"""The stream of chosen row-file lines that a merge with key files hands to COPY."""

from __future__ import annotations

import io

import pytest

from github_etl.selected_lines import LineNumbers, SelectedLines, StagedFilesMismatch

LINES = [f"{n}\tline {n}{'x' * n}\n".encode() for n in range(10)]


def _read_all(stream: SelectedLines, size: int) -> bytes:
    chunks = []
    while chunk := stream.read(size):
        assert len(chunk) <= size
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("size", [1, 7, 1 << 20])
@pytest.mark.parametrize("wanted", [[], [0], [9], [1, 2, 3], [0, 4, 9], list(range(10))])
def test_reads_the_wanted_lines_whole_and_in_order_whatever_the_read_size(wanted, size):
    stream = SelectedLines(io.BytesIO(b"".join(LINES)), wanted, "rows.tsv")

    assert _read_all(stream, size) == b"".join(LINES[n] for n in wanted)


def test_a_text_stream_gives_text():
    text = "".join(line.decode() for line in LINES)

    assert SelectedLines(io.StringIO(text), [2, 5], "rows.tsv").read(-1) == LINES[2].decode() + LINES[5].decode()


def test_a_line_the_file_does_not_have_is_a_mismatch_naming_the_file():
    stream = SelectedLines(io.BytesIO(b"".join(LINES[:3])), [1, 3], "rows-7.tsv")

    with pytest.raises(StagedFilesMismatch, match=r"rows-7\.tsv ends before line 4"):
        _read_all(stream, 1 << 20)


def test_line_numbers_must_ascend():
    with pytest.raises(ValueError, match="ascend"):
        SelectedLines(io.BytesIO(b"".join(LINES)), [3, 2], "rows.tsv").read(-1)


def test_line_numbers_are_handed_out_file_by_file():
    numbers = LineNumbers([1, 3, 4, 6, 9])  # 1-based across files of 3, 0, 4 and 2 lines

    assert [list(numbers.for_file(count)) for count in (3, 0, 4, 2)] == [[0, 2], [], [0, 2], [1]]
