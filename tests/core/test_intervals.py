from hypothesis import given
from hypothesis import strategies as st

from assetflow.core.intervals import Intervals

spans = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=6)


def as_set(intervals: Intervals) -> set[int]:
    return set(intervals)


def raw(spans_) -> set[int]:
    return {i for lo, hi in spans_ for i in range(lo, hi + 1)}


@given(spans, spans)
def test_set_algebra_matches_python_sets(a, b):
    x, y = Intervals.of(a), Intervals.of(b)
    assert as_set(x) == raw(a)
    assert as_set(x | y) == raw(a) | raw(b)
    assert as_set(x & y) == raw(a) & raw(b)
    assert as_set(x - y) == raw(a) - raw(b)
    assert len(x) == len(raw(a))


@given(spans)
def test_normal_form_is_sorted_disjoint_and_not_adjacent(a):
    x = Intervals.of(a)
    for (lo1, hi1), (lo2, hi2) in zip(x.spans, x.spans[1:], strict=False):
        assert lo1 <= hi1 < lo2 - 1 < hi2


@given(spans, st.integers(-2, 62))
def test_membership_matches_python_sets(a, index):
    assert (index in Intervals.of(a)) == (index in raw(a))
