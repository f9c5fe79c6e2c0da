"""Where an event's time goes on the whole path, hop by hop (for benchmarks/whole_path.py).

All processes run on one machine, so their wall clocks agree. Per event, exactly:

    sent       the load generator sends the HTTP mutation
    committed  the event's `time` (recorded_at: the API's clock as the unit of work starts,
               before its transaction commits; what clients see and the target is measured from)
    notified   a LISTEN on the event store's commit channel hears a head at or past the event
               (the same NOTIFY that wakes the relay)
    published  a Redis subscriber on the project channel receives the relay's message

Then, from each gateway node's /metrics histograms (so as percentiles, not per event): the node
hands the event to the channel (`commit_to_receive`), and writes it to the sockets
(`commit_to_send`); and from the Node load client: every client's receive time.
"""

from __future__ import annotations

import bisect
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


@dataclass
class Observed:
    """What the benchmark itself saw of each event, keyed by position."""

    sent: dict[str, tuple[float, float]] = field(default_factory=dict)  # stream: (sent, done)
    notifies: list[tuple[int, float]] = field(default_factory=list)  # (head, heard at)
    published: dict[int, tuple[float, float, str]] = field(default_factory=dict)

    def on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.notifies.append((int(payload), time.time()))

    def on_message(self, data: bytes) -> None:
        now = time.time()
        env = orjson.loads(data)
        committed = datetime.fromisoformat(env["time"]).timestamp()
        self.published[env["position"]] = (committed, now, env["stream"])

    def positions_after(self, position: int) -> list[int]:
        return sorted(p for p in self.published if p > position)

    def hops(self, positions: list[int]) -> dict[str, list[float]]:
        """Per-event durations in ms: each hop, and commit to each point."""
        heads = sorted(self.notifies)
        head_positions = [h for h, _ in heads]
        # Earliest time a head >= p was heard (heads arrive in commit order, mostly).
        earliest: list[float] = []
        best = float("inf")
        for _, heard in reversed(heads):
            best = min(best, heard)
            earliest.append(best)
        earliest.reverse()
        out: dict[str, list[float]] = {
            k: [] for k in ("request", "api_to_commit", "commit_notify", "relay_redis", "response")
        }
        for p in positions:
            committed, published, stream = self.published[p]
            i = bisect.bisect_left(head_positions, p)
            notified = earliest[i] if i < len(earliest) else float("nan")
            sent, done = self.sent.get(stream, (float("nan"), float("nan")))
            out["api_to_commit"].append((committed - sent) * 1000)
            out["commit_notify"].append((notified - committed) * 1000)
            out["relay_redis"].append((published - notified) * 1000)
            out["request"].append((published - committed) * 1000)
            out["response"].append((done - sent) * 1000)
        return out


def scrape(metrics_text: str, name: str) -> dict[float, float]:
    found = re.findall(rf'{name}_bucket\{{le="([^"]+)"\}} (\S+)', metrics_text)
    return {float(le): float(n) for le, n in found}


def histogram_quantile(
    before: list[dict[float, float]], after: list[dict[float, float]], q: float
) -> float:
    """Quantile q (seconds, linear within the bucket as Prometheus does) of the observations
    between two scrapes, summed over nodes."""
    bounds = sorted(after[0])
    counts = [
        sum(a.get(le, 0.0) - b.get(le, 0.0) for a, b in zip(after, before, strict=True))
        for le in bounds
    ]
    total = counts[-1] if counts else 0.0
    if not total:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for le, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= rank:
            if le == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (le - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = le, cumulative
    return lower


def table(
    hops: dict[str, list[float]],
    gateway: dict[str, tuple[float, float]],
    client: dict[str, Any],
) -> list[str]:
    """The per-hop lines of one run: p50 / p99 in ms."""

    def row(name: str, values: list[float]) -> str:
        return f"  {name:<44} p50 {pct(values, 0.5):7.1f}   p99 {pct(values, 0.99):7.1f}"

    def fixed(name: str, p50: float | None, p99: float | None) -> str:
        a = float("nan") if p50 is None else p50
        b = float("nan") if p99 is None else p99
        return f"  {name:<44} p50 {a:7.1f}   p99 {b:7.1f}"

    return [
        row("HTTP request sent -> response", hops["response"]),
        row("hop: request sent -> event time (API)", hops["api_to_commit"]),
        row("hop: event time -> NOTIFY heard (commit)", hops["commit_notify"]),
        row("hop: NOTIFY -> on Redis (relay pickup+publish)", hops["relay_redis"]),
        row("since event time: on Redis", hops["request"]),
        fixed("since event time: gateway receives (hist.)", *gateway["receive"]),
        fixed("since event time: gateway writes (hist.)", *gateway["send"]),
        fixed("since event time: client receives", client["p50"], client["p99"]),
    ]
