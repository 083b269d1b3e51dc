"""A cut voice's threads: sleeping between parallel loops, spinning within a run, spinning on.

    .venv/bin/python bench/tts_threads.py [--repeats 30]

The voice's encoder, flow and decoder are three ONNX Runtime sessions run one after another
(wyoming_rtx/tts/split_voice.py). How their thread pools wait between parallel loops decides
how fast the small ops of the encoder and the flow go: sleeping threads must be woken each
time; spinning ones are quick, but ONNX Runtime lets them spin on after their run, where they
take the cores from the next stage's session. Three ways, each session with a thread per core,
interleaved in one process, warm:

1. on an idle machine: medians (ms) of the encoder, the first piece (its first
   ``HEAD_FRAMES``), the first audio (the two together), the sentence in pieces, and whole;
2. right after a neighbour's inference: piper's whole graph on a session of ONNX Runtime's
   defaults (as another program, wyoming-piper for one, runs it) speaks a sentence, then ours;
3. beside a speech-to-text decode of 3 s of a question (an answer's first sentence is often
   rendered while the final transcript decodes): the decode and the render, each timed while
   the other runs.

The server's every-core sessions (a synthesis running alone) sleep; its shared sessions spin
within a run only (``session.force_spinning_stop``), see wyoming_rtx/tts/device.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
from faster_whisper import WhisperModel  # noqa: E402
from piper import PiperVoice, SynthesisConfig  # noqa: E402

from bench.turn_corpus import ensure_corpus, read_pcm  # noqa: E402
from wyoming_rtx.asr.models import resolve_asr_model  # noqa: E402
from wyoming_rtx.settings import AsrSettings, TtsSettings  # noqa: E402
from wyoming_rtx.tts import device, render  # noqa: E402
from wyoming_rtx.tts.split_voice import SessionMaker, VoiceStages, cut_voice  # noqa: E402
from wyoming_rtx.tts.voices import discover_voices  # noqa: E402

TEXTS = {
    "short reply": "Turned on the kitchen lights.",
    "long sentence": (
        "Tomorrow will be sunny with a high of twenty four degrees, so you will not need an "
        "umbrella."
    ),
}


def sessions(threads: int, spinning: str | None) -> SessionMaker:
    """Sessions with `threads` threads and ONNX Runtime's spinning config entry (None: its
    default, spinning on after each run)."""

    def make(model: bytes | str) -> onnxruntime.InferenceSession:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        if spinning is not None:
            options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        return onnxruntime.InferenceSession(model, options, providers=[device.CPU_PROVIDER])

    return make


def timed_render(stages: VoiceStages, ids: list[int]) -> dict[str, float]:
    """One sentence in pieces and whole: ms per figure."""
    config = SynthesisConfig()
    start = time.perf_counter()
    latent = stages.encode(ids, config)
    encoded = time.perf_counter()
    stages.audio(latent, 0, render.HEAD_FRAMES)
    first = time.perf_counter()
    stages.audio(latent, render.HEAD_FRAMES, latent.frames)
    pieces = time.perf_counter()
    stages.audio(latent, 0, latent.frames)
    whole = time.perf_counter() - pieces + (encoded - start)
    return {
        "encoder": (encoded - start) * 1000,
        "first piece": (first - encoded) * 1000,
        "first audio": (first - start) * 1000,
        "in pieces": (pieces - start) * 1000,
        "whole": whole * 1000,
    }


def table(
    title: str,
    ways: dict[str, VoiceStages],
    voice: PiperVoice,
    repeats: int,
    before_each: Callable[[], None] = lambda: None,
) -> None:
    """Median figures per text and way, `before_each` run right before every render."""
    print(f"\n{title}\n")
    print("| text | threads wait by | encoder | first piece | first audio | in pieces | whole |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, text in TEXTS.items():
        ids = voice.phonemes_to_ids(render.phonemize(voice, text)[0])
        times: dict[str, dict[str, list[float]]] = {way: {} for way in ways}
        for repeat in range(repeats + 2):
            for way, stages in ways.items():
                before_each()
                figures = timed_render(stages, ids)
                if repeat >= 2:
                    for key, value in figures.items():
                        times[way].setdefault(key, []).append(value)
        for way, figures in times.items():
            cells = " | ".join(f"{statistics.median(values):.1f}" for values in figures.values())
            print(f"| {label} | {way} | {cells} |")


def beside_a_decode(voice: PiperVoice, ways: dict[str, VoiceStages], repeats: int) -> None:
    """Median ms of a 3 s decode and of a short sentence's render, each while the other runs."""
    folder, items = ensure_corpus()
    question = next(item for item in items if item.kind == "question")
    pcm = read_pcm(folder / question.file)
    audio = np.frombuffer(pcm, dtype=np.int16)[: 3 * 16000].astype(np.float32) / 32768.0
    model = WhisperModel(
        resolve_asr_model(AsrSettings()).model,
        device="cpu",
        compute_type="int8",
        cpu_threads=len(os.sched_getaffinity(0)),
    )
    ids = voice.phonemes_to_ids(render.phonemize(voice, "The capital of France is Paris.")[0])

    def decode() -> None:
        segments, _info = model.transcribe(
            audio, language="en", beam_size=1, without_timestamps=True, temperature=0.0
        )
        list(segments)

    decode()
    times: dict[str, dict[str, list[float]]] = {way: {} for way in ["no render", *ways]}
    for repeat in range(repeats + 2):
        for way in times:
            rendered: list[float] = []
            side = None
            if way in ways:
                side = threading.Thread(
                    target=lambda stages, out: out.append(timed_render(stages, ids)["in pieces"]),
                    args=(ways[way], rendered),
                )
                side.start()
            start = time.perf_counter()
            decode()
            decoded = time.perf_counter() - start
            if side is not None:
                side.join()
            if repeat >= 2:
                times[way].setdefault("decode", []).append(decoded * 1000)
                if rendered:
                    times[way].setdefault("render", []).extend(rendered)
    print(f"\n3. Beside a decode of 3 s of {question.file} ({repeats} repeats, interleaved)\n")
    print("| render on | decode, ms | render (pieces and whole), ms |")
    print("|---|---:|---:|")
    for way, figures in times.items():
        render_ms = statistics.median(figures["render"]) if "render" in figures else None
        print(
            f"| {way} | {statistics.median(figures['decode']):.0f} | "
            f"{'—' if render_ms is None else f'{render_ms:.0f}'} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    description = discover_voices(TtsSettings())[0]
    cut = cut_voice(description.model_path)
    if cut is None:
        raise SystemExit(f"{description.model_path} cannot be cut into stages")
    voice = PiperVoice(config=device.voice_config(description), session=None)  # type: ignore[arg-type]
    threads = len(os.sched_getaffinity(0))
    ways: dict[str, VoiceStages] = {
        "sleeping (every-core sessions)": cut.open(device.cpu_session(threads, spinning=False)),
        "spinning within a run (shared sessions)": cut.open(device.cpu_session(threads)),
        "spinning on after a run (ONNX Runtime's default)": cut.open(sessions(threads, None)),
    }
    neighbour = PiperVoice(
        config=voice.config,
        session=onnxruntime.InferenceSession(
            str(description.model_path), providers=[device.CPU_PROVIDER]
        ),
    )
    neighbour_ids = neighbour.phonemes_to_ids(render.phonemize(voice, "The lights are on.")[0])
    print(f"{threads} threads per session, {args.repeats} repeats after 2 warm-ups, interleaved")
    table("1. On an idle machine", ways, voice, args.repeats)
    table(
        "2. Right after a neighbour's inference (piper's whole graph, ONNX Runtime's defaults)",
        ways,
        voice,
        args.repeats,
        lambda: neighbour.phoneme_ids_to_audio(neighbour_ids, SynthesisConfig()),
    )
    del ways["spinning on after a run (ONNX Runtime's default)"]
    beside_a_decode(voice, ways, max(6, args.repeats // 3))


if __name__ == "__main__":
    main()
