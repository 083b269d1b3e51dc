"""Conversation memory bounds, with a fake clock."""

from __future__ import annotations

from wyoming_rtx.handle.conversations import ConversationStore


def test_history_is_bounded_and_expires_after_idle() -> None:
    now = [0.0]
    store = ConversationStore(max_turns=20, idle_seconds=300, clock=lambda: now[0])
    for i in range(25):
        store.add_turn("c", f"u{i}", f"a{i}")
    history = store.history("c")
    assert len(history) == 40
    assert history[0] == {"role": "user", "content": "u5"}
    assert history[-1] == {"role": "assistant", "content": "a24"}
    now[0] = 299.0
    assert store.history("c")
    store.add_turn("c", "again", "ok")  # use refreshes the idle clock
    now[0] = 598.0
    assert len(store.history("c")) == 42 - 2
    now[0] = 599.5
    assert store.history("c") == [] and len(store) == 0
    assert store.history("other") == []
