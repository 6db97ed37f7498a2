"""Bounded memory for what peers can make discovery remember: least recently used first out.

Every table keyed by something a peer chose (a source address, a cid, a host name) has a
limit, so a flood of spoofed announcements costs a fixed amount of memory, never more.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# Keys remembered by the once-only logs by default; beyond this the least recently used is
# forgotten (and its line may be logged again, which is harmless).
DEFAULT_ONCE_LIMIT = 1024


class BoundedOnce:
    """Remembers up to `limit` keys, least recently used forgotten: 'log this only once'."""

    def __init__(self, limit: int = DEFAULT_ONCE_LIMIT) -> None:
        self._seen: OrderedDict[object, None] = OrderedDict()
        self._limit = limit

    def __len__(self) -> int:
        return len(self._seen)

    def first(self, key: object) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return True

    def forget(self, key: object) -> None:
        self._seen.pop(key, None)


class LruDict(OrderedDict[K, V], Generic[K, V]):
    """A dict of at most `limit` entries; setting a key makes it the most recent and drops
    the least recently set beyond the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: K, value: V) -> None:
        if key in self:
            self.move_to_end(key)
        super().__setitem__(key, value)
        while len(self) > self.limit:
            self.popitem(last=False)
