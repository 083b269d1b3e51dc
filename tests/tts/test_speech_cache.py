"""The sentence cache: bounded in bytes, least recently used out first, exact keys only."""

from __future__ import annotations

from wyoming_rtx.settings import TtsSettings
from wyoming_rtx.tts.engine import TtsEngine
from wyoming_rtx.tts.speech_cache import MAX_CACHED_CHARS, SpeechCache


def test_hit_miss_and_lru_eviction_by_bytes() -> None:
    cache = SpeechCache(max_bytes=10)
    cache.put("a", "a", b"12345")
    cache.put("b", "b", b"12345")
    assert cache.get("a") == b"12345"  # "a" is now the most recently used
    cache.put("c", "c", b"123")
    assert cache.size_bytes <= 10
    assert cache.get("b") is None, "the least recently used entry must go first"
    assert cache.get("a") == b"12345" and cache.get("c") == b"123"
    assert (cache.hits, cache.misses) == (3, 1)


def test_replacing_a_key_keeps_the_byte_count_true() -> None:
    cache = SpeechCache(max_bytes=100)
    cache.put("a", "a", b"x" * 40)
    cache.put("a", "a", b"x" * 10)
    assert cache.size_bytes == 10


def test_long_sentences_empty_audio_and_oversized_audio_are_not_kept() -> None:
    cache = SpeechCache(max_bytes=100)
    cache.put("long", "x" * (MAX_CACHED_CHARS + 1), b"pcm")
    cache.put("empty", "empty", b"")
    cache.put("huge", "huge", b"x" * 101)
    assert cache.size_bytes == 0
    assert cache.get("long") is None and cache.get("empty") is None and cache.get("huge") is None


def test_zero_bytes_disables_the_cache() -> None:
    cache = SpeechCache(max_bytes=0)
    cache.put("a", "a", b"x")
    assert cache.get("a") is None


async def test_engine_serves_a_repeated_sentence_from_the_cache() -> None:
    """The same answer twice: identical audio, the second without rendering; a longer text
    that merely contains it is a different sentence and a miss."""
    engine = TtsEngine(TtsSettings(noise_scale=0.0, noise_w_scale=0.0, cache_mb=1))
    try:
        first = [piece.pcm async for piece in engine.synthesize("Turned on the lights.")]
        assert engine.cache.hits == 0
        second = [piece.pcm async for piece in engine.synthesize("Turned on the lights.")]
        assert engine.cache.hits == 1
        # Rendered in pieces the first time (a cut voice), remembered and sent whole.
        assert b"".join(second) == b"".join(first) and first[0]
        other = [piece.pcm async for piece in engine.synthesize("Turned on the lights now.")]
        assert engine.cache.hits == 1 and other[0] != first[0]
    finally:
        await engine.close()


async def test_sentences_of_a_long_text_are_not_cached() -> None:
    """A long text's sentences are one-offs: caching them would evict the real answers."""
    engine = TtsEngine(TtsSettings(noise_scale=0.0, noise_w_scale=0.0, cache_mb=1))
    try:
        long_text = " ".join(f"Sentence {n} of a long story." for n in range(8))
        assert len(long_text) > MAX_CACHED_CHARS
        [piece async for piece in engine.synthesize(long_text)]
        assert engine.cache.size_bytes == 0
        [piece async for piece in engine.synthesize("Sentence 1 of a long story.")]
        assert engine.cache.hits == 0 and engine.cache.size_bytes > 0
    finally:
        await engine.close()
