"""The delivery ledger and the latency histogram of the load tool (pure, no I/O)."""

from __future__ import annotations

from app.tools.loadtest.stats import Histogram, Ledger, Tally, quantile


def test_a_ledger_tells_missing_duplicate_and_out_of_order_apart() -> None:
    ledger = Ledger()
    for position in (1, 3, 3, 2, 5, 2):
        ledger.record(position)
    tally = Tally()
    tally.add(ledger, frozenset({1, 2, 3, 4, 5}))
    assert (tally.received, tally.missing) == (4, 1)
    assert (tally.duplicates, tally.out_of_order) == (2, 1)
    assert tally.incomplete_clients == 1


def test_positions_nobody_expected_are_counted_apart() -> None:
    ledger = Ledger()
    for position in (7, 10, 11):
        ledger.record(position)
    tally = Tally()
    tally.add(ledger, frozenset({10, 11}))
    assert (tally.received, tally.unexpected, tally.missing) == (2, 1, 0)


def test_histogram_quantiles_are_within_one_percent_and_merge() -> None:
    a, b = Histogram(), Histogram()
    for i in range(1, 1001):
        (a if i % 2 else b).add(i / 1000)
    a.merge(b)
    exact = quantile([i / 1000 for i in range(1, 1001)], 0.99)
    assert exact is not None
    p99 = a.quantile(0.99)
    assert p99 is not None and abs(p99 - exact) / exact < 0.011
    assert a.count == 1000 and a.max_s == 1.0
