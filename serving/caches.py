"""Caches made once per app by `create_app`: each builds a value once per key.

cachetools caches are not thread-safe; `cachetools.cached` with a `threading.Condition` both
serialises access and makes a second caller of a key wait for the first one's build rather
than build it again (no stampede when several managers open the same view).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from cachetools import Cache, LRUCache, TTLCache, cached


class BuildOnceCache:
    """Values kept per key (up to `entries`, for `seconds` if given), each built once."""

    def __init__(self, entries: int, seconds: float | None = None) -> None:
        self.entries: Cache[Hashable, Any] = (
            TTLCache(maxsize=entries, ttl=seconds)
            if seconds is not None
            else LRUCache(maxsize=entries)
        )
        self._get = cached(
            self.entries, key=lambda key, build: key, condition=threading.Condition()
        )(lambda key, build: build())

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The value kept for `key`, else `build()` (kept, unless it raised)."""
        return self._get(key, build)

    def clear(self) -> None:
        self._get.cache_clear()
