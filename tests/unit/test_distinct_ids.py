"""The sample's compact id set: the same answers as a ``set``, in a fraction of its memory."""

from __future__ import annotations

import random
import tracemalloc

import pytest

from github_etl.extract import distinct_ids
from github_etl.extract.distinct_ids import DistinctIds


@pytest.fixture
def small_folds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fold after a handful of additions, so that a short test goes through many folds."""
    monkeypatch.setattr(distinct_ids, "MIN_RECENT", 8)
    monkeypatch.setattr(distinct_ids, "RECENT_SHARE", 2)


@pytest.mark.usefixtures("small_folds")
def test_answers_as_a_set_does_across_folds() -> None:
    rng = random.Random(7)
    ids, model = DistinctIds(), set()
    for _ in range(400):
        # Pages of picks as the sampler makes them, some overlapping earlier ones.
        batch = [rng.randrange(1, 3_000) for _ in range(rng.randrange(0, 30))]
        ids.update(batch)
        model.update(batch)
        probes = [rng.randrange(0, 3_100) for _ in range(20)]
        assert [p in ids for p in probes] == [p in model for p in probes]
        assert len(ids) == len(model)
    assert all(repo_id in ids for repo_id in model)


@pytest.mark.usefixtures("small_folds")
def test_repeats_within_and_across_updates_count_once() -> None:
    ids = DistinctIds()

    ids.update([5, 5, 3])
    ids.update(range(10))
    ids.update([3, 9, 11, 11])

    assert len(ids) == 11
    assert [n in ids for n in (0, 3, 5, 9, 10, 11, 12)] == [True, True, True, True, False, True, False]


@pytest.mark.parametrize("probe", ["5", None, 5.5, (5,)])
def test_what_is_not_an_int_is_not_in_it(probe: object) -> None:
    ids = DistinctIds()
    ids.update([5])

    assert probe not in ids


def test_two_hundred_thousand_ids_take_a_third_of_a_set() -> None:
    rng = random.Random(11)
    pages = [[rng.randrange(1, 1_000_000_000) for _ in range(100)] for _ in range(2_000)]

    def traced_peak(container: object) -> int:
        tracemalloc.start()
        try:
            for page in pages:
                container.update(page)  # type: ignore[attr-defined]
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return peak

    compact, plain = traced_peak(DistinctIds()), traced_peak(set())

    # About 74 bytes per id in a set; the array and the recent ids stay under 30 even mid-fold.
    assert compact < 30 * 200_000, f"{compact / 200_000:.1f} bytes per id"
    assert compact * 3 < plain, f"{compact} bytes against a set's {plain}"
