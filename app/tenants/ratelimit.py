"""Login throttling per account and per client address (fixed windows, in process).

Each API replica keeps its own counters; the per-account limit is what stops password guessing,
and it holds per replica (N replicas allow at most N times the budget).
"""

from __future__ import annotations

import math
from collections import OrderedDict

from app.kernel.clock import Clock, utc_now

# Bounded so that a flood of distinct keys cannot grow memory without limit.
MAX_KEYS = 50_000


class LoginThrottle:
    def __init__(
        self,
        *,
        per_account: int = 5,
        per_address: int = 30,
        window_s: float = 300.0,
        clock: Clock = utc_now,
    ) -> None:
        self._limits = {"account": per_account, "address": per_address}
        self._window = window_s
        self._clock = clock
        self._hits: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()

    def retry_after(self, account: str, address: str) -> int:
        """Seconds to wait before another attempt is allowed (0: go ahead)."""
        now = self._clock().timestamp()
        waits = []
        for kind, key in (("account", account), ("address", address)):
            start, count = self._hits.get((kind, key), (now, 0))
            if now - start < self._window and count >= self._limits[kind]:
                waits.append(math.ceil(self._window - (now - start)))
        return max(waits, default=0)

    def failed(self, account: str, address: str) -> None:
        now = self._clock().timestamp()
        for kind, key in (("account", account), ("address", address)):
            start, count = self._hits.pop((kind, key), (now, 0))
            if now - start >= self._window:
                start, count = now, 0
            self._hits[(kind, key)] = (start, count + 1)
        while len(self._hits) > MAX_KEYS:
            self._hits.popitem(last=False)

    def succeeded(self, account: str) -> None:
        self._hits.pop(("account", account), None)
