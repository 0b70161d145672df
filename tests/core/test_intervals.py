from hypothesis import given
from hypothesis import strategies as st

from assetflow.core.intervals import Intervals, from_span_rows, span_rows

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


def test_span_rows_list_each_assets_runs_in_order_and_come_back_whole():
    by_asset = {"b": Intervals.of([(5, 9)]), "a": Intervals.of([(1, 2), (4, 4)])}
    rows = span_rows(by_asset)
    assert rows == [("a", 1, 2), ("a", 4, 4), ("b", 5, 9)]
    assert from_span_rows(rows) == by_asset
