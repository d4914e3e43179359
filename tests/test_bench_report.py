"""`make bench`'s table and its new rows' helpers (no database: the bench makes its own)."""

from bench.online import BENCHMARKS, TARGETS, interleaved, percentiles_ms
from bench.run import ORDER, SIZES, table


def test_every_online_row_has_a_size_and_a_target_entry():
    assert set(BENCHMARKS) <= set(SIZES)
    assert set(BENCHMARKS) == set(TARGETS)
    for name in ("earn_ceiling_1", "earn_ceiling_4", "exchange_day"):
        assert name in ORDER and TARGETS[name] is None  # reported, not judged by ratio


def test_the_ceilings_sit_right_after_their_service_rows():
    assert ORDER.index("earn_ceiling_1") == ORDER.index("earn_service_1") + 1
    assert ORDER.index("earn_ceiling_4") == ORDER.index("earn_service_4") + 1


def test_percentiles_of_latencies_in_milliseconds():
    latencies = [n / 1000 for n in range(1, 101)]  # 1 ms .. 100 ms

    assert percentiles_ms(latencies) == {"p50_ms": 51.0, "p99_ms": 100.0, "requests_timed": 100}
    assert percentiles_ms([]) == {}
    assert percentiles_ms([0.25]) == {"p50_ms": 250.0, "p99_ms": 250.0, "requests_timed": 1}


def test_interleaved_warms_each_side_once_then_takes_medians_in_turn():
    calls = []

    def side(name, values):
        values = iter(values)

        def measure():
            calls.append(name)
            return next(values)

        return measure

    medians, runs = interleaved(
        {"ours": side("ours", [0, 3, 1, 2]), "baseline": side("baseline", [0, 10, 30, 20])}
    )

    assert calls == ["ours", "baseline"] * 4
    assert medians == {"ours": 2, "baseline": 20}
    assert runs == {"ours": [3, 1, 2], "baseline": [10, 30, 20]}


def _row(name, **notes):
    return {
        "name": name,
        "ours": 100.0,
        "baseline": 200.0,
        "unit": "x/s",
        "ratio": 0.5,
        "target": None,
        "passed": True,
        "notes": notes,
    }


def test_the_table_shows_the_ceiling_ratio_latencies_and_the_exchange_day_checks():
    rendered = table(
        [
            _row("earn_service_1", of_ceiling=0.851, ceiling_target=0.85),
            _row("earn_http_4", p50_ms=12.5, p99_ms=40.0),
            _row("exchange_day", oversold=0, overdrafts=0, p99_ms=900.0),
        ]
    )

    assert "0.851 of ceiling, >= 0.85" in rendered
    assert "p50 12.5 ms, p99 40.0 ms" in rendered
    assert "oversold: 0, overdrafts: 0, p99 900.0 ms" in rendered


def test_the_bench_members_and_request_body_are_what_the_api_accepts(db):
    """The HTTP rows stop at the first non-201: the bench's member numbers and purchase body
    must pass the API's checks as a real till's do (the rows broke once when member numbers
    gained a check digit)."""
    import json

    from bench.import_purchases import create_catalogue
    from bench.online import purchase_request_body
    from points.member_numbers import member_no_check
    from points.serializers import PurchaseSerializer, purchase_body_fast

    member_nos, _merchants = create_catalogue(3)
    body = json.loads(purchase_request_body(member_nos[0], "H0-1"))

    assert [member_no_check(no) for no in member_nos] == member_nos
    assert PurchaseSerializer(data=body).is_valid()
    assert purchase_body_fast(body) is not None  # the bench measures the fast path
