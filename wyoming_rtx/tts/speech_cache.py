"""A bounded cache of rendered sentences, so an answer the house hears daily is instant.

Local answers come from a handful of templates ("Turned on the lights", "Locking"), and
rendering one still costs piper 100-150 ms on a 2-core CPU: most of the time left between
the transcript and the first sound. Home Assistant caches its own TTS output for the same
reason. Entries are whole sentences keyed by voice, synthesis settings and exact text; only
short requests are kept (an answer, or one streamed sentence: long texts rarely repeat, and
their sentences would push real answers out), and the total is capped in bytes with
least-recently-used eviction, so memory stays bounded however varied the answers are.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

MAX_CACHED_CHARS = 160
"""Requests (and sentences) longer than this are rendered every time."""


class SpeechCache:
    """LRU of PCM per (voice, settings, sentence); not thread-safe: use it on the event loop."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0

    @property
    def size_bytes(self) -> int:
        """PCM bytes held now (always <= max_bytes)."""
        return self._bytes

    def get(self, key: Hashable) -> bytes | None:
        """The cached PCM, marked as recently used; None (a miss) if absent."""
        pcm = self._entries.get(key)
        if pcm is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return pcm

    def put(self, key: Hashable, text: str, pcm: bytes) -> None:
        """Keep a fully rendered sentence, evicting the least recently used past the cap."""
        if not pcm or len(text) > MAX_CACHED_CHARS or len(pcm) > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        self._entries[key] = pcm
        self._bytes += len(pcm)
        while self._bytes > self.max_bytes:
            _key, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted)
