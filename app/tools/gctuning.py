"""Garbage-collector settings for a serving process.

A full (generation 2) collection walks every tracked object, and a serving process holds many
that live for good: modules, routes, pooled sessions' statement caches, aggregate snapshots,
warm projection rows. Measured under the write benchmark, those collections paused the event
loop for up to ~100 ms, a whole p99 on their own. So once the process has started, everything
alive is frozen out of the collector's view, and the young generation is collected less often
(requests make mostly acyclic garbage that reference counting already frees).
"""

from __future__ import annotations

import gc

# Allocations between young collections (CPython's default is 700).
YOUNG_THRESHOLD = 20_000


def settle() -> None:
    """Call once, after start-up: later collections skip what start-up built."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
