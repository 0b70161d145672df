"""Sensors' reach, eager automation and SLA lateness on hand-built facts."""

import datetime as dt

from hand import DAYS, NOW, day, days, facts, graph, spec

from assetflow.core.automation import downstream_of, eager_targets, sla_late
from assetflow.core.intervals import Intervals
from assetflow.core.mapping_kinds import window
from assetflow.core.status import compute_status


def test_a_changed_source_partition_reaches_exactly_its_readers():
    reach = downstream_of(graph(), "events", Intervals.points([day(3)]), NOW)
    assert reach["raw"] == days(3, 3) and reach["daily"] == days(3, 3)
    assert reach["rolling"] == days(3, 5)  # windows -2..0 that hold day 3
    assert len(reach["monthly"]) == 1


def test_eager_assets_follow_new_upstream_data_but_not_their_failures():
    eager = spec("daily", DAYS, ("raw", window()), automation="eager")
    g = graph(daily=eager)
    changed = {"daily": days(2, 4)}
    report = compute_status(g, facts(upstream_changed=changed, failed={"daily": days(4, 4)}), NOW)
    assert eager_targets(g, report) == {"daily": days(2, 3)}


def test_a_node_is_late_once_its_deadline_passes_not_before():
    late_after = dt.timedelta(hours=6)
    g = graph(daily=spec("daily", DAYS, ("raw", window()), sla=late_after))
    report = compute_status(g, facts(existing={"raw": days(1, 10), "daily": days(1, 8)}), NOW)
    # 2024-01-09 ends at 01-10 00:00 and is due by 06:00.
    on_time = dt.datetime(2024, 1, 10, 5, 59)
    assert sla_late(g, report, on_time, dt.timedelta(days=7)) == {}
    after = dt.datetime(2024, 1, 10, 6, 0)
    assert sla_late(g, report, after, dt.timedelta(days=7)) == {"daily": days(9, 9)}
