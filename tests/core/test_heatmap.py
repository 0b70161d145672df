"""An asset drawn whole: more partitions than the page draws one by one are grouped into
periods (or runs of keys), found without listing every key."""

import datetime as dt
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from assetflow.core import heatmap
from assetflow.core.intervals import Intervals
from assetflow.core.partitions import daily, hourly, minutely, static

NOW = dt.datetime(2030, 1, 1)


def everything(parts):
    return parts.universe(NOW)


def by_key_prefix(parts, selected, width):
    """The cells listed the slow way: every key, cut by its prefix."""
    return Counter(k[:width] for k in parts.keys_in(selected))


def test_few_partitions_are_drawn_one_by_one_and_many_by_a_coarser_period():
    assert heatmap.grouping(daily("2015-01-01", "2024-12-31"), 3653) is None
    assert heatmap.grouping(minutely("2015-01-01", "2024-12-31"), 1_052_064) == "day"
    assert heatmap.grouping(hourly("2000-01-01", "2024-12-31"), 219_000) == "month"
    assert heatmap.grouping(daily("1900-01-01", "2024-12-31"), 45_656) == "month"
    assert heatmap.grouping(static(*[f"k{i}" for i in range(6000)]), 6000) == "keys"


def test_five_minute_windows_by_day_match_their_keys():
    parts = minutely("2024-01-01", "2024-01-20")
    selected = everything(parts)
    cells = heatmap.cells(parts, selected, "day")
    assert [c.label for c in cells] == [f"2024-01-{d:02d}" for d in range(1, 21)]
    assert {c.label: len(c.spans) for c in cells} == by_key_prefix(parts, selected, 10)
    assert heatmap.grid_cell("day", "2024-01-05", 4) == ("2024-01", "05")


def test_local_hours_by_day_count_23_and_25_hours_on_daylight_saving_days():
    parts = hourly("2024-03-25", "2024-11-05", tz="Europe/Paris")
    cells = {c.label: len(c.spans) for c in heatmap.cells(parts, everything(parts), "day")}
    assert cells["2024-03-31"] == 23 and cells["2024-10-27"] == 25 and cells["2024-06-01"] == 24
    assert cells == by_key_prefix(parts, everything(parts), 10)


@settings(max_examples=40, deadline=None)
@given(spans=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 400)), min_size=1, max_size=4))
def test_any_selection_is_cut_exactly_into_its_periods(spans):
    parts = minutely("2024-01-01", "2024-01-31", every=15)
    first = parts.first_index()
    selected = Intervals.of((first + lo, first + lo + n) for lo, n in spans) & everything(parts)
    cells = heatmap.cells(parts, selected, "day")
    assert {c.label: len(c.spans) for c in cells} == by_key_prefix(parts, selected, 10)
    assert Intervals.of(s for c in cells for s in c.spans.spans) == selected


def test_many_keys_are_cut_into_runs_of_consecutive_keys():
    parts = static(*[f"k{i:05d}" for i in range(12_001)])
    cells = heatmap.cells(parts, everything(parts), "keys")
    assert len(cells) <= heatmap.CELLS and sum(len(c.spans) for c in cells) == 12_001
    assert cells[0].label == "k00000" and cells[1].label == "k00003"  # three keys a cell
    assert heatmap.grid_cell("keys", "k00150", 50) == ("51..", "k00150")
