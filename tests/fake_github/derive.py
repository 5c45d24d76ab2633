"""Deterministic pseudo-random facts about one repository, derived from ``(seed, id)`` alone.

Nothing here keeps state: every value is a pure function of the seed and the repository id, so a
million repositories cost nothing until one is asked for, and two fakes with the same seed agree.
The search index (which needs a handful of numbers for every id) and the object builders (which
need everything for a few ids) both read the same functions, so they can never disagree.
"""

from __future__ import annotations

import base64
import bisect
import calendar
from typing import NamedTuple

MASK_64 = (1 << 64) - 1

# The fake's "now": no timestamp is later, so objects never depend on the wall clock.
EPOCH_START = calendar.timegm((2008, 1, 1, 0, 0, 0))
EPOCH_END = calendar.timegm((2026, 11, 1, 0, 0, 0))

# Id share -> creation date, shaped like GitHub's growth (few early repositories, many recent ones).
# Piecewise linear, so created_at never decreases as the id grows and a date range maps to an id range.
_CREATED_ANCHORS: tuple[tuple[float, int], ...] = (
    (0.0, EPOCH_START),
    (0.001, calendar.timegm((2010, 6, 1, 0, 0, 0))),
    (0.01, calendar.timegm((2013, 6, 1, 0, 0, 0))),
    (0.09, calendar.timegm((2017, 8, 1, 0, 0, 0))),
    (0.27, calendar.timegm((2020, 10, 1, 0, 0, 0))),
    (0.5, calendar.timegm((2022, 9, 1, 0, 0, 0))),
    (0.73, calendar.timegm((2024, 3, 1, 0, 0, 0))),
    (0.91, calendar.timegm((2025, 6, 1, 0, 0, 0))),
    (1.0, EPOCH_END),
)


def _with_dense_span(
    anchors: tuple[tuple[float, int], ...], start: int, seconds: int, share: float
) -> tuple[tuple[float, int], ...]:
    """``anchors`` with ``share`` of all ids created within ``[start, start + seconds)``, in order.

    Every other anchor keeps its time and is squeezed into the rest of the id space, so creation still
    grows with the id and the other dates keep their relative density.
    """
    if not 0 < share < 1 or seconds < 1:
        raise ValueError(f"a dense span needs 0 < share < 1 and at least one second, got {share}, {seconds}")
    end = start + seconds - 1
    times = [time for _, time in anchors]
    if not (times[0] <= start and end < times[-1]):
        raise ValueError("a dense span must lie within the fake's creation dates")
    upper = bisect.bisect_right(times, start)
    (low_share, low_time), (high_share, high_time) = anchors[upper - 1], anchors[upper]
    original = low_share + (high_share - low_share) * (start - low_time) / (high_time - low_time)
    at = original * (1.0 - share)
    before = [(s * (1.0 - share), time) for s, time in anchors if time < start]
    after = [(at + share + (s - original) * (1.0 - share), time) for s, time in anchors if time > end + 1]
    # The span's last id maps just below end + 1, so no id of the span falls outside it.
    return (*before, (at, start), (at + share, end + 1), *after)


# Repositories created after GitHub switched the default branch name mostly use "main".
_MAIN_BRANCH_SINCE = calendar.timegm((2020, 10, 1, 0, 0, 0))

# fmt: off
LANGUAGES: tuple[str, ...] = (
    "JavaScript", "Python", "Java", "TypeScript", "Go", "C++", "Ruby", "PHP", "C#", "C", "Shell",
    "Rust", "Kotlin", "Swift", "HTML",
)
# fmt: on
# Weights out of 256; the remainder (64, a quarter) has no detected language.
_LANGUAGE_WEIGHTS = (31, 31, 20, 20, 13, 13, 10, 10, 10, 10, 8, 5, 5, 3, 3)

# (key, name, spdx_id, numeric part of the license node id); "other" is GitHub's NOASSERTION case.
LICENSES: tuple[tuple[str, str, str, int], ...] = (
    ("mit", "MIT License", "MIT", 13),
    ("apache-2.0", "Apache License 2.0", "Apache-2.0", 2),
    ("gpl-3.0", "GNU General Public License v3.0", "GPL-3.0", 9),
    ("other", "Other", "NOASSERTION", 0),
    ("bsd-3-clause", 'BSD 3-Clause "New" or "Revised" License', "BSD-3-Clause", 5),
    ("agpl-3.0", "GNU Affero General Public License v3.0", "AGPL-3.0", 1),
    ("mpl-2.0", "Mozilla Public License 2.0", "MPL-2.0", 14),
    ("unlicense", "The Unlicense", "Unlicense", 15),
)
# Weights out of 256; the remainder (about 40 %) has no license.
_LICENSE_WEIGHTS = (77, 26, 15, 15, 10, 4, 4, 3)

# fmt: off
TOPICS: tuple[str, ...] = (
    "python", "javascript", "machine-learning", "react", "docker", "kubernetes", "cli", "api",
    "data-science", "deep-learning", "web", "golang", "rust", "android", "ios", "linux", "game",
    "database", "security", "devops", "hacktoberfest", "nodejs", "typescript", "vue", "blockchain",
    "iot", "education", "awesome-list", "terraform", "graphql", "compiler", "raspberry-pi",
    "home-automation", "nlp", "computer-vision", "frontend", "backend", "open-source", "testing",
    "automation",
)
# fmt: on

# fmt: off
ADJECTIVES: tuple[str, ...] = (
    "quiet", "rapid", "tiny", "brave", "lucky", "amber", "silent", "cosmic", "clever", "gentle",
    "golden", "hidden", "icy", "jolly", "lazy", "mellow", "noble", "proud", "rusty", "shiny", "solid",
    "swift", "vivid", "wild", "young", "zesty", "bold", "calm", "eager", "fancy", "humble", "keen",
)
# fmt: on
# fmt: off
NOUNS: tuple[str, ...] = (
    "otter", "rocket", "widget", "parser", "engine", "garden", "falcon", "lantern", "matrix", "nebula",
    "pixel", "quartz", "river", "sandbox", "toolkit", "vector", "walrus", "yak", "zephyr", "badger",
    "compass", "dragon", "ember", "forge", "glacier", "harbor", "island", "jungle", "kernel", "ledger",
    "meadow", "notebook", "orbit", "pipeline", "query", "router", "scanner", "tracker", "uplink",
    "voyager", "wizard", "crawler", "dashboard", "emulator", "framework", "generator", "handler",
    "indexer",
)
# fmt: on
_PURPOSES: tuple[str, ...] = (
    "parsing logs",
    "home automation",
    "data pipelines",
    "learning Rust",
    "my dotfiles",
    "static sites",
    "benchmarking",
    "machine learning experiments",
    "a weekend hackathon",
    "teaching kids to code",
    "managing Kubernetes clusters",
    "scraping public data",
)
_UNICODE_SNIPPETS: tuple[str, ...] = (
    "🚀 Blazing fast",
    "✨ Délicieux",
    "日本語のドキュメント付き",
    "Ünïcödé-aware 📦",
    "Привет, мир",
    "مرحبا بالعالم",
    "🐍 + 🦀 = ❤️",
    "Ω≈ç√∫ “smart quotes”",
)
_DEFAULT_BRANCHES_RECENT = ("main",) * 17 + ("master", "master", "develop")
_DEFAULT_BRANCHES_OLD = ("master",) * 17 + ("main", "main", "gh-pages")

# Share of repositories without stars, then a Pareto tail (alpha 1.1) like GitHub's.
_STARLESS_SHARE = 0.45
_STARS_EXPONENT = 1 / 1.1
# Keeps every count inside PostgreSQL's integer range; GitHub's top repository has ~450k stars.
MAX_STARS = 450_000

# About 10 % of repositories are forks (out of 256).
_FORK_BELOW = 26


def _weighted_table(weights: tuple[int, ...]) -> tuple[int | None, ...]:
    """Spread indexes over 256 slots by weight; unfilled slots mean "none"."""
    table: list[int | None] = []
    for index, weight in enumerate(weights):
        table.extend([index] * weight)
    table.extend([None] * (256 - len(table)))
    return tuple(table)


_LANGUAGE_TABLE: tuple[str | None, ...] = tuple(
    None if i is None else LANGUAGES[i] for i in _weighted_table(_LANGUAGE_WEIGHTS)
)
_LICENSE_TABLE: tuple[int | None, ...] = _weighted_table(_LICENSE_WEIGHTS)
LANGUAGE_CODES: dict[str, int] = {name.lower(): code for code, name in enumerate(LANGUAGES)}
# Language as a small int for the search index: -1 is "no language".
_LANGUAGE_CODE_TABLE = tuple(-1 if name is None else LANGUAGE_CODES[name.lower()] for name in _LANGUAGE_TABLE)


def mix64(value: int) -> int:
    """Scramble a 64-bit integer (splitmix64's finaliser): cheap, stateless, well spread."""
    value = (value + 0x9E3779B97F4A7C15) & MASK_64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK_64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK_64
    return value ^ (value >> 31)


def salt_key(seed: int, salt: int) -> int:
    """The per-seed key of one independent hash stream."""
    return mix64(((seed & 0xFFFFFFFF) << 8) | (salt & 0xFF))


def base36(number: int) -> str:
    """Lower-case base-36 digits of a non-negative int (how repository names carry their id)."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, remainder = divmod(number, 36)
        text = digits[remainder] + text
        if number == 0:
            return text


class Facts(NamedTuple):
    """The scalar facts of one repository; text fields are derived separately by :class:`Deriver`."""

    stars: int
    forks: int
    open_issues: int
    subscribers: int
    size: int
    language_code: int
    license_index: int | None
    fork: bool
    archived: bool
    disabled: bool
    is_template: bool
    created: int
    updated: int
    pushed: int | None
    topic_mask: int


class Deriver:
    """Derive any repository's facts and text from ``(seed, id)``.

    :param seed: the world's seed; two derivers with the same seed agree on everything.
    :param max_id: the id that maps to the last creation date; larger ids are created "now".
    """

    def __init__(self, seed: int, max_id: int, dense_spans: tuple[tuple[int, int, float], ...] = ()) -> None:
        self.seed = seed
        self.max_id = max_id
        self._anchors = _CREATED_ANCHORS
        for span in sorted(dense_spans):
            self._anchors = _with_dense_span(self._anchors, *span)
        self._anchor_shares = [share for share, _ in self._anchors]
        self._key_scalars = salt_key(seed, 1)
        self._key_dates = salt_key(seed, 2)
        self._key_text = salt_key(seed, 3)
        self._key_owner = salt_key(seed, 5)

    def created(self, repo_id: int) -> int:
        """Creation time (epoch seconds); never decreases as the id grows."""
        share = repo_id / self.max_id
        if share >= 1.0:
            return EPOCH_END
        upper = bisect.bisect_right(self._anchor_shares, share)
        low_share, low_time = self._anchors[upper - 1]
        high_share, high_time = self._anchors[upper]
        return low_time + int((high_time - low_time) * (share - low_share) / (high_share - low_share))

    def facts(self, repo_id: int) -> Facts:
        """All scalar facts of one repository."""
        scalars = mix64(repo_id ^ self._key_scalars)
        dates = mix64(repo_id ^ self._key_dates)
        text = mix64(repo_id ^ self._key_text)

        stars = _stars((scalars >> 32) & 0xFFFFF)
        forks = (stars * ((dates >> 49) & 0xFF)) // 730
        open_issues = (stars * ((dates >> 57) & 0x7F)) // 2540 + (text & 0x3 if stars else 0)
        subscribers = 1 + (stars * ((text >> 2) & 0x3F)) // 2000

        created = self.created(repo_id)
        remaining = EPOCH_END - created
        pushed: int | None
        if (dates >> 20) & 0x1F == 0:
            pushed = None  # an empty repository: nothing was ever pushed
            size = 0
            updated = created + (remaining * ((dates >> 26) & 0xFF)) // 0xFFFFF
        else:
            pushed = created + (remaining * (dates & 0xFFFFF)) // 0xFFFFF
            updated = max(pushed, created + (remaining * ((dates >> 26) & 0xFFFFF)) // 0xFFFFF)
            size = 1 << ((text >> 8) & 0xF)
            size += (text >> 12) & (size - 1)

        topic_count = max(0, ((dates >> 46) & 0x7) - 1)
        topic_mask = 0
        topic_bits = text >> 24
        for _ in range(topic_count):
            topic_mask |= 1 << ((topic_bits & 0x3F) % len(TOPICS))
            topic_bits >>= 6

        return Facts(
            stars=stars,
            forks=forks,
            open_issues=open_issues,
            subscribers=subscribers,
            size=size,
            language_code=_LANGUAGE_CODE_TABLE[scalars & 0xFF],
            license_index=_LICENSE_TABLE[(scalars >> 52) & 0xFF],
            fork=((scalars >> 8) & 0xFF) < _FORK_BELOW,
            archived=((scalars >> 16) & 0xFF) < 13,
            disabled=((scalars >> 24) & 0xFF) == 0xFF,
            is_template=((scalars >> 24) & 0xFF) < 5,
            created=created,
            updated=updated,
            pushed=pushed,
            topic_mask=topic_mask,
        )

    def is_fork(self, repo_id: int) -> bool:
        """Whether the repository is a fork (same answer as :meth:`facts`, cheaper)."""
        return ((mix64(repo_id ^ self._key_scalars) >> 8) & 0xFF) < _FORK_BELOW

    def flags(self, repo_id: int) -> int:
        """A hash whose bits choose the has_* flags, the homepage kind and the default branch."""
        return mix64(repo_id ^ self._key_text ^ 0x5BD1E995)

    def name(self, repo_id: int) -> str:
        """Repository name; it always ends in ``-<id in base 36>`` so a name finds its id again."""
        text = mix64(repo_id ^ self._key_text)
        adjective = ADJECTIVES[(text >> 40) % len(ADJECTIVES)]
        noun = NOUNS[(text >> 46) % len(NOUNS)]
        suffix = base36(repo_id)
        pattern = (text >> 52) & 0x7
        if pattern <= 3:
            return f"{adjective}-{noun}-{suffix}"
        if pattern == 4:
            return f"{adjective.capitalize()}{noun.capitalize()}-{suffix}"
        if pattern == 5:
            return f"{noun}.js-{suffix}"
        if pattern == 6:
            return f"{adjective}_{noun}-{suffix}"
        return f"{noun}-{suffix}"

    def description(self, repo_id: int) -> str | None:
        """A description: null, short, unicode, long or with control characters."""
        text = mix64(repo_id ^ self._key_text)
        kind = ((text >> 56) & 0xFF) % 100
        adjective = ADJECTIVES[(text >> 40) % len(ADJECTIVES)]
        noun = NOUNS[(text >> 46) % len(NOUNS)]
        purpose = _PURPOSES[(text >> 30) % len(_PURPOSES)]
        if kind < 22:
            return None
        if kind < 68:
            return f"A {adjective} {noun} for {purpose}"
        if kind < 78:
            snippet = _UNICODE_SNIPPETS[(text >> 20) % len(_UNICODE_SNIPPETS)]
            return f"{snippet} {noun} — {adjective} {purpose}"
        if kind < 88:
            return f"The {adjective} {noun}. Built for {purpose}; contributions welcome."
        if kind < 94:
            sentence = f"This {adjective} {noun} exists for {purpose} and keeps growing. "
            return (sentence * (20 + (text & 0x3F))).strip()
        if kind < 98:
            return f"{adjective}\t{noun}\r\nsecond line\x0b\x1b[1mbold\x1b[0m\x07 for {purpose}"
        return ""

    def homepage(self, repo_id: int, owner_login: str, name: str) -> str | None:
        """Homepage: null, empty string (GitHub keeps both) or a URL."""
        kind = (self.flags(repo_id) >> 4) & 0xF
        if kind < 10:
            return None
        if kind < 13:
            return ""
        return f"https://{owner_login.lower()}.github.io/{name}"

    def default_branch(self, repo_id: int, created: int) -> str:
        """Default branch name, "main" for most recent repositories and "master" for old ones."""
        choice = (self.flags(repo_id) >> 8) % 20
        branches = _DEFAULT_BRANCHES_RECENT if created >= _MAIN_BRANCH_SINCE else _DEFAULT_BRANCHES_OLD
        return branches[choice]

    def pool_owner_number(self, repo_id: int, pool_size: int) -> int:
        """Which generated owner holds a repository that no named owner holds."""
        return mix64(repo_id ^ self._key_owner) % pool_size

    def pool_owner_words(self, owner_number: int) -> tuple[str, str]:
        """The adjective and noun of a generated owner's login."""
        spread = mix64(owner_number ^ self._key_owner ^ 0x2545F491)
        return ADJECTIVES[spread % len(ADJECTIVES)], NOUNS[(spread >> 16) % len(NOUNS)]


def _stars(bits: int) -> int:
    """Heavy-tailed star count from 20 uniform bits."""
    uniform = (bits + 0.5) / (1 << 20)
    if uniform < _STARLESS_SHARE:
        return 0
    tail = (uniform - _STARLESS_SHARE) / (1 - _STARLESS_SHARE)
    return min(MAX_STARS, int((1 - tail) ** -_STARS_EXPONENT))


def topics_from_mask(mask: int) -> list[str]:
    """Topic names of a topic bit mask, in vocabulary order."""
    return [topic for bit, topic in enumerate(TOPICS) if mask >> bit & 1]


def legacy_node_id(type_name: str, database_id: int) -> str:
    """GitHub's legacy global node id: base64 of ``0<len>:<Type><id>`` (``MDEwOlJlcG9zaXRvcnkx...``)."""
    return base64.b64encode(f"0{len(type_name)}:{type_name}{database_id}".encode()).decode()
