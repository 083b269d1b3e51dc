"""Where one sentence's render goes: the cut voice's stages, their cost per frame, and what
rendering in pieces adds (issue 21: can the first audio come at half the peer's and the whole
audio no later than the peer's?).

    .venv/bin/python bench/tts_stages.py [--repeats 30] [--threads 2]

The bundled voice is cut into encoder, flow and decoder (wyoming_rtx/tts/split_voice.py) and
opened on the CPU as the engine's every-core sessions are (threads sleeping between runs). For
each text: the encoder (the whole sentence, always), the flow and the decoder over the whole
sentence, then the two ways to render it: whole (encoder, flow and decoder once: what piper's
own graph computes, and the peer's render) and in pieces (the engine's first piece of
`HEAD_FRAMES`, then the rest), each with its seams (`FLOW_CONTEXT_FRAMES` and
`DECODER_CONTEXT_FRAMES` of context on either side of a cut). Last, the decoder's time by
operator, from ONNX Runtime's profiler. Medians of `--repeats` runs after two warm-ups, in the
process (no server, no socket), warm, no speech cache.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
from piper import PiperVoice, SynthesisConfig

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.tts_pieces import TEXTS  # noqa: E402
from wyoming_rtx.settings import TtsSettings  # noqa: E402
from wyoming_rtx.tts.device import cpu_session, voice_config  # noqa: E402
from wyoming_rtx.tts.render import HEAD_FRAMES, phonemize  # noqa: E402
from wyoming_rtx.tts.split_voice import VoiceStages, cut_voice  # noqa: E402
from wyoming_rtx.tts.voices import discover_voices  # noqa: E402


def _median_ms(run: Callable[[], object], repeats: int) -> float:
    run()
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads per session")
    args = parser.parse_args()

    description = discover_voices(TtsSettings())[0]
    cut = cut_voice(description.model_path)
    if cut is None:
        raise SystemExit(f"{description.model_path} cannot be cut into stages")
    voice = PiperVoice(config=voice_config(description), session=None)  # type: ignore[arg-type]
    stages = cut.open(cpu_session(args.threads, spinning=False))
    print(f"Voice {description.name}, {args.threads} threads per session (sleeping between")
    print(f"runs), {args.repeats} repeats, first piece {HEAD_FRAMES} frames\n")
    print(
        "| text | frames | encoder | flow, all | decoder, all | whole | first piece | rest "
        "| in pieces | pieces / whole |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, text in TEXTS.items():
        print(_row(stages, voice, label, text, args.repeats))
    print(
        "\nwhole = encoder + flow and decoder once; first piece = encoder + the first "
        f"{HEAD_FRAMES} frames with their right-hand context; in pieces = first piece + rest."
    )
    _decoder_profile(cut.parts[2], args.threads, stages._z)  # noqa: SLF001


def _row(stages: VoiceStages, voice: PiperVoice, label: str, text: str, repeats: int) -> str:
    """One text's stage times and its render whole and in pieces, as a table row."""
    config = SynthesisConfig()
    ids = voice.phonemes_to_ids(phonemize(voice, text)[0])
    latent = stages.encode(ids, config)
    frames = latent.frames
    z_p, mask, z_name = stages._z_p, stages._mask, stages._z  # noqa: SLF001
    flow_inputs = {z_p: latent.z_p, mask: latent.mask}
    (z,) = stages.flow.run([z_name], flow_inputs)
    encoder = _median_ms(lambda: stages.encode(ids, config), repeats)
    flow = _median_ms(lambda: stages.flow.run([z_name], flow_inputs), repeats)
    decoder = _median_ms(lambda: stages.decoder.run(None, {z_name: z}), repeats)
    audio = _median_ms(lambda: stages.audio(latent, 0, frames), repeats)
    head = _median_ms(lambda: stages.audio(latent, 0, HEAD_FRAMES), repeats)
    rest = _median_ms(lambda: stages.audio(latent, HEAD_FRAMES, frames), repeats)
    whole, pieces = encoder + audio, encoder + head + rest
    return (
        f"| {label} | {frames} | {encoder:.1f} | {flow:.1f} | {decoder:.1f} | {whole:.1f} "
        f"| {encoder + head:.1f} | {rest:.1f} | {pieces:.1f} | {pieces / whole:.2f}× |"
    )


def _decoder_profile(decoder: bytes, threads: int, input_name: str) -> None:
    """The decoder's kernel time by operator over 20 runs of 130 frames (1.5 s of audio)."""
    with tempfile.TemporaryDirectory() as folder:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "decoder")
        session = onnxruntime.InferenceSession(
            decoder, sess_options=options, providers=["CPUExecutionProvider"]
        )
        z = np.random.default_rng(0).standard_normal((1, 192, 130)).astype(np.float32)
        runs = 20
        for _ in range(runs):
            session.run(None, {input_name: z})
        events = json.loads(Path(session.end_profiling()).read_text())
    spent: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            spent[event["args"].get("op_name", "?")] += event["dur"]
    total = sum(spent.values())
    print("\nThe decoder's kernel time by operator (130 frames, ONNX Runtime's profiler):\n")
    print("| operator | ms per run | share |")
    print("|---|---:|---:|")
    for op, micros in spent.most_common(6):
        print(f"| {op} | {micros / runs / 1000:.2f} | {100 * micros / total:.0f} % |")


if __name__ == "__main__":
    main()
