"""Partitions by several dimensions (issue 16): keys, sets, and mappings per dimension."""

import datetime as dt

import pytest
from conftest import downstream_readers, map_partition, upstream_reads
from hypothesis import given, settings
from hypothesis import strategies as st

from assetflow.core.intervals import Intervals
from assetflow.core.mapping_kinds import all_partitions, dims, key_map, window
from assetflow.core.mappings import mapping_problem
from assetflow.core.partitions import daily, dynamic, hourly, monthly, multi, static, with_keys
from assetflow.errors import PartitionKeyError

NOW = dt.datetime(2024, 2, 1)
DAYS = daily("2024-01-01", "2024-01-10")
REGIONS = static("eu", "us", "apac")
CUSTOMERS = with_keys(
    dynamic("customers"), ((0, "acme", True), (1, "gone", False), (2, "bolt", True))
)
DAY_REGION = multi(day=DAYS, region=REGIONS)
THREE = multi(day=DAYS, region=REGIONS, customer=CUSTOMERS)


def keys(parts, rng):
    return (
        list(parts.keys_in(rng.spans))
        if rng.spans is not None
        else [parts.key(i) for i in range(rng.first, rng.last + 1)]
    )


def test_keys_round_trip_and_partitions_of_one_key_are_contiguous_in_time():
    i = THREE.index("2024-01-03|us|bolt")
    assert THREE.key(i) == "2024-01-03|us|bolt"
    assert THREE.key(i + 1) == "2024-01-04|us|bolt"
    assert THREE.window(i) == (dt.date(2024, 1, 3), dt.date(2024, 1, 4))
    universe = THREE.universe(NOW)
    assert len(universe) == 10 * 3 * 2  # the removed customer is not there
    assert len(universe.spans) == 3 * 2  # one run of days per region x customer


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("2024-01-03", "needs 3 parts joined by |"),
        ("2024-01-03|mars|acme", "unknown partition key 'mars'"),
        ("2024-01-32|us|acme", "invalid day partition key"),
        ("2024-01-03|us|zed", "unknown partition key 'zed' of dynamic partitions customers"),
    ],
)
def test_bad_keys(key, message):
    with pytest.raises(PartitionKeyError, match=message):
        THREE.index(key)


def test_declarations_that_do_not_fit():
    with pytest.raises(PartitionKeyError, match="at most one time dimension"):
        multi(day=DAYS, hour=hourly("2024-01-01"))
    with pytest.raises(PartitionKeyError, match="at least two dimensions"):
        multi(day=DAYS)


def test_selections_by_time_and_by_dimension():
    assert len(THREE.indexes_between("2024-01-02", "2024-01-03", NOW)) == 2 * 3 * 2
    only_us = THREE.keys_in(THREE.indexes_between("2024-01-02|us|*", "2024-01-02|us|*", NOW))
    assert only_us == ("2024-01-02|us|acme", "2024-01-02|us|bolt")
    march = DAY_REGION.keys_in(DAY_REGION.indexes_between("2024-01|apac", "2024-01|apac", NOW))
    assert len(march) == 10 and all(k.endswith("|apac") for k in march)


@pytest.mark.parametrize(
    ("down", "key", "up", "mapping", "expected"),
    [
        # a daily report over every region reads the day x every region
        (
            DAYS,
            "2024-01-05",
            DAY_REGION,
            window(),
            ["2024-01-05|eu", "2024-01-05|us", "2024-01-05|apac"],
        ),
        # day x region reads the day (every region the same day)
        (DAY_REGION, "2024-01-05|us", DAYS, window(), ["2024-01-05"]),
        # a trailing window per region
        (
            DAY_REGION,
            "2024-01-05|us",
            DAY_REGION,
            window(-2, 0),
            ["2024-01-03|us", "2024-01-04|us", "2024-01-05|us"],
        ),
        # per dimension: the week's days, every region
        (
            DAY_REGION,
            "2024-01-05|us",
            DAY_REGION,
            dims(day=window(-1, 0), region=all_partitions()),
            [
                "2024-01-04|eu",
                "2024-01-05|eu",
                "2024-01-04|us",
                "2024-01-05|us",
                "2024-01-04|apac",
                "2024-01-05|apac",
            ],
        ),
        # region x month rolls up day x region
        (
            multi(month=monthly("2024-01", "2024-01"), region=REGIONS),
            "2024-01|eu",
            DAY_REGION,
            window(),
            [f"2024-01-{d:02d}|eu" for d in range(1, 11)],
        ),
        # a region reads its days (no time downstream: every day)
        (REGIONS, "apac", DAY_REGION, window(), [f"2024-01-{d:02d}|apac" for d in range(1, 11)]),
        # three dimensions roll up to two: the customers of a day and region
        (
            DAY_REGION,
            "2024-01-05|us",
            THREE,
            window(),
            ["2024-01-05|us|acme", "2024-01-05|us|bolt"],
        ),
        # and a customer reads its days in every region
        (
            CUSTOMERS,
            "bolt",
            THREE,
            dims(day=all_partitions()),
            [f"2024-01-{d:02d}|{r}|bolt" for r in ("eu", "us", "apac") for d in range(1, 11)],
        ),
    ],
)
def test_which_partitions_read_which(down, key, up, mapping, expected):
    assert mapping_problem(mapping, down, up) is None
    assert sorted(keys(up, map_partition(mapping, down, down.index(key), up, NOW))) == sorted(
        expected
    )


COUNTRIES = static("de", "fr", "us", "ca")
BY_COUNTRY = multi(day=DAYS, country=COUNTRIES)
EU_MAP = key_map({"eu": ["de", "fr"], "us": ["us", "ca"], "apac": []})


def test_a_key_map_reads_the_keys_it_names():
    rng = map_partition(EU_MAP, REGIONS, REGIONS.index("eu"), COUNTRIES, NOW)
    assert keys(COUNTRIES, rng) == ["de", "fr"]
    assert (
        keys(COUNTRIES, map_partition(EU_MAP, REGIONS, REGIONS.index("apac"), COUNTRIES, NOW)) == []
    )
    per_dim = dims(country=EU_MAP)
    assert mapping_problem(per_dim, DAY_REGION, BY_COUNTRY) is None
    rng = map_partition(per_dim, DAY_REGION, DAY_REGION.index("2024-01-03|us"), BY_COUNTRY, NOW)
    assert keys(BY_COUNTRY, rng) == ["2024-01-03|us", "2024-01-03|ca"]
    assert "not keys of static" in mapping_problem(key_map({"eu": ["xx"]}), REGIONS, COUNTRIES)
    assert "needs a static or dynamic dimension" in mapping_problem(
        dims(day=EU_MAP), DAY_REGION, BY_COUNTRY
    )


def test_mapping_problems():
    assert "not a dimension" in mapping_problem(dims(hour=window()), DAY_REGION, DAY_REGION)
    assert "time dimension on both sides" in mapping_problem(window(-1, 0), REGIONS, DAY_REGION)


# -- the set-wise forms agree with the node-wise mapping ---------------------------------
PAIRS = [
    (DAYS, DAY_REGION, window()),
    (DAY_REGION, DAYS, window(-1, 0)),
    (DAY_REGION, DAY_REGION, window(-2, 0)),
    (DAY_REGION, DAY_REGION, dims(region=all_partitions())),
    (DAY_REGION, THREE, window()),
    (THREE, DAY_REGION, window(-1, 1)),
    (REGIONS, DAY_REGION, window()),
    (CUSTOMERS, THREE, dims(day=all_partitions())),
    (multi(month=monthly("2024-01", "2024-01"), region=REGIONS), DAY_REGION, window()),
    (REGIONS, COUNTRIES, EU_MAP),
    (DAY_REGION, BY_COUNTRY, dims(country=EU_MAP, day=window(-1, 0))),
]


@settings(max_examples=150)
@given(pair=st.sampled_from(PAIRS), data=st.data())
def test_set_wise_reads_and_readers_agree_with_the_mapping(pair, data):
    down, up, mapping = pair
    nodes = list(down.universe(NOW))
    chosen = data.draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=8))
    read = set()
    for i in chosen:
        rng = map_partition(mapping, down, i, up, NOW)
        read |= set(rng.spans) if rng.spans is not None else set(range(rng.first, rng.last + 1))
    assert set(upstream_reads(mapping, down, Intervals.points(chosen), up, NOW)) == read
    changed = data.draw(st.lists(st.sampled_from(list(up.universe(NOW))), min_size=1, max_size=5))
    readers = {
        i
        for i in nodes
        if (r := map_partition(mapping, down, i, up, NOW))
        and set(changed)
        & (set(r.spans) if r.spans is not None else set(range(r.first, r.last + 1)))
    }
    found = downstream_readers(mapping, down, up, Intervals.points(changed), NOW) & down.universe(
        NOW
    )
    assert set(found) == readers


def test_a_set_of_partitions_reads_as_a_product_where_it_is_one():
    from assetflow.core.intervals import Intervals
    from assetflow.core.partitions import daily, multi, static

    days = daily("2024-01-01", "2024-01-31")
    parts = multi(day=days, region=static("eu", "us", "apac"), customer=static("acme", "zeta"))

    def of(*keys):
        return Intervals.points(parts.index(k) for k in keys)

    every = [
        f"2024-01-{d:02d}|{r}|{c}"
        for d in range(3, 6)
        for r in ("eu", "us")
        for c in ("acme", "zeta")
    ]
    assert parts.compact(of(*every)) == "2024-01-03..2024-01-05 × eu..us × acme..zeta"
    assert parts.compact(of("2024-01-02|eu|acme", "2024-01-02|us|zeta")) == (
        "2024-01-02 × {eu|acme, us|zeta}"
    )
    two = of("2024-01-02|apac|zeta", "2024-01-07|eu|acme", "2024-01-08|eu|acme")
    assert parts.compact(two) == "2024-01-02 × apac × zeta, 2024-01-07..2024-01-08 × eu × acme"
    assert days.compact(
        Intervals.points(days.index(k) for k in ("2024-01-02", "2024-01-03", "2024-01-09"))
    ) == ("2024-01-02..2024-01-03, 2024-01-09")
    keyed = multi(region=static("eu", "us"), customer=static("acme", "zeta"))
    # Without time, ranges of combinations in their order (as compact_ranges gives them).
    apart = Intervals.points([keyed.index("eu|acme"), keyed.index("us|acme")])
    assert keyed.compact(apart) == "eu|acme, us|acme"
