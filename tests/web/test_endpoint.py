"""End of speech for browser turns: the decision logic with plain numbers, then real silero."""

from __future__ import annotations

from pathlib import Path

from tests.web.helpers import LEAD_SECONDS, TAIL_SECONDS, read_pcm
from wyoming_rtx.web.app import silero_vad
from wyoming_rtx.web.endpoint import FRAME_BYTES, FRAME_SECONDS, Endpoint, Endpointer
from wyoming_rtx.web.endpoint import EndpointSettings as Settings


class ScriptedVad:
    """Returns the next scripted probability per frame; records the frames it saw."""

    def __init__(self, probabilities: list[float]) -> None:
        self._probabilities = iter(probabilities)
        self.frames: list[bytes] = []

    def __call__(self, frame: bytes) -> float:
        self.frames.append(frame)
        return next(self._probabilities)


def run(endpointer: Endpointer, frames: int, piece: int = 300) -> list[tuple[int, Endpoint]]:
    """Feed `frames` frames in odd-sized pieces; (frame index, event) for each event."""
    audio = bytes(frames * FRAME_BYTES)
    found = []
    for start in range(0, len(audio), piece):
        for event in endpointer.process(audio[start : start + piece]):
            found.append((round(endpointer.seconds / FRAME_SECONDS), event))
    return found


def test_speech_then_silence_ends_the_turn() -> None:
    quiet_frames = round(0.7 / FRAME_SECONDS + 0.5)
    vad = ScriptedVad([0.1] * 5 + [0.9] * 20 + [0.1] * 40)
    events = run(Endpointer(vad, Settings()), 65)
    assert events == [(8, Endpoint.SPEECH_STARTED), (25 + quiet_frames, Endpoint.END_OF_SPEECH)]
    assert {len(frame) for frame in vad.frames} == {FRAME_BYTES}


def test_a_click_is_not_speech_and_silence_times_out() -> None:
    vad = ScriptedVad(([0.9, 0.9, 0.1] * 100)[:100])
    settings = Settings(no_speech_seconds=2.0)
    events = run(Endpointer(vad, settings), 100)
    assert events == [(round(2.0 / FRAME_SECONDS + 0.5), Endpoint.NO_SPEECH)]


def test_push_to_talk_ignores_silence_but_not_the_length_cap() -> None:
    vad = ScriptedVad([0.9] * 3 + [0.1] * 200)
    settings = Settings(max_seconds=3.0)
    events = run(Endpointer(vad, settings, end_on_silence=False), 203)
    assert events[0] == (3, Endpoint.SPEECH_STARTED)
    assert events[1][1] is Endpoint.TOO_LONG
    assert abs(events[1][0] * FRAME_SECONDS - 3.0) <= FRAME_SECONDS


def test_nothing_after_the_end() -> None:
    vad = ScriptedVad([0.9] * 3 + [0.1] * 30 + [0.9] * 30)
    endpointer = Endpointer(vad, Settings(silence_seconds=0.3))
    assert [event for _, event in run(endpointer, 63)] == [
        Endpoint.SPEECH_STARTED,
        Endpoint.END_OF_SPEECH,
    ]
    assert endpointer.finished


def test_silero_finds_the_spoken_command(command_wav: Path) -> None:
    """On real speech: starts after the 1 s lead, ends 0.7 s after the words, before the tail."""
    pcm = read_pcm(command_wav)
    endpointer = Endpointer(silero_vad(), Settings())
    marks: dict[Endpoint, float] = {}
    for start in range(0, len(pcm), 640):
        for event in endpointer.process(pcm[start : start + 640]):
            marks[event] = endpointer.seconds
    total = len(pcm) / 2 / 16000
    speech_end = total - TAIL_SECONDS
    assert set(marks) == {Endpoint.SPEECH_STARTED, Endpoint.END_OF_SPEECH}
    assert LEAD_SECONDS - 0.1 <= marks[Endpoint.SPEECH_STARTED] <= LEAD_SECONDS + 0.4
    assert speech_end + 0.6 <= marks[Endpoint.END_OF_SPEECH] <= speech_end + 1.1
