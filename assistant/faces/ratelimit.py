"""Questions per browser session and minute: one user (or script) cannot occupy a shared server."""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """A sliding one-minute window per key (the Gradio session). Memory stays bounded: idle keys
    are dropped, and at most `max_keys` sessions are tracked."""

    def __init__(self, per_minute: int, window: float = 60.0, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute, self.window, self.max_keys, self.clock = per_minute, window, max_keys, clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, key: str) -> float:
        """0 and the question counts, or how long this session must wait before asking again."""
        if self.per_minute <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return self.window - (now - hits[0])
            hits.append(now)
            if len(self._hits) > self.max_keys:
                self._prune(now)
            return 0.0

    def _prune(self, now: float) -> None:
        for k in [k for k, h in self._hits.items() if not h or now - h[-1] >= self.window]:
            del self._hits[k]
        while len(self._hits) > self.max_keys:  # still too many: forget the oldest sessions
            del self._hits[next(iter(self._hits))]
