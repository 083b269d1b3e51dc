"""Nothing from non-speech: tones, noise, hum, clicks, music and silence give no words.

Whisper writes words into anything ("You", "I'm", "Thank you."), and Home Assistant acts on
them. The clips here are generated, deterministically, and none was used to choose the rule
(speech_gate.py: silero's verdict, then faster-whisper's own confidence signals, all at their
libraries' default thresholds). Through the real server over Wyoming, sent at once and paced in
real time, at 16 kHz mono and at 44.1 kHz stereo (the server converts).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, lfilter, sosfilt
from server_proc import RunningServer, launch, stop
from wyoming_helpers import transcribe

from wyoming_rtx.asr.engine import AsrEngine
from wyoming_rtx.asr.speech_gate import (
    Heard,
    SegmentScore,
    SpeechRegions,
    Transcribed,
    gated_text,
    loops,
)
from wyoming_rtx.asr.vocabulary import home_vocabulary
from wyoming_rtx.home.home_file import FileHome

from .conftest import read_wav_16k_mono

NO_DECODE = "empty transcript, nothing decoded"
"""The server's log line for an utterance silero heard no speech in."""


def words(text: str) -> list[str]:
    """The words of a transcript; punctuation alone ("." on a chord) is none."""
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


# --- generated non-speech (numpy, fixed seeds) -------------------------------------------


def _at(x: np.ndarray, dbfs: float) -> np.ndarray:
    """Scaled so that its peak is at `dbfs`."""
    peak = float(np.max(np.abs(x))) or 1.0
    return x * (10 ** (dbfs / 20) / peak)


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    """1/f noise: white noise with its spectrum tilted by 1/sqrt(f)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=float)
    f[0] = 1.0
    return np.fft.irfft(spectrum / np.sqrt(f), n)


def _tone(rate: int, seconds: float, hz: float) -> np.ndarray:
    return np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)


def _beeps(rate: int) -> np.ndarray:
    """880 Hz, 250 ms on, 750 ms off, for 10 s: a timer or a smoke alarm."""
    t = np.arange(10 * rate) / rate
    return np.sin(2 * np.pi * 880 * t) * ((t % 1.0) < 0.25)


def _sweep(rate: int) -> np.ndarray:
    """Exponential sweep 100 Hz → 4 kHz over 15 s."""
    t = np.arange(15 * rate) / rate
    k = np.log(4000 / 100) / 15
    return np.sin(2 * np.pi * 100 * (np.exp(k * t) - 1) / k)


def _fan(rate: int, rng: np.random.Generator) -> np.ndarray:
    """30 s of mains hum with harmonics, slowly wavering, over rumble and some pink noise."""
    t = np.arange(30 * rate) / rate
    hum = sum(
        np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi)) / hz
        for hz in (50, 100, 150, 200, 300)
    )
    rumble = np.cumsum(rng.standard_normal(t.size))
    rumble -= np.convolve(rumble, np.ones(rate // 40) / (rate // 40), "same")
    return (
        hum * (1 + 0.2 * np.sin(2 * np.pi * 0.3 * t))
        + 0.5 * rumble / np.max(np.abs(rumble))
        + 0.03 * _pink(rng, t.size)
    )


def _clicks(rate: int, rng: np.random.Generator) -> np.ndarray:
    """40 sharp clicks (4 ms decaying impulses) at random times in 15 s."""
    out = np.zeros(15 * rate)
    length = int(0.004 * rate)
    decay = np.exp(-np.arange(length) / (0.0008 * rate))
    for at in rng.uniform(0, 14.9, 40):
        start = int(at * rate)
        out[start : start + length] += rng.choice([-1, 1]) * rng.uniform(0.3, 1) * decay
    return out


def _chords(rate: int) -> np.ndarray:
    """20 s of plucked triads (C, Am, F, G) with overtones and a square-wave bass."""
    chords = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6)]
    chords.append((196.0, 246.9, 293.7))
    out = np.zeros(20 * rate)
    beat = int(1.25 * rate)
    for n, start in enumerate(range(0, out.size, beat)):
        t = np.arange(min(beat, out.size - start)) / rate
        envelope = np.minimum(t / 0.02, 1) * np.exp(-t * 1.5)
        chord = chords[n % 4]
        for hz in chord:
            for harmonic in (1, 2, 3):
                out[start : start + t.size] += (
                    envelope * np.sin(2 * np.pi * hz * harmonic * t) / harmonic**1.5
                )
        out[start : start + t.size] += (
            0.6 * envelope * np.sign(np.sin(2 * np.pi * chord[0] / 2 * t))
        )
    return out


def non_speech(rate: int) -> dict[str, np.ndarray]:
    """Every clip at `rate`, float mono, peak-normalised to its level."""
    rng = np.random.default_rng(2020)
    clips = {
        "tone_440": _at(_tone(rate, 10, 440), -12),
        "tone_1k_loud": _at(_tone(rate, 12, 1000), -3),
        "beeps": _at(_beeps(rate), -6),
        "sweep": _at(_sweep(rate), -10),
        "fan_hum": _at(_fan(rate, rng), -14),
        "clicks": _at(_clicks(rate, rng), -3),
        "chords": _at(_chords(rate), -8),
        "silence": np.zeros(10 * rate),
        "dither": _at(rng.standard_normal(10 * rate), -80),
    }
    for dbfs in (-45, -25, -10):
        clips[f"white_{-dbfs}"] = _at(rng.standard_normal(10 * rate), dbfs)
    for dbfs in (-35, -15):
        clips[f"pink_{-dbfs}"] = _at(_pink(rng, 20 * rate), dbfs)
    return clips


def pcm16(x: np.ndarray, channels: int = 1) -> bytes:
    """s16le; stereo channels differ a little (the right one 7 samples late)."""
    samples = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    if channels == 2:
        samples = np.stack([samples, np.roll(samples, 7)], axis=1)
    return samples.tobytes()


CLIP_NAMES = sorted(non_speech(100))
FORMATS = [(16000, 1), (44100, 2)]


@pytest.fixture(scope="module")
def clips() -> Callable[[str, int, int], bytes]:
    """(name, rate, channels) → s16le bytes, generated once per format."""
    made: dict[tuple[int, int], dict[str, bytes]] = {}

    def get(name: str, rate: int, channels: int) -> bytes:
        if (rate, channels) not in made:
            made[rate, channels] = {
                clip: pcm16(x, channels) for clip, x in non_speech(rate).items()
            }
        return made[rate, channels][name]

    return get


def _vowel(seconds: float, f0: float) -> np.ndarray:
    """A synthetic vowel: a glottal pulse train through three formant resonators."""
    n = int(seconds * 16000)
    source = np.zeros(n)
    source[:: int(16000 / f0)] = 1.0
    out = source
    for hz, bandwidth in ((700, 80), (1220, 90), (2600, 120)):
        r = np.exp(-np.pi * bandwidth / 16000)
        theta = 2 * np.pi * hz / 16000
        out = lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], out)
    return out / np.max(np.abs(out)) * np.sin(np.linspace(0, np.pi, n)) ** 2


def _placed(base: np.ndarray, pieces: list[np.ndarray], every: float) -> np.ndarray:
    out = base.copy()
    for k, piece in enumerate(pieces):
        start = int((0.7 + k * every) * 16000)
        out[start : start + piece.size] += piece
    return out


@pytest.fixture(scope="module")
def blips(data_dir: Path) -> dict[str, bytes]:
    """Clips silero hears as speech only in blips (every region under 250 ms), 16 kHz mono:
    100 ms vowel-like buzzes in faint noise, and 120 ms slivers cut out of a recorded command
    (tiny.en heard "up, up, up, ..." and "Hello." in them)."""
    rng = np.random.default_rng(7)
    buzzes = [0.5 * _vowel(0.1, 100 + 20 * k) for k in range(6)]
    speech = np.frombuffer(read_wav_16k_mono(data_dir / "living_room_light_en.wav"), "<i2")
    slivers = [
        speech[int(at * 16000) : int((at + 0.12) * 16000)] / 32768.0
        for at in (0.45, 0.7, 0.95, 1.2, 1.45)
    ]
    return {
        "buzzes": pcm16(_placed(0.003 * rng.standard_normal(10 * 16000), buzzes, 1.5)),
        "slivers": pcm16(_placed(np.zeros(10 * 16000), slivers, 1.8)),
    }


RECORDINGS = (
    "living_room_light_en.wav",
    "turn_on_the_living_room_lamp.wav",
    "living_room_light_de.wav",
    "living_room_light_es.wav",
    "whats_your_name_french.wav",
)
"""Real recorded speech (tests/data), the talkers of the babble."""

BABBLE_SEEDS = range(4)
BABBLE_DBFS = -45.0


def _babble(talkers: list[np.ndarray], seed: int, dbfs: float, seconds: int = 10) -> np.ndarray:
    """A TV in another room: three talkers of reversed recorded speech over each other, each
    recording after the last with a 0.1-0.33 s gap, band-limited to 150 Hz-5 kHz like a TV's
    speaker, at `dbfs` RMS over a -60 dBFS floor. Speech-like sound without a word in it."""
    rng = np.random.default_rng(seed)
    n = seconds * 16000
    out = np.zeros(n)
    sources = [talker[::-1] for talker in talkers]
    for _ in range(3):
        at = int(rng.integers(0, 8000))
        while at < n:
            piece = sources[int(rng.integers(len(sources)))][: n - at]
            out[at : at + piece.size] += piece
            at += piece.size + int(rng.integers(1600, 5333))
    out = sosfilt(butter(4, (150, 5000), btype="bandpass", fs=16000, output="sos"), out)
    out *= 10 ** (dbfs / 20) / np.sqrt(np.mean(out**2))
    return out + rng.normal(0, 10 ** (-60 / 20), n)


@pytest.fixture(scope="module")
def talkers(data_dir: Path) -> list[np.ndarray]:
    """The recordings as float samples, 16 kHz mono."""
    return [
        np.frombuffer(read_wav_16k_mono(data_dir / name), "<i2") / 32768.0 for name in RECORDINGS
    ]


@pytest.fixture(scope="module")
def babble(talkers: list[np.ndarray]) -> dict[int, bytes]:
    """Seed → 10 s of TV babble at BABBLE_DBFS, 16 kHz mono s16le."""
    return {seed: pcm16(_babble(talkers, seed, BABBLE_DBFS)) for seed in BABBLE_SEEDS}


# --- the rule ------------------------------------------------------------------------------


def _heard(probabilities: list[float]) -> SpeechRegions:
    regions = SpeechRegions()
    regions.extend(probabilities)
    return regions


def test_regions_nothing_blips_and_speech() -> None:
    assert _heard([]).heard is Heard.NOTHING
    assert _heard([0.49] * 300).heard is Heard.NOTHING  # close, but never speech
    blips = _heard([0.0] * 10 + [0.9] * 3 + [0.1] * 20 + [0.6] * 7 + [0.0] * 5)
    assert blips.heard is Heard.BLIPS
    assert (blips.speech_chunks, blips.longest_chunks) == (10, 7)
    assert _heard([0.0] * 10 + [0.9] * 8 + [0.0] * 5).heard is Heard.SPEECH  # 256 ms
    # Hysteresis: a region lasts until a chunk below 0.35, so a soft syllable keeps it going.
    soft = _heard([0.9] * 3 + [0.4] * 6 + [0.2])
    assert (soft.longest_chunks, soft.heard) == (9, Heard.SPEECH)
    # Blips that never join (a quiet chunk between each) stay blips, however many.
    assert _heard([0.9, 0.9, 0.3] * 100).heard is Heard.BLIPS


def test_gated_text_keeps_speech_and_only_confident_blips() -> None:
    unsure = SegmentScore("Thank you.", no_speech_prob=0.7, avg_logprob=-0.5)
    garbled = SegmentScore("Hello.", no_speech_prob=0.5, avg_logprob=-1.4)
    sure = SegmentScore("Stop.", no_speech_prob=0.1, avg_logprob=-0.2)
    edge = SegmentScore("Yes.", no_speech_prob=0.6, avg_logprob=-1.0)  # the thresholds keep
    assert not unsure.confident and not garbled.confident and sure.confident and edge.confident
    assert gated_text(Heard.NOTHING, "Stop.", (sure,)) == ""
    assert gated_text(Heard.BLIPS, "Thank you. Hello.", (unsure, garbled)) == ""
    assert gated_text(Heard.BLIPS, "Thank you. Stop.", (unsure, sure)) == "Stop."
    assert gated_text(Heard.BLIPS, "", ()) == ""
    # The last guard: whisper's phrases for silence, even when it is sure, on blips only.
    thanks = SegmentScore("Thank you.", no_speech_prob=0.37, avg_logprob=-0.999)
    assert thanks.confident and thanks.silence_phrase
    assert gated_text(Heard.BLIPS, "Thank you.", (thanks,)) == ""
    assert gated_text(Heard.SPEECH, "Thank you.", (thanks,)) == "Thank you."
    assert not SegmentScore("Thank you, turn it off.", 0.1, -0.2).silence_phrase
    # Speech: whisper's own rule, and poorly heard words stay: the Spanish test recording
    # through tiny.en (measured: no_speech 0.13, avg_logprob -1.32).
    spanish = SegmentScore("Enthiendel aluis del salon.", no_speech_prob=0.133, avg_logprob=-1.324)
    spoken = "Thank you. Enthiendel aluis del salon."
    assert gated_text(Heard.SPEECH, spoken, (unsure, spanish)) == spoken


def test_speech_drops_what_whisper_failed_on_and_hears_no_speech_in() -> None:
    """Scores measured with the home's names as whisper's prompt. Silero hears speech in TV
    babble; whisper fails on it (avg_logprob under -1) and leans to no speech (over 0.45)."""
    tv = SegmentScore("The", no_speech_prob=0.561, avg_logprob=-3.754)  # the bench's babble
    floor = SegmentScore("The floor is on the floor.", no_speech_prob=0.59, avg_logprob=-1.9)
    assert tv.speechless and floor.speechless
    assert gated_text(Heard.SPEECH, "The", (tv,)) == ""
    assert gated_text(Heard.SPEECH, "The floor is on the floor.", (floor,)) == ""
    # Real speech whisper heard badly stays: an 8 kHz telephone command (0.29, -1.16), a
    # command at -50 dBFS (0.39, -1.003), and a confident one at -50 dBFS (0.451, -0.91).
    phone = SegmentScore("Turn on the video video layer.", no_speech_prob=0.29, avg_logprob=-1.16)
    quiet = SegmentScore("Too painted the mama we set.", no_speech_prob=0.394, avg_logprob=-1.003)
    sure = SegmentScore("Turn on the haddable feeder.", no_speech_prob=0.451, avg_logprob=-0.91)
    for kept in (phone, quiet, sure):
        assert not kept.speechless
        assert gated_text(Heard.SPEECH, kept.text, (kept,)) == kept.text
    # Only the speechless segment of a longer decode goes.
    both = "Turn on the video video layer. The"
    assert gated_text(Heard.SPEECH, both, (phone, tv)) == "Turn on the video video layer."


# --- the engine: no decode for no speech ---------------------------------------------------


def test_a_decoder_loop_is_dropped() -> None:
    """What the side-by-side bench's TV babble gave: a loop, whisper's compression-ratio test
    catches it; real sentences, even a long answer, pass."""
    loop = "I'm going to be back, " * 20
    assert loops(loop) and gated_text(Heard.SPEECH, loop, ()) == ""
    assert loops("Well, now, " + "now, " * 30)
    passage = (
        "The weather today will be sunny with a high of 24 degrees and light winds from the "
        "west. Tomorrow brings rain in the afternoon, so take an umbrella."
    )
    for text in ("Turn on the living room light.", "Yes, yes.", passage):
        assert not loops(text) and gated_text(Heard.SPEECH, text, ()) == text


@pytest.fixture
def decodes(engine: AsrEngine, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Records the seconds of audio of every decode the engine runs."""
    seen: list[float] = []
    run = engine._run

    def counted(model: object, audio: np.ndarray, *args: object) -> Transcribed:
        seen.append(audio.size / 16000)
        return run(model, audio, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "_run", counted)
    return seen


@pytest.mark.parametrize("name", ["tone_440", "tone_1k_loud", "chords", "silence", "pink_15"])
async def test_engine_decodes_nothing_without_speech(
    engine: AsrEngine, decodes: list[float], clips: Callable[..., bytes], name: str
) -> None:
    assert await engine.transcribe(clips(name, 16000, 1), "en") == ""
    assert decodes == []


async def test_engine_still_decodes_speech(
    engine: AsrEngine, decodes: list[float], light_pcm: bytes
) -> None:
    """The counter above counts: a command is decoded once, and heard as before."""
    assert (
        words(await engine.transcribe(light_pcm, "en")) == "turn on the living room light".split()
    )
    assert len(decodes) == 1


@pytest.mark.parametrize("name", ["buzzes", "slivers"])
async def test_blips_give_no_words(
    engine: AsrEngine, decodes: list[float], blips: dict[str, bytes], name: str
) -> None:
    """Blips are decoded (they may be a short word), but whisper's unsure words are dropped."""
    assert words(await engine.transcribe(blips[name], "en")) == []
    assert len(decodes) == 1
    stream = engine.stream("en")
    stream.feed(blips[name])
    assert words(await stream.finish()) == []
    assert stream.heard is Heard.BLIPS


@pytest.fixture
async def named(engine: AsrEngine, monkeypatch: pytest.MonkeyPatch) -> AsrEngine:
    """The engine with the bundled demo home's names as whisper's prompt, as the server has
    them: the prompt is what lowers whisper's no-speech probability on babble."""
    home = FileHome()
    await home.start()
    names = home_vocabulary(home.snapshot)
    assert names
    monkeypatch.setattr(engine, "vocabulary", lambda: names)
    return engine


@pytest.mark.parametrize("seed", BABBLE_SEEDS)
async def test_tv_babble_gives_no_words(
    named: AsrEngine, babble: dict[int, bytes], seed: int
) -> None:
    """Reversed recorded speech from a TV in another room: speech to silero, decoded, and
    dropped because whisper failed on it and leans to no speech. Before the rule, tiny.en
    wrote "The last floor will be the last floor." (seed 0), "The customer owner's private
    cash, ..." (1) and "The platform will be added to the floor." (2) into it. The rule's
    threshold was derived from other babble (speech_gate.PROMPTED_NO_SPEECH_THRESHOLD); it is
    not perfect alone: at -40 dBFS, 1 of 8 seeds (3) passes it (no_speech 0.41), which the
    unprompted decode then drops (the next test)."""
    assert words(await named.transcribe(babble[seed], "en")) == []
    stream = named.stream("en")
    stream.feed(babble[seed])
    assert words(await stream.finish()) == []
    assert stream.heard is Heard.SPEECH  # silero is fooled; whisper's own signals decide


@pytest.mark.parametrize("seed", [1, 3, 6])
async def test_louder_tv_babble_whisper_skips_unprompted_gives_no_words(
    named: AsrEngine, talkers: list[np.ndarray], seed: int
) -> None:
    """At -40 dBFS whisper fails on these with the names as prompt (avg_logprob -1.73, -1.84,
    -1.90), and seed 3 passes the gate above (no_speech 0.41: "The floor is on the floor."):
    a failed decode is decoded again without the names, and whisper's own rule skips it there
    (vocabulary.decode_with_names), as it does for the peer, which never prompts."""
    pcm = pcm16(_babble(talkers, seed, -40.0))
    assert words(await named.transcribe(pcm, "en")) == []


@pytest.mark.parametrize("name", ["living_room_light_en.wav", "turn_on_the_living_room_lamp.wav"])
async def test_quiet_real_speech_still_decodes(
    named: AsrEngine, data_dir: Path, manifest: list[dict], name: str
) -> None:
    """The same rule keeps a real command 5 dB quieter than the babble, over the same floor:
    level is not what tells them apart."""
    samples = np.frombuffer(read_wav_16k_mono(data_dir / name), "<i2") / 32768.0
    quiet = samples * 10 ** ((BABBLE_DBFS - 5) / 20) / np.sqrt(np.mean(samples**2))
    noisy = quiet + np.random.default_rng(1).normal(0, 10 ** (-60 / 20), samples.size)
    said = next(entry["text"] for entry in manifest if entry["file"] == name)
    assert words(await named.transcribe(pcm16(noisy), "en")) == words(said)


# --- the real server over Wyoming ------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The server on the bundled default models, for this module."""
    running = launch(tmp_path_factory.mktemp("non-speech"))
    yield running
    assert stop(running) == 0, running.log()


@pytest.mark.parametrize(("rate", "channels"), FORMATS, ids=["16k-mono", "44k-stereo"])
@pytest.mark.parametrize("name", CLIP_NAMES)
async def test_server_gives_no_words_for_non_speech(
    server: RunningServer, clips: Callable[..., bytes], name: str, rate: int, channels: int
) -> None:
    """Sent at once, as a file would be; the server converts 44.1 kHz stereo itself."""
    before = server.log().count(NO_DECODE)
    result = await transcribe(
        server.port, clips(name, rate, channels), rate, 2, channels, chunk_seconds=0.1
    )
    assert words(result.text) == [], result.text
    assert [e.type for e in result.events] == ["transcript-start", "transcript", "transcript-stop"]
    await asyncio.sleep(0.05)  # the log line is written before the transcript; let it land
    assert server.log().count(NO_DECODE) == before + 1, "decoded although no speech was heard"


async def test_server_gives_no_words_for_blips(
    server: RunningServer, blips: dict[str, bytes]
) -> None:
    results = await asyncio.gather(
        *(transcribe(server.port, pcm, 16000, 2, 1, chunk_seconds=0.1) for pcm in blips.values())
    )
    assert [words(result.text) for result in results] == [[], []]


async def test_server_gives_no_words_paced_in_real_time(
    server: RunningServer, clips: Callable[..., bytes], blips: dict[str, bytes]
) -> None:
    """As Home Assistant sends it: 10 ms chunks at real-time pace and 0.7 s of silence after,
    so the streaming VAD and the decode during the silence are on; four clients at once. The
    three without any speech are not decoded at all (the slivers are, and then dropped)."""
    before = server.log().count(NO_DECODE)
    sent = [
        (clips("tone_440", 16000, 1), 16000, 1),
        (clips("silence", 16000, 1), 16000, 1),
        (clips("tone_1k_loud", 44100, 2), 44100, 2),
        (blips["slivers"], 16000, 1),
    ]
    results = await asyncio.gather(
        *(
            transcribe(server.port, pcm, rate, 2, channels, realtime=True, trailing_silence=0.7)
            for pcm, rate, channels in sent
        )
    )
    assert [words(result.text) for result in results] == [[], [], [], []]
    await asyncio.sleep(0.05)
    assert server.log().count(NO_DECODE) == before + 3


async def test_server_gives_no_words_for_tv_babble(
    server: RunningServer, babble: dict[int, bytes]
) -> None:
    """Through the server, whose prompt is the demo home's names; four clients at once."""
    results = await asyncio.gather(
        *(transcribe(server.port, pcm, 16000, 2, 1, chunk_seconds=0.1) for pcm in babble.values())
    )
    assert [words(result.text) for result in results] == [[]] * len(babble)
