"""End of the user's turn: end of speech -> first answer sound, per end-of-turn rule (issue 19).

    .venv/bin/python bench/end_of_turn.py --quick                  # a subset, under 4 minutes
    .venv/bin/python bench/end_of_turn.py [--configs fixed500,ha700,smart,smart-nomodel]

The recordings are made at bench time (``bench/turn_corpus.py``): several voices, room noise,
hesitations of 0.5-1.0 s, commands spoken slowly, and questions, with names from a home the
project was not tuned on (``bench/turn_home.yaml``). Every item goes through every end-of-turn
configuration in one run, interleaved item by item (the configurations' order rotates), so the
load drifting on this shared machine hits them all alike:

- ``fixed500`` "fixed 500 ms": the satellite's silence rule ends the turn after 500 ms;
- ``ha700`` "HA 0.7 s": the same with Home Assistant's 700 ms;
- ``smart`` "ours (smart)": the server decides (``--end-of-turn smart``, Smart Turn model): it
  says ``voice-started`` when it hears speech and ``voice-stopped`` when it ends the turn; the
  satellite then sends ``audio-stop`` and keeps only a 2.5 s silence rule as a fallback;
- ``smart-nomodel`` "ours, no model": ``--end-of-turn smart --turn-model none``.

The two fixed rules share one server (``--end-of-turn satellite`` where the server has that
option); each other server configuration has its own process, all on the bundled models, with
``--home-file bench/turn_home.yaml``, the speech cache off (``--tts-cache-mb 0``: every answer is
rendered, none replayed) and ``bench/fake_ollama.py`` as the LLM (first token after 150 ms, then
20 tokens/s). Turns run one at a time.

**The satellite is the real one** (``satellite/``): ``SatelliteLoop`` with its shared
``SpeechDetector`` + ``EndOfTurnDetector`` and pre-roll, ``DirectClient`` for the server link
(one connection per configuration, kept for the whole run), ``Speaker`` + ``AnswerPlayer`` for
the answer. The bench only supplies the seams a test would:

- the microphone: the item's samples in 32 ms chunks, each released when it has been "spoken"
  (absolute clock from the first sample, as ``FileMic`` paces in real time); it ends once the
  turn has ended (the loop then waits for the answer to play), or at the recording's end;
- the wake word: an engine that fires on the first chunk, so every turn starts at the item's
  first sample (the lead-in of room noise before the speech);
- the speaker: a sink that stamps the first answer audio written to it (the figure's end);
  the awake and done sounds are off, so the sink sees only the answer;
- a thin wrapper around the transport that stamps when ``audio-stop`` is sent and why.

Where the satellite code does not yet follow the server's ``voice-started``/``voice-stopped``
(its uplink has no ``server_ended``), a bench adapter does what it will do: on
``voice-started`` the turn's silence rule becomes the fallback (2.5 s), and ``voice-stopped``
ends the turn at once (``audio-stop``). The header says which one ran.

Figures, per configuration and kind (command, hesitation, slow, question), in ms:

- **first sound**: the item's true end of speech (``bench/turn_corpus.py``) to the first answer
  audio at the speaker sink, p50 and p95 (nearest rank), over the turns not cut off;
- **endpoint**: true end of speech to the end of the turn (``audio-stop`` sent, or
  ``voice-stopped`` received if sooner), p50, over the same turns;
- **ended early**: turns that ended before the true end of speech (for a hesitation: cut off
  in the pause, the cut-off rate); **words lost**: hesitations whose transcript lacks most of
  the words after the pause;
- **local**: share of turns the intents answered (the server's trace), and the transcript's
  word error rate (``bench/wer.py``).

Goals (issue 19, this 2-core CPU): local command p50 <= 350 ms and p95 <= 500 ms at the
speaker; LLM answer p50 <= 900 ms; at most 2 % of hesitations cut off; no slow command ended
early. Prints a markdown table and writes ``bench/results/latest/end_of_turn.{json,md}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from server_proc import RunningServer, launch, stop  # noqa: E402
from wyoming.client import AsyncClient  # noqa: E402
from wyoming.event import Event  # noqa: E402
from wyoming_helpers import free_port  # noqa: E402

from bench.fake_ollama import FakeOllama  # noqa: E402
from bench.stats import median, percentile  # noqa: E402
from bench.turn_corpus import Item, Plan, ensure_corpus, read_pcm  # noqa: E402
from bench.wer import corpus_wer, normalize  # noqa: E402
from satellite.audio_in import CHUNK_BYTES  # noqa: E402
from satellite.audio_out import Speaker  # noqa: E402
from satellite.core import SatelliteLoop, TurnUplink, build_info  # noqa: E402
from satellite.direct import DirectClient  # noqa: E402
from satellite.mic_supervisor import MicSupervisor  # noqa: E402
from satellite.settings import (  # noqa: E402
    DirectSettings,
    SatelliteSettings,
    SndSettings,
    VadSettings,
)
from satellite.wake import WakeDetection, WakeDetector, WakeWordModel  # noqa: E402
from wyoming_rtx.audio import endpoint  # noqa: E402
from wyoming_rtx.audio.endpoint import EndReason  # noqa: E402
from wyoming_rtx.audio.vad import CHUNK_SECONDS, SpeechDetector  # noqa: E402

RESULTS = REPO / "bench" / "results" / "latest"
HOME_FILE = REPO / "bench" / "turn_home.yaml"
TURN_TIMEOUT_S = 45.0
SETTLE_S = 0.3
"""Between turns: the server finishes the last one (played, trace) before the next starts."""
FALLBACK_MS = 2500
"""The satellite's own silence rule once the server judges the turn (issue 19)."""
REAL_SERVER_END = "server_ended" in getattr(TurnUplink, "__annotations__", {})
"""The satellite code itself follows the server's voice-started/voice-stopped."""


@dataclass(frozen=True)
class Config:
    """One end-of-turn configuration: a server and the satellite's rule."""

    key: str
    label: str
    server: str
    """Key of ``SERVERS``."""
    silence_ms: int
    fallback_ms: int | None = None
    """The satellite's rule after the server's ``voice-started`` (None: never switches)."""


CONFIGS: dict[str, Config] = {
    c.key: c
    for c in (
        Config("fixed500", "fixed 500 ms", "satellite", 500),
        Config("ha700", "HA 0.7 s", "satellite", 700),
        Config("smart", "ours (smart)", "smart", 500, FALLBACK_MS),
        Config("smart-nomodel", "ours, no model", "smart-nomodel", 500, FALLBACK_MS),
    )
}
SERVERS: dict[str, tuple[str, ...]] = {
    "satellite": ("--end-of-turn", "satellite"),
    "smart": ("--end-of-turn", "smart"),
    "smart-nomodel": ("--end-of-turn", "smart", "--turn-model", "none"),
}
"""Server flags per server configuration (where the server has ``--end-of-turn``)."""

QUICK = {"command": 4, "hesitation": 6, "slow": 3, "question": 3}
"""``--quick``: this many items of each kind, spread over the voices."""


# --- the satellite's seams ------------------------------------------------------------------


@dataclass
class TurnStamps:
    """One turn's clock readings (``time.monotonic``, the event loop's clock)."""

    t0: float = 0.0
    """When the item's first sample was "spoken" (the mic's start)."""
    ended: float | None = None
    """``audio-stop`` sent."""
    end_reason: str = ""
    events: dict[str, float] = field(default_factory=dict)
    """First arrival of each event type from the server."""
    first_sound: float | None = None
    """First answer audio written to the speaker sink."""
    sound_bytes: int = 0


class ScriptedWake:
    """A wake word engine that fires on the first audio it hears, once."""

    frame_seconds = CHUNK_SECONDS

    def __init__(self) -> None:
        self.models = [WakeWordModel("bench_turn", "(bench)", Path("bench_turn"))]
        self._armed = True

    def default_threshold(self, wake_id: str) -> float:
        return 0.5

    def process(self, pcm: bytes) -> list[dict[str, float]]:
        if self._armed and pcm:
            self._armed = False
            return [{"bench_turn": 1.0}]
        return []

    def reset(self) -> None:
        return None


class StampSink:
    """The speaker's sink: keeps nothing, stamps the first answer audio of the turn."""

    def __init__(self) -> None:
        self.turn: TurnStamps | None = None

    async def start(self) -> None:
        return None

    async def write(self, pcm: bytes) -> None:
        turn = self.turn
        if turn is not None and pcm:
            if turn.first_sound is None:
                turn.first_sound = time.monotonic()
            turn.sound_bytes += len(pcm)

    async def finish(self) -> None:
        return None

    async def abort(self) -> None:
        return None


class StampedUplink:
    """The real uplink, with ``audio-stop`` stamped; the server's verdict flags pass through
    (or are the bench adapter's, where the real uplink has none)."""

    def __init__(self, inner: Any, turn: TurnStamps) -> None:
        self.inner = inner
        self.turn = turn
        self.adapter_judges = False
        self.adapter_ended = False

    @property
    def server_judges(self) -> bool:
        return bool(getattr(self.inner, "server_judges", False)) or self.adapter_judges

    @property
    def server_ended(self) -> bool:
        return bool(getattr(self.inner, "server_ended", False)) or self.adapter_ended

    async def audio(self, pcm: bytes) -> None:
        await self.inner.audio(pcm)

    async def end(self, reason: EndReason) -> None:
        self.turn.ended = time.monotonic()
        self.turn.end_reason = reason.value
        await self.inner.end(reason)


class BenchClient(DirectClient):
    """The real direct-mode client; stamps each server event's first arrival per turn."""

    turn: TurnStamps | None = None
    on_server_verdict: Any = None
    """Bench adapter (satellite code without server end of turn): called with the event."""

    async def _handle(self, client: AsyncClient, event: Event) -> None:
        turn = self.turn
        if turn is not None:
            turn.events.setdefault(event.type, time.monotonic())
        if self.on_server_verdict is not None and event.type in ("voice-started", "voice-stopped"):
            self.on_server_verdict(event.type)
        await super()._handle(client, event)


class BenchTransport:
    """The direct client as the loop's transport, handing out stamped uplinks."""

    def __init__(self, client: BenchClient) -> None:
        self.client = client
        self.uplink: StampedUplink | None = None

    @property
    def busy(self) -> bool:
        return self.client.busy

    @property
    def answering(self) -> bool:
        return self.client.answering

    def take_follow_up(self) -> bool:
        self.client.take_follow_up()  # every bench turn starts with its (scripted) wake word
        return False

    def interrupt(self) -> None:
        self.client.interrupt()

    async def begin_turn(self, detection: WakeDetection) -> TurnUplink | None:
        inner = await self.client.begin_turn(detection)
        if inner is None or self.client.turn is None:
            return None
        self.uplink = StampedUplink(inner, self.client.turn)
        return self.uplink  # type: ignore[return-value]


class PacedMic:
    """The item as the microphone: 32 ms chunks at real-time pace from an absolute clock.

    Ends when the turn has ended (or the recording has). Where the satellite code does not
    follow the server's verdict itself, ``wake`` lets ``voice-stopped`` end the turn at once.
    """

    restartable = False

    def __init__(self, pcm: bytes, rig: Rig) -> None:
        self.chunks = [pcm[i : i + CHUNK_BYTES] for i in range(0, len(pcm), CHUNK_BYTES)]
        self.rig = rig
        self.index = 0
        self.wake = asyncio.Event()

    async def open(self) -> None:
        assert self.rig.client.turn is not None
        self.rig.client.turn.t0 = time.monotonic()

    async def read(self) -> bytes | None:
        rig, turn = self.rig, self.rig.client.turn
        assert turn is not None and rig.loop is not None
        if self.index >= len(self.chunks) or any(e.kind == "turn_ended" for e in rig.loop.events):
            return None
        due = turn.t0 + (self.index + 1) * CHUNK_SECONDS
        while (delay := due - time.monotonic()) > 0:
            if REAL_SERVER_END:
                await asyncio.sleep(delay)
                continue
            if await rig.adapter_step():
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), delay)
            self.wake.clear()
        if not REAL_SERVER_END and await rig.adapter_step():
            return None
        self.index += 1
        return self.chunks[self.index - 1]

    async def close(self) -> None:
        return None


class Rig:
    """One configuration's satellite: its settings, speaker, client and server link."""

    def __init__(self, config: Config, port: int, http_port: int) -> None:
        self.config = config
        self.port, self.http_port = port, http_port
        self.settings = SatelliteSettings(
            name=f"bench-{config.key}",
            area="Study",
            snd=SndSettings(awake_wav=None, done_wav=None, timer_finished_wav=None),
            vad=VadSettings(silence_ms=config.silence_ms),
            response_timeout_seconds=20.0,
            barge_in=False,
        )
        self.sink = StampSink()
        self.speaker = Speaker(self.settings.snd, self.sink)
        info = build_info(self.settings, ["bench_turn"], ["(bench)"])
        direct = DirectSettings(server_uri=f"tcp://127.0.0.1:{port}")
        self.client = BenchClient(self.settings, direct, self.speaker, info)
        self.transport = BenchTransport(self.client)
        self.vad = SpeechDetector(self.settings.vad.threshold)
        self.loop: SatelliteLoop | None = None
        self.last = TurnStamps()
        """The last turn's stamps (kept when the turn fails)."""
        self.mic: PacedMic | None = None
        self._link: asyncio.Task | None = None
        if not REAL_SERVER_END:
            self.client.on_server_verdict = self._verdict

    async def start(self) -> None:
        self._link = asyncio.create_task(self.client.run(), name=f"link {self.config.key}")
        await asyncio.wait_for(self.client.connected.wait(), 30)

    async def close(self) -> None:
        if self._link is not None:
            self._link.cancel()
            await asyncio.gather(self._link, return_exceptions=True)

    # The bench adapter, for satellite code that does not follow the server's verdict yet.
    def _verdict(self, event_type: str) -> None:
        uplink = self.transport.uplink
        if uplink is None or self.loop is None:
            return
        uplink.adapter_judges = True
        uplink.adapter_ended |= event_type == "voice-stopped"
        if self.mic is not None:
            self.mic.wake.set()

    async def adapter_step(self) -> bool:
        """Apply the server's verdict between chunks; True when it ended the turn."""
        loop, uplink = self.loop, self.transport.uplink
        if loop is None or uplink is None or loop._uplink is None:  # noqa: SLF001
            return False
        detector = loop._end_of_turn  # noqa: SLF001
        fallback = self.config.fallback_ms
        if uplink.adapter_judges and detector is not None and fallback is not None:
            detector.rules = replace(detector.rules, silence_seconds=fallback / 1000)
        if uplink.adapter_ended:
            reason = getattr(EndReason, "COMPLETE", EndReason.RELEASED)
            await loop._end_turn(reason)  # noqa: SLF001
            return True
        return False

    async def idle(self) -> None:
        """Until no answer is pending or playing (polled: ``busy`` is a property)."""
        for _ in range(int(TURN_TIMEOUT_S / 0.02)):
            if not self.client.busy:
                return
            await asyncio.sleep(0.02)

    async def turn(self, item: Item, pcm: bytes) -> tuple[TurnStamps, str, str]:
        """One turn of ``item``; returns (stamps, transcript, answer text)."""
        await self.idle()  # the last answer still plays (or its bound runs out)
        stamps = self.last = TurnStamps()
        heard, answered = len(self.client.transcripts), len(self.client.answers)
        self.client.turn = self.sink.turn = stamps
        self.transport.uplink = None
        self.mic = PacedMic(pcm, self)
        mic = self.mic
        supervisor = MicSupervisor(self.settings.mic, lambda: mic)
        wake = WakeDetector(ScriptedWake(), self.settings.wake)
        self.loop = SatelliteLoop(
            self.settings, supervisor, wake, self.speaker, self.transport, self.vad
        )
        try:
            async with asyncio.timeout(TURN_TIMEOUT_S):
                await self.loop.run()
                await self.idle()
        finally:
            self.client.turn = self.sink.turn = None
            self.mic = None
        transcript = " ".join(self.client.transcripts[heard:])
        answer = " ".join(text for _, text in self.client.answers[answered:])
        return stamps, transcript, answer


# --- one turn's record and the statistics ---------------------------------------------------


@dataclass
class TurnRecord:
    """One turn as measured: seconds after the true end of speech unless said otherwise."""

    config: str
    item: str
    kind: str
    route: str
    voice: str
    noise: str
    text: str
    transcript: str
    answer: str
    source: str
    """The server trace's answer source (local, llm, ...)."""
    server_end: str
    """The trace's ``end_of_turn`` (who ended the turn), where the server records it."""
    llm_requests: int
    speech_end_s: float
    """True end of speech, from the item's first sample."""
    pause_start_s: float | None
    pause_end_s: float | None
    after_pause: str
    ended_at_s: float | None
    """End of the turn from the item's first sample: audio-stop sent or voice-stopped heard."""
    ended_by: str
    """``satellite:<reason>`` or ``server`` (voice-stopped came first)."""
    endpoint_s: float | None
    first_sound_s: float | None
    """True end of speech -> first answer audio at the speaker sink."""
    first_chunk_s: float | None
    """True end of speech -> first answer ``audio-chunk`` received."""
    transcript_s: float | None
    error: str = ""
    draft: str = ""
    """The trace's ``draft``: an LLM answer started before the turn ended was ``kept`` (the
    final transcript said the same words) or ``dropped``; "" when none was started."""

    @property
    def cut_off(self) -> bool:
        return is_cut_off(self.ended_at_s, self.speech_end_s)

    @property
    def cut_in_pause(self) -> bool:
        return cut_in_pause(self.ended_at_s, self.pause_start_s, self.speech_end_s)

    @property
    def words_lost(self) -> bool:
        return bool(self.after_pause) and words_lost(self.transcript, self.after_pause)


def is_cut_off(ended_at_s: float | None, speech_end_s: float) -> bool:
    """The turn ended before the speaker had finished (its true end of speech)."""
    return ended_at_s is not None and ended_at_s < speech_end_s


def cut_in_pause(
    ended_at_s: float | None, pause_start_s: float | None, speech_end_s: float
) -> bool:
    """A hesitation's turn ended after the pause began and before the speech ended."""
    if ended_at_s is None or pause_start_s is None:
        return False
    return pause_start_s <= ended_at_s < speech_end_s


def words_lost(transcript: str, after_pause: str) -> bool:
    """The transcript lacks most (more than half) of the words said after the pause."""
    heard = set(normalize(transcript))
    words = normalize(after_pause)
    return bool(words) and sum(word in heard for word in words) * 2 < len(words)


def build_record(
    config: Config,
    item: Item,
    stamps: TurnStamps,
    transcript: str,
    answer: str,
    trace: dict[str, Any],
    llm_requests: int,
    error: str = "",
) -> TurnRecord:
    """Turn the clock readings into seconds after the item's true end of speech."""
    end_of_speech = stamps.t0 + item.speech_end_s

    def after(at: float | None) -> float | None:
        return None if at is None or not stamps.t0 else round(at - end_of_speech, 4)

    stopped = stamps.events.get("voice-stopped")
    candidates = [t for t in (stamps.ended, stopped) if t is not None]
    ended = min(candidates) if candidates else None
    if ended is None:
        ended_by = ""
    elif stopped is not None and ended == stopped:
        ended_by = "server"
    else:
        ended_by = f"satellite:{stamps.end_reason}"
    return TurnRecord(
        config=config.key,
        item=item.name,
        kind=item.kind,
        route=item.route,
        voice=item.voice,
        noise=item.noise,
        text=item.text,
        transcript=transcript,
        answer=answer,
        source=str(trace.get("source", "")),
        server_end=str(trace.get("end_of_turn", "")),
        draft=str(trace.get("draft", "")),
        llm_requests=llm_requests,
        speech_end_s=item.speech_end_s,
        pause_start_s=item.pause_start_s,
        pause_end_s=item.pause_end_s,
        after_pause=item.after_pause,
        ended_at_s=None if ended is None else round(ended - stamps.t0, 4),
        ended_by=ended_by,
        endpoint_s=after(ended),
        first_sound_s=after(stamps.first_sound),
        first_chunk_s=after(stamps.events.get("audio-chunk")),
        transcript_s=after(stamps.events.get("transcript")),
        error=error,
    )


@dataclass
class Summary:
    """One configuration and kind."""

    config: str
    kind: str
    turns: int
    errors: int
    local: int
    first_sound_ms: list[float]
    """Over the turns not cut off that produced sound."""
    endpoint_ms: list[float]
    """Over the turns not cut off (a cut-off turn's endpoint is negative)."""
    ended_early: int
    cut_in_pause: int
    words_lost: int
    wer: float | None

    def p50(self, values: Sequence[float]) -> float | None:
        return median(values) if values else None

    def p95(self, values: Sequence[float]) -> float | None:
        return percentile(values, 95) if values else None


def summarize(
    records: Sequence[TurnRecord], config: str, kind: str, only_local: bool = False
) -> Summary:
    """Statistics of ``config``'s turns of ``kind`` (``*`` for every kind); ``only_local``
    keeps the turns the intents answered (the local-command goal)."""
    rows = [r for r in records if r.config == config and kind in ("*", r.kind)]
    if only_local:
        rows = [r for r in rows if r.source == "local"]
    done = [r for r in rows if not r.error]
    sound = [r.first_sound_s * 1000 for r in done if r.first_sound_s is not None and not r.cut_off]
    endpoint = [r.endpoint_s * 1000 for r in done if r.endpoint_s is not None and not r.cut_off]
    pairs = [(r.text, r.transcript) for r in done]
    return Summary(
        config=config,
        kind=kind,
        turns=len(rows),
        errors=len(rows) - len(done),
        local=sum(r.source == "local" for r in done),
        first_sound_ms=sound,
        endpoint_ms=endpoint,
        ended_early=sum(r.cut_off for r in done),
        cut_in_pause=sum(r.cut_in_pause for r in done),
        words_lost=sum(r.words_lost for r in done),
        wer=corpus_wer(pairs) if pairs else None,
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _share(count: int, total: int) -> str:
    return "-" if total == 0 else f"{count}/{total} ({100 * count / total:.0f} %)"


KIND_LABELS = {
    "command": "command",
    "hesitation": "hesitation (0.5-1.0 s)",
    "slow": "slow command",
    "question": "question (LLM)",
}


def goals(records: Sequence[TurnRecord], config: str) -> list[tuple[str, str, bool | None]]:
    """(goal, this run's figure, met) for one configuration; met is None without data."""
    local = summarize(records, config, "command", only_local=True)
    llm = summarize(records, config, "question")
    hes = summarize(records, config, "hesitation")
    slow = summarize(records, config, "slow")
    out: list[tuple[str, str, bool | None]] = []
    p50, p95 = local.p50(local.first_sound_ms), local.p95(local.first_sound_ms)
    out.append(("local command p50 <= 350 ms", _ms(p50), None if p50 is None else p50 <= 350))
    out.append(("local command p95 <= 500 ms", _ms(p95), None if p95 is None else p95 <= 500))
    q50 = llm.p50(llm.first_sound_ms)
    out.append(("LLM answer p50 <= 900 ms", _ms(q50), None if q50 is None else q50 <= 900))
    done = hes.turns - hes.errors
    rate = hes.ended_early / done if done else None
    out.append(
        (
            "hesitations cut off <= 2 %",
            "-" if rate is None else f"{100 * rate:.0f} %",
            None if rate is None else rate <= 0.02,
        )
    )
    slow_done = slow.turns - slow.errors
    out.append(
        (
            "no slow command ended early",
            f"{slow.ended_early}/{slow_done}",
            None if not slow_done else slow.ended_early == 0,
        )
    )
    return out


def report(records: Sequence[TurnRecord], configs: Sequence[Config], header: list[str]) -> str:
    lines = [
        *header,
        "",
        "| config | kind | turns | answered locally | first sound p50 | p95 | endpoint p50 "
        "| ended early | words after pause lost | WER |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for config in configs:
        for kind in ("command", "hesitation", "slow", "question"):
            s = summarize(records, config.key, kind)
            if not s.turns:
                continue
            done = s.turns - s.errors
            lost = _share(s.words_lost, done) if kind == "hesitation" else ""
            errors = f" ({s.errors} failed)" if s.errors else ""
            lines.append(
                f"| {config.label} | {KIND_LABELS[kind]} | {s.turns}{errors} "
                f"| {_share(s.local, done)} | {_ms(s.p50(s.first_sound_ms))} "
                f"| {_ms(s.p95(s.first_sound_ms))} | {_ms(s.p50(s.endpoint_ms))} "
                f"| {_share(s.ended_early, done)} | {lost} "
                f"| {'-' if s.wer is None else f'{100 * s.wer:.0f} %'} |"
            )
    lines += [
        "",
        "| goal | " + " | ".join(c.label for c in configs) + " |",
        "|---|" + "---|" * len(configs),
    ]
    per_config = [goals(records, c.key) for c in configs]
    for row, (goal, _, _) in enumerate(per_config[0] if per_config else []):
        cells = []
        for checks in per_config:
            _, figure, met = checks[row]
            cells.append(f"{figure} {'-' if met is None else ('met' if met else 'missed')}")
        lines.append(f"| {goal} | " + " | ".join(cells) + " |")
    for config in configs:
        questions = [
            r for r in records if r.config == config.key and r.kind == "question" and not r.error
        ]
        kept = sum(r.draft == "kept" for r in questions)
        if any(r.draft for r in questions):
            lines += [
                "",
                f"{config.label}: LLM drafts kept {kept}/{len(questions)} questions (the LLM "
                "and the first sentence started on the pause's fast transcript, before the "
                "turn ended); LLM requests per question: "
                f"{sum(r.llm_requests for r in questions)}/{len(questions)}.",
            ]
    lines += [
        "",
        "ms from the item's true end of speech. first sound: to the first answer audio at the "
        "satellite's speaker sink, and endpoint: to the end of the turn (audio-stop sent, or "
        "voice-stopped heard if sooner), both over the turns not ended early; ended early: the "
        "turn ended before the true end of speech (a hesitation cut off in its pause, a slow "
        "command cut between words); words after pause lost: the transcript lacks most of them;"
        " WER: the transcript against the text. The local-command goals count the plain "
        "commands the intents answered (a misheard name goes to the LLM).",
    ]
    return "\n".join(lines)


# --- running it -----------------------------------------------------------------------------


def server_help() -> str:
    out = subprocess.run(
        [sys.executable, "-m", "wyoming_rtx", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    return out.stdout


def quick_items(items: Sequence[Item]) -> list[Item]:
    """``QUICK`` items of each kind, evenly spaced through the kind (so through the voices)."""
    chosen = []
    for kind, count in QUICK.items():
        of_kind = [i for i in items if i.kind == kind]
        step = len(of_kind) / count
        chosen += [of_kind[int(n * step)] for n in range(min(count, len(of_kind)))]
    return chosen


def latest_trace(http_port: int, satellite: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{http_port}/api/status"
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            turns = json.load(reply).get("turns", [])
    except (OSError, ValueError):
        return {}
    return next((t for t in turns if t.get("satellite") == satellite), {})


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


async def run(args: argparse.Namespace) -> int:
    help_text = server_help()
    has_end_of_turn = "--end-of-turn" in help_text
    wanted = (
        [k.strip() for k in args.configs.split(",")]
        if args.configs
        else (list(CONFIGS) if has_end_of_turn else ["fixed500", "ha700"])
    )
    unknown = [k for k in wanted if k not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown --configs {unknown}; known: {', '.join(CONFIGS)}")
    configs = [CONFIGS[k] for k in wanted]
    if not has_end_of_turn and any(c.server != "satellite" for c in configs):
        raise SystemExit(
            "this server has no --end-of-turn option yet: use --configs fixed500,ha700"
        )
    if not has_end_of_turn:
        print("note: the server has no --end-of-turn yet; the fixed rules run on its default")
    cache_flag = ("--tts-cache-mb", "0") if "--tts-cache-mb" in help_text else ()

    folder, items = ensure_corpus(Plan(seed=args.corpus_seed))
    if args.quick:
        items = quick_items(items)
    if args.limit:
        items = items[: args.limit]
    pcm = {item.name: read_pcm(folder / item.file) for item in items}
    order = list(items)
    random.Random(args.seed).shuffle(order)

    load_start = _load()
    fake = FakeOllama(tokens_per_s=args.tokens_per_s, first_token_s=args.first_token_s)
    fake.start()
    servers: dict[str, tuple[RunningServer, int]] = {}
    rigs: dict[str, Rig] = {}
    records: list[TurnRecord] = []
    tmp = Path(tempfile.mkdtemp(prefix="end-of-turn-"))
    started = time.monotonic()
    try:
        for key in dict.fromkeys(c.server for c in configs):
            http_port = free_port()
            flags = SERVERS[key] if has_end_of_turn else ()
            print(f"starting server {key}: {' '.join(flags) or '(default end of turn)'}")
            servers[key] = (
                launch(
                    tmp,
                    "--device",
                    args.device,
                    "--home-file",
                    str(HOME_FILE),
                    "--ollama-url",
                    fake.url,
                    "--llm-model",
                    fake.model,
                    "--http-uri",
                    f"http://127.0.0.1:{http_port}",
                    *cache_flag,
                    *flags,
                    *args.server_arg,
                ),
                http_port,
            )
        for config in configs:
            server, http_port = servers[config.server]
            rigs[config.key] = Rig(config, server.port, http_port)
            await rigs[config.key].start()
        warm = [i for i in items if i.kind == "command"][:1] + [
            i for i in items if i.kind == "question"
        ][:1]
        for config in configs:  # first-use costs stay out of the figures
            for item in warm:
                with contextlib.suppress(Exception):
                    await rigs[config.key].turn(item, pcm[item.name])
                await asyncio.sleep(SETTLE_S)
        total = len(order) * len(configs)
        for n, item in enumerate(order):
            shift = n % len(configs)
            for config in configs[shift:] + configs[:shift]:
                records.append(await one_turn(rigs[config.key], config, item, pcm[item.name], fake))
                r = records[-1]
                print(
                    f"  {len(records):3}/{total} {config.key:13} {item.name:14} "
                    f"end {_ms(None if r.endpoint_s is None else r.endpoint_s * 1000):>5} "
                    f"sound {_ms(None if r.first_sound_s is None else r.first_sound_s * 1000):>5}"
                    f" {r.ended_by:18} {r.source:5} {'CUT ' if r.cut_off else ''}"
                    f"{r.transcript[:48]!r}{' ' + r.error[:60] if r.error else ''}"
                )
    finally:
        for rig in rigs.values():
            await rig.close()
        codes = {key: stop(server) for key, (server, _) in servers.items()}
        fake.stop()
    elapsed = time.monotonic() - started
    satellite_code = (
        "the satellite's own (voice-started/voice-stopped followed by satellite/)"
        if REAL_SERVER_END
        else "bench adapter (satellite/ does not follow voice-started/voice-stopped yet)"
    )
    fallback = getattr(endpoint, "SATELLITE_FALLBACK_SECONDS", None)
    header = [
        f"End of turn, direct satellite: {len(order)} items x {len(configs)} configurations"
        f"{' (--quick)' if args.quick else ''}, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{elapsed:.0f} s",
        "",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {args.device}; load "
        f"(1/5 min) {load_start} at start, {_load()} at end",
        f"- server: bundled models, --home-file bench/turn_home.yaml; speech cache "
        f"{'off (--tts-cache-mb 0): figures are rendered speech' if cache_flag else 'on'}; "
        f"fake Ollama first token {args.first_token_s * 1000:.0f} ms, "
        f"{args.tokens_per_s:g} tokens/s; exit codes {codes}",
        f"- corpus: bench/turn_corpus.py seed {args.corpus_seed} ({folder.name}); "
        f"order seed {args.seed}",
        f"- server end of turn on the satellite: {satellite_code}"
        + (
            f"; fallback silence {fallback:g} s"
            if REAL_SERVER_END and fallback
            else f"; fallback silence {FALLBACK_MS} ms"
        ),
    ]
    table = report(records, configs, header)
    print()
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "end_of_turn.md").write_text(table + "\n")
    payload = {
        "header": header,
        "configs": [asdict(c) for c in configs],
        "items": [asdict(i) for i in items],
        "turns": [
            asdict(r)
            | {"cut_off": r.cut_off, "cut_in_pause": r.cut_in_pause, "words_lost": r.words_lost}
            for r in records
        ],
    }
    (args.out / "end_of_turn.json").write_text(json.dumps(payload, indent=1) + "\n")
    failed = any(code != 0 for code in codes.values()) or not records
    return 1 if failed else 0


async def one_turn(
    rig: Rig, config: Config, item: Item, pcm: bytes, fake: FakeOllama
) -> TurnRecord:
    chats = fake.chat_requests
    error = ""
    stamps, transcript, answer = TurnStamps(), "", ""
    try:
        stamps, transcript, answer = await rig.turn(item, pcm)
    except Exception as err:  # noqa: BLE001 - recorded, the run goes on
        error = repr(err)[:300]
        stamps = rig.last
    await asyncio.sleep(SETTLE_S)  # the trace finishes (played) before it is read
    trace = await asyncio.to_thread(latest_trace, rig.http_port, rig.settings.name)
    return build_record(
        config, item, stamps, transcript, answer, trace, fake.chat_requests - chats, error
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a subset ({sum(QUICK.values())} items), under 4 minutes",
    )
    parser.add_argument(
        "--configs",
        default="",
        help=f"comma-separated, of {', '.join(CONFIGS)} (default: all the server supports)",
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N items (smoke)")
    parser.add_argument("--seed", type=int, default=1, help="order of the items")
    parser.add_argument(
        "--corpus-seed",
        type=int,
        default=Plan.seed,
        help="the recordings' seed (bench/turn_corpus.py)",
    )
    parser.add_argument("--tokens-per-s", type=float, default=20.0, help="fake LLM rate")
    parser.add_argument("--first-token-s", type=float, default=0.15)
    parser.add_argument("--device", default="cpu", help="server --device (cpu, cuda, auto)")
    parser.add_argument(
        "--server-arg", action="append", default=[], help="extra flag for every server (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
