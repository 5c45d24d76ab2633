"""Realistic staged row files for the load benchmark: seeded, streamed, in the project's COPY text format.

Each generated repository is a REST object shaped like GitHub's, passed through the project's own
:func:`~github_etl.transform.repository_row` and :func:`~github_etl.transform.format_copy_line`, so a
generated file is exactly what the transform stages. The mix imitates a real harvest: short English
descriptions next to long ones and pasted READMEs, CJK, Cyrillic, Arabic and emoji (ZWJ sequences and
flags included), descriptions with tabs, newlines, carriage returns and backslashes, NULLs, topic lists
of 0 to 20, a long tail of stars, licences and ``NOASSERTION``, forks, archives and missing push dates.

The same seed always yields the same rows in the same order, and the first ``k`` rows do not depend
on how many follow, so a baseline can replay the head of a file. Nothing is kept per row: ids come
from a bijection of the row number, so files of any size are written in constant memory.
"""

from __future__ import annotations

import bisect
import itertools
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from github_etl.columns import STAGED_COLUMNS
from github_etl.transform import format_copy_line, repository_row, staged_line

DEFAULT_SEED = 20_240_501
# A prime just under a billion, the order of magnitude of today's GitHub repository ids. Row i gets
# id 1 + (i * ID_MULTIPLIER mod ID_MODULUS): distinct for every i below the modulus, scattered like
# the ids of a search harvest, and computed without remembering the ids already used.
ID_MODULUS = 999_999_937
ID_MULTIPLIER = 2_654_435_761
MAX_ROWS = ID_MODULUS - 1
# Repositories created between GitHub's launch year and the end of 2024; pushes and updates up to mid-2025.
CREATED_FROM = 1_199_145_600  # 2008-01-01T00:00:00Z
CREATED_UNTIL = 1_735_689_600  # 2025-01-01T00:00:00Z
ACTIVE_UNTIL = 1_751_328_000  # 2025-07-01T00:00:00Z
# Rows written per file write: big enough that the write calls cost nothing, small enough to stay constant.
WRITE_BATCH_ROWS = 1_000

_WORD_TEXT = (
    "a fast simple lightweight modern minimal library framework tool toolkit cli for the and with of "
    "python rust go typescript javascript java kotlin swift api rest graphql client server sdk wrapper "
    "data pipeline etl airflow postgres sql database orm cache queue scheduler workflow engine parser "
    "compiler interpreter runtime plugin extension theme template starter boilerplate example demo "
    "tutorial course notes homework dotfiles config scripts utilities helpers bot discord slack telegram "
    "machine learning deep neural network model training inference dataset benchmark visualization "
    "dashboard web app mobile android ios desktop game engine emulator kernel driver embedded firmware "
    "blockchain smart contract wallet crypto security scanner fuzzer testing mock fixtures docs website "
    "blog static site generator markdown editor terminal shell prompt awesome curated list resources"
)
_WORDS = tuple(_WORD_TEXT.split())
_UNICODE_PHRASES = (
    "日本語のドキュメント",
    "高性能的分布式数据库中间件",
    "한국어 자연어 처리 도구",
    "Библиотека для работы с очередями",  # noqa: RUF001 - Cyrillic on purpose
    "Εργαλείο ανάλυσης δεδομένων",
    "أداة لتحليل البيانات",
    "כלי לניתוח נתונים",
    "Ferramenta de análise — configuração rápida",
    "café naïve résumé façade über straße",
    "e\u0301 composed with a combining accent",
    "🚀 blazing fast",
    "✨ zero-config ✨",
    "🐍 + 🦀 = ❤️",
    "👩‍💻 built by developers for developers 👨‍👩‍👧‍👦",
    "🇫🇷 🇯🇵 🇧🇷 localised",
    "math: ∑ ∫ √ ≤ ≥ ≠ ∞ — “quoted” ‘text’ …",  # noqa: RUF001 - typographic quotes on purpose
)
# Fragments with the characters COPY's text format must escape, or that array literals must quote.
_ESCAPE_FRAGMENTS = (
    "line one\nline two",
    "windows line\r\nending",
    "column\tseparated\tvalues",
    "C:\\Users\\dev\\project",
    "regex \\d+\\s*\\w+",
    "escaped \\N is not NULL",
    "quotes \"double\" and 'single'",
    "trailing backslash \\",
    "{braces, commas} and [brackets]",
)
_TOPIC_TEXT = (
    "python javascript typescript rust go java machine-learning deep-learning data-science api cli "
    "docker kubernetes devops react vue nodejs django flask fastapi postgresql database etl airflow "
    "hacktoberfest awesome awesome-list game linux macos windows android ios security testing "
    "visualization nlp computer-vision llm chatgpt blockchain web3 terraform aws serverless graphql"
)
_TOPICS = tuple(_TOPIC_TEXT.split())
_LANGUAGES = (
    ("JavaScript", 16),
    ("Python", 16),
    ("TypeScript", 10),
    ("Java", 8),
    ("Go", 5),
    ("C++", 5),
    ("C", 4),
    ("C#", 4),
    ("PHP", 4),
    ("Ruby", 3),
    ("Rust", 3),
    ("Shell", 3),
    ("Jupyter Notebook", 3),
    ("HTML", 3),
    ("Kotlin", 2),
    ("Swift", 2),
    (None, 12),
)
_LICENSES = (
    ("mit", "MIT", 30),
    ("apache-2.0", "Apache-2.0", 12),
    ("gpl-3.0", "GPL-3.0", 6),
    ("bsd-3-clause", "BSD-3-Clause", 3),
    ("agpl-3.0", "AGPL-3.0", 1),
    ("mpl-2.0", "MPL-2.0", 1),
    ("unlicense", "Unlicense", 1),
    ("other", "NOASSERTION", 6),
    (None, None, 40),
)
_BRANCHES = (("main", 60), ("master", 35), ("develop", 2), ("gh-pages", 2), ("trunk", 1))
_VISIBILITY = "public"
# Values and cumulative weights of the weighted choices above, computed once rather than per row.
_LANGUAGE_VALUES = tuple(language for language, _ in _LANGUAGES)
_LANGUAGE_CUMULATIVE = tuple(itertools.accumulate(weight for _, weight in _LANGUAGES))
_LICENSE_VALUES = tuple(None if key is None else {"key": key, "spdx_id": spdx} for key, spdx, _ in _LICENSES)
_LICENSE_CUMULATIVE = tuple(itertools.accumulate(weight for _, _, weight in _LICENSES))
_BRANCH_VALUES = tuple(branch for branch, _ in _BRANCHES)
_BRANCH_CUMULATIVE = tuple(itertools.accumulate(weight for _, weight in _BRANCHES))


@dataclass(frozen=True)
class RowFile:
    """A generated staged row file.

    :param path: where it is.
    :param rows: lines written, one repository each.
    :param bytes: file size.
    :param keys_path: its key file (``id``, ``row_hash`` per line), as the transform writes one beside it.
    """

    path: Path
    rows: int
    bytes: int
    keys_path: Path


def repository_id(index: int) -> int:
    """The id of the ``index``-th generated repository (0-based): unique for every index below ``MAX_ROWS``.

    :param index: row number.
    """
    return 1 + (index * ID_MULTIPLIER) % ID_MODULUS


def repository_records(count: int, *, seed: int = DEFAULT_SEED) -> Iterator[dict[str, Any]]:
    """Yield ``count`` REST repository objects as GitHub returns them, deterministically for a seed.

    :param count: how many; at most ``MAX_ROWS``.
    :param seed: the random seed; the same seed yields the same objects in the same order.
    """
    if not 0 <= count <= MAX_ROWS:
        raise ValueError(f"count must be in 0..{MAX_ROWS}, got {count}")
    rng = random.Random(seed)
    for index in range(count):
        yield _record(rng, index)


def repository_rows(count: int, *, seed: int = DEFAULT_SEED) -> Iterator[tuple]:
    """Yield ``count`` typed rows in ``REPOSITORY_COLUMNS`` order, as the transform produces them.

    :param count: how many.
    :param seed: the random seed.
    :raises RejectedRecord: never for generated records; it would mean the generator broke a rule.
    """
    for record in repository_records(count, seed=seed):
        yield repository_row(record)


def write_row_file(
    path: str | os.PathLike[str],
    count: int,
    *,
    seed: int = DEFAULT_SEED,
    keys_path: str | os.PathLike[str] | None = None,
) -> RowFile:
    """Write ``count`` generated rows to ``path`` as the transform stages them, streaming (constant memory).

    :param path: row file to create or overwrite (staged lines: COPY text with ``row_hash``).
    :param count: rows to write.
    :param seed: the random seed; the same seed writes a byte-identical file.
    :param keys_path: key file to write beside it; ``<path>.keys`` when omitted.
    """
    target = Path(path)
    keys_target = Path(keys_path) if keys_path is not None else target.with_name(target.name + ".keys")
    batch: list[str] = []
    keys: list[str] = []
    with (
        target.open("w", encoding="utf-8", newline="") as out,
        keys_target.open("w", encoding="utf-8", newline="") as keys_out,
    ):
        for row in repository_rows(count, seed=seed):
            line, digest = staged_line(format_copy_line(row))
            batch.append(line)
            keys.append(f"{row[0]}\t{digest}\n")
            if len(batch) == WRITE_BATCH_ROWS:
                out.write("".join(batch))
                keys_out.write("".join(keys))
                batch.clear()
                keys.clear()
        out.write("".join(batch))
        keys_out.write("".join(keys))
    return RowFile(path=target, rows=count, bytes=target.stat().st_size, keys_path=keys_target)


def write_changed_copy(source: RowFile, path: str | os.PathLike[str], *, every: int) -> RowFile:
    """Copy a row file with one repository in ``every`` starred once more, digests and key file to match.

    What a daily run of a warehouse's repositories mostly looks like: the same repositories, a few of
    them changed. Streams line by line.

    :param source: a file written by :func:`write_row_file`.
    :param path: the changed copy to create or overwrite; its key file goes to ``<path>.keys``.
    :param every: change the first of every ``every`` lines.
    """
    target = Path(path)
    keys_target = target.with_name(target.name + ".keys")
    stars = STAGED_COLUMNS.index("stargazers_count")
    with (
        source.path.open(encoding="utf-8", newline="") as lines,
        target.open("w", encoding="utf-8", newline="") as out,
        keys_target.open("w", encoding="utf-8", newline="") as keys_out,
    ):
        for number, line in enumerate(lines):
            fields = line.rstrip("\n").split("\t")
            if number % every == 0:
                fields[stars] = str(int(fields[stars]) + 1)
                line, digest = staged_line("\t".join(fields[:-1]) + "\n")
            else:
                digest = int(fields[-1])
            out.write(line)
            keys_out.write(f"{fields[0]}\t{digest}\n")
    return RowFile(path=target, rows=source.rows, bytes=target.stat().st_size, keys_path=keys_target)


# -- one record -------------------------------------------------------------------------------------


def _record(rng: random.Random, index: int) -> dict[str, Any]:
    repo_id = repository_id(index)
    owner_number = rng.randrange(2_000_000)
    organisation = rng.random() < 0.2
    owner_login = f"{rng.choice(_WORDS)}-{owner_number}" if organisation else f"dev{owner_number}"
    name = _name(rng)
    # A long tail like GitHub's: most repositories have a handful of stars, a few hundreds of thousands.
    stars = min(int(rng.paretovariate(0.9)) - 1, 450_000)
    created = rng.randrange(CREATED_FROM, CREATED_UNTIL)
    updated = rng.randrange(created, ACTIVE_UNTIL)
    pushed = None if rng.random() < 0.02 else rng.randrange(created, updated + 1)
    return {
        "id": repo_id,
        "node_id": f"R_kgDO{repo_id:08X}",
        "name": name,
        "full_name": f"{owner_login}/{name}",
        "owner": {
            "login": owner_login,
            "id": 1_000 + owner_number * 7,
            "type": "Organization" if organisation else "User",
        },
        "private": False,
        "description": _description(rng),
        "homepage": _homepage(rng, owner_login, name),
        "html_url": f"https://github.com/{owner_login}/{name}",
        "language": _pick(rng, _LANGUAGE_VALUES, _LANGUAGE_CUMULATIVE),
        "license": _pick(rng, _LICENSE_VALUES, _LICENSE_CUMULATIVE),
        "topics": rng.sample(_TOPICS, min(rng.choice((0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 8, 12, 20)), len(_TOPICS))),
        "stargazers_count": stars,
        "watchers_count": stars,
        "forks_count": int(stars * rng.random() / 4),
        "open_issues_count": int(rng.expovariate(0.3)),
        "size": int(rng.lognormvariate(7, 2.5)),
        "default_branch": _pick(rng, _BRANCH_VALUES, _BRANCH_CUMULATIVE),
        "fork": rng.random() < 0.1,
        "archived": rng.random() < 0.05,
        "disabled": rng.random() < 0.001,
        "is_template": rng.random() < 0.01,
        "visibility": _VISIBILITY,
        "created_at": _iso(created),
        "updated_at": _iso(updated),
        "pushed_at": None if pushed is None else _iso(pushed),
    }


def _pick(rng: random.Random, values: tuple[Any, ...], cumulative: tuple[int, ...]) -> Any:
    """A weighted choice; ``bisect`` over precomputed cumulative weights is what ``choices`` does, minus set-up."""
    return values[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


def _name(rng: random.Random) -> str:
    words = rng.sample(_WORDS, rng.randint(1, 3))
    separator = rng.choice(("-", "_", ".", ""))
    return separator.join(words) + (str(rng.randrange(100)) if rng.random() < 0.1 else "")


def _description(rng: random.Random) -> str | None:
    """Mostly a short sentence; sometimes NULL, empty, non-Latin, escaped or a pasted README."""
    roll = rng.random()
    if roll < 0.15:
        return None
    if roll < 0.17:
        return ""
    if roll < 0.72:
        text = " ".join(rng.choices(_WORDS, k=rng.randint(3, 15)))
    elif roll < 0.88:
        text = " ".join(rng.choices(_WORDS, k=rng.randint(20, 60)))
    elif roll < 0.98:
        text = " ".join(rng.choices(_WORDS, k=rng.randint(2, 10))) + " " + rng.choice(_UNICODE_PHRASES)
    elif roll < 0.995:
        text = " ".join(rng.choices(_WORDS, k=rng.randint(60, 160)))
    else:
        # A README pasted into the description: kilobytes, several lines, some of them in other scripts.
        lines = [" ".join(rng.choices(_WORDS, k=rng.randint(5, 20))) for _ in range(rng.randint(20, 120))]
        lines[rng.randrange(len(lines))] = rng.choice(_UNICODE_PHRASES)
        text = "\n".join(lines)
    if rng.random() < 0.04:
        position = rng.randrange(len(text) + 1)
        text = text[:position] + " " + rng.choice(_ESCAPE_FRAGMENTS) + " " + text[position:]
    if rng.random() < 0.05:
        text += " " + rng.choice(_UNICODE_PHRASES)
    return text.capitalize() if rng.random() < 0.5 else text


def _homepage(rng: random.Random, owner_login: str, name: str) -> str | None:
    roll = rng.random()
    if roll < 0.6:
        return ""  # GitHub's "no homepage"; the transform stores NULL
    if roll < 0.7:
        return None
    if roll < 0.85:
        return f"https://{owner_login}.github.io/{name}/"
    return f"https://{name.replace('.', '-').replace('_', '-')}.example.org/docs?lang=en&v={rng.randrange(10)}"


def _iso(epoch_seconds: int) -> str:
    # Formatting the struct directly is several times faster than going through datetime.
    t = time.gmtime(epoch_seconds)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}Z"
