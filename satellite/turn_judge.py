"""Smart Turn on the satellite: a turn whose sound is surely complete ends at a short pause.

In Home Assistant mode, and in direct mode with a server that does not judge the turn
(``--end-of-turn satellite``, or another project's server), the satellite alone says when the
user is done, and it has no transcript, only the sound. Without a judge that is the silence
rule: every command waits its whole window (500 ms), and a pause longer than that in the
middle of one cuts it off. With Smart Turn v3 (the server's end-of-turn model, run here on
the CPU with one thread) the turn is scored once per pause, 0.2 s into it, and the shared
rule ``sound_only_wait`` (``wyoming_rtx/audio/endpoint.py``) ends it there when the sound is
surely complete, or waits longer when it is not.

A call took 36 ms (median, 45 ms at most) with one thread on this project's 2-core Xeon box;
a slower board's verdict simply arrives later in the pause, and the silence rule still ends
the turn should the verdict not have come by then. The model runs in its own thread, never
on the event loop. A direct server that judges the turn itself (it said ``voice-started``)
makes the satellite's judge stand aside: the server has the transcript and the home.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from wyoming_rtx.audio.endpoint import (
    END_PAUSE_SECONDS,
    EndOfTurnDetector,
    TurnPhase,
    sound_only_wait,
)

if TYPE_CHECKING:
    from wyoming_rtx.audio.turn_model import TurnModel

_LOGGER = logging.getLogger(__name__)

AUDIO_SECONDS = 8
"""Smart Turn reads the last 8 s of the turn; no more is kept."""
_MAX_BYTES = AUDIO_SECONDS * 16000 * 2


class TurnJudge:
    """One Smart Turn session and the current turn's last 8 s of audio."""

    def __init__(self, model: TurnModel) -> None:
        self.model = model
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="turn-judge")
        self._audio = bytearray()
        self._judged_pause: float | None = None
        """The pause (``last_speech_at``) already scored: once per pause."""

    def start_turn(self) -> None:
        """A new turn: forget the last one's audio and verdicts."""
        self._audio.clear()
        self._judged_pause = None

    def feed(self, pcm: bytes) -> None:
        """The turn's audio (16 kHz s16le mono), pre-roll included."""
        self._audio += pcm
        excess = len(self._audio) - _MAX_BYTES
        if excess > 0:
            del self._audio[: excess + excess % 2]

    def due(self, detector: EndOfTurnDetector) -> bool:
        """This pause has lasted 0.2 s and has not been scored yet."""
        return (
            detector.phase is TurnPhase.SPEAKING
            and detector.silence >= END_PAUSE_SECONDS - 1e-9
            and detector.last_speech_at != self._judged_pause
        )

    async def judge(self, detector: EndOfTurnDetector) -> float:
        """Score this pause: 0 = end the turn now, else the silence to wait (at least the
        rules' own). The loop awaits it before reading more audio, so the pause is still on."""
        self._judged_pause = detector.last_speech_at
        probability = await asyncio.get_running_loop().run_in_executor(
            self._executor, self.model.probability, bytes(self._audio)
        )
        wait = sound_only_wait(probability, detector.rules.silence_seconds)
        _LOGGER.debug(
            "Pause %.0f ms in: Smart Turn P(complete)=%.2f -> %s",
            detector.silence * 1000,
            probability,
            "end now" if wait == 0 else f"wait up to {wait:.1f} s of silence",
        )
        return wait

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def load_turn_judge(spec: str) -> TurnJudge | None:
    """The judge for ``--turn-model``: None for ``none``, and for ``auto`` when the bundled
    model or onnxruntime is not installed (one log line says how to add it). A path that is
    missing or no Smart Turn model raises ModelNotFoundError: the user asked for that file.
    Blocking (the model loads in ~0.2 s): call it off the event loop."""
    choice = spec.strip()
    if choice.lower() == "none":
        return None
    from wyoming_rtx.audio.turn_model import TurnModel
    from wyoming_rtx.errors import ModelNotFoundError

    auto = choice.lower() in ("", "auto")
    try:
        model = TurnModel.load(None if auto else choice)
    except ModelNotFoundError as err:
        if not auto:
            raise
        _LOGGER.info(
            "End of turn: the silence rule alone (--vad-silence-ms); for Smart Turn, which "
            "ends a complete turn at a short pause: %s",
            err,
        )
        return None
    model.warm()
    _LOGGER.info("End of turn: Smart Turn (%s) judges each pause", model.path.name)
    return TurnJudge(model)
