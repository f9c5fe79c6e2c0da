"""Counting what the load test saw: a mergeable latency histogram and per-client delivery ledgers.

Pure data structures (no I/O), so worker processes can fill them and the parent can merge them.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Buckets grow by 1% from 10 µs: a percentile read from them is within 1% of the true value.
_BASE_S = 1e-5
_RATIO = math.log(1.01)


@dataclass(slots=True)
class Histogram:
    """Latencies in seconds, kept as counts per log bucket so that workers can merge theirs."""

    buckets: dict[int, int] = field(default_factory=dict)
    count: int = 0
    max_s: float = 0.0

    def add(self, seconds: float) -> None:
        key = 0 if seconds <= _BASE_S else int(math.log(seconds / _BASE_S) / _RATIO) + 1
        self.buckets[key] = self.buckets.get(key, 0) + 1
        self.count += 1
        if seconds > self.max_s:
            self.max_s = seconds

    def merge(self, other: Histogram) -> None:
        for key, n in other.buckets.items():
            self.buckets[key] = self.buckets.get(key, 0) + n
        self.count += other.count
        self.max_s = max(self.max_s, other.max_s)

    def quantile(self, q: float) -> float | None:
        """The upper bound of the bucket that holds quantile q (None when empty)."""
        if not self.count:
            return None
        rank = q * self.count
        seen = 0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen >= rank:
                return min(_BASE_S * math.exp(key * _RATIO), self.max_s)
        return self.max_s


def quantile(values: Iterable[float], q: float) -> float | None:
    """Exact quantile (nearest rank) of a small sample; None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


@dataclass(slots=True)
class Ledger:
    """What one client received on one channel: positions in arrival order, checked as they come.

    Events of a channel must arrive exactly once and in increasing position, so `received` stays
    sorted; an event older than the last one is either a duplicate or out of order, told apart by
    a binary search (rare, so cheap).
    """

    received: array[int] = field(default_factory=lambda: array("q"))
    late: list[int] = field(default_factory=list)
    duplicates: int = 0
    out_of_order: int = 0

    @property
    def last(self) -> int:
        return self.received[-1] if self.received else -1

    def record(self, position: int) -> bool:
        """Count one arrival; True when it is new (not a duplicate)."""
        if position > self.last:
            self.received.append(position)
            return True
        i = bisect_left(self.received, position)
        if (i < len(self.received) and self.received[i] == position) or position in self.late:
            self.duplicates += 1
            return False
        self.out_of_order += 1
        self.late.append(position)
        return True

    def hits(self, expected: frozenset[int]) -> int:
        """How many of the expected positions arrived (each counted once)."""
        return sum(1 for p in self.received if p in expected) + sum(
            1 for p in self.late if p in expected
        )


@dataclass(slots=True)
class Tally:
    """The sum of many ledgers against what the driver committed."""

    expected: int = 0
    received: int = 0
    missing: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    unexpected: int = 0
    incomplete_clients: int = 0

    def add(self, ledger: Ledger, expected: frozenset[int]) -> None:
        hit = ledger.hits(expected)
        total = len(ledger.received) + len(ledger.late)
        self.expected += len(expected)
        self.received += hit
        self.missing += len(expected) - hit
        self.duplicates += ledger.duplicates
        self.out_of_order += ledger.out_of_order
        self.unexpected += total - hit
        if hit < len(expected):
            self.incomplete_clients += 1

    def merge(self, other: Mapping[str, int]) -> None:
        for name in Tally.__slots__:
            setattr(self, name, getattr(self, name) + int(other.get(name, 0)))

    def as_dict(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in Tally.__slots__}
