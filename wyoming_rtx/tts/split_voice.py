"""A piper voice cut into its three ONNX stages, so one sentence can be spoken in pieces.

Piper's model (VITS) is one ONNX graph that turns a sentence's phonemes into all of its audio
at once, so the first sound waits for the whole sentence. Inside the graph are three stages:
the encoder (text encoder, durations and noise: phonemes to latent frames), the flow (latent to
latent, a few convolutions) and the decoder (HiFi-GAN: 256 samples per latent frame). The flow
and the decoder are convolutions over frames whose reach is bounded, so a stretch of frames run
with some frames of context on either side gives the same audio as that stretch of the whole
render (joe-medium: 24 frames of flow context and 8 of decoder context, 61-72 dB SNR against
the whole render; the remainder is floating-point rounding at the seams). Only the encoder
needs the whole sentence, and it is the cheapest stage (a fifth of the render).

The graph is cut at load, with onnx's protobuf classes, at tensors found by their place: the
input of the decoder's first convolution, the mask it is multiplied with, and the flow's input.
Each stage gets its own ONNX Runtime session. A voice whose graph does not have this shape
(another architecture, a multi-speaker voice whose flow and decoder take a speaker embedding)
is not cut: it renders whole sentences as before.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from piper import SynthesisConfig

_LOGGER = logging.getLogger(__name__)

FLOW_CONTEXT_FRAMES = 24
"""Frames of context run on each side of a stretch through the flow (joe-medium, decoder
context 8, two sentences cut at 12-32 frames: 8 gives 5-25 dB SNR at the seam, 16 gives
32-59 dB, 24 gives 61-72 dB)."""
DECODER_CONTEXT_FRAMES = 8
"""Frames of context run on each side of a stretch through the decoder (with 24 frames of
flow context: 6 gives 48-53 dB, 8 gives 61-72 dB)."""
DECODER_CONV_WEIGHT = "dec.conv_pre.weight"
"""The decoder's first convolution in every piper (VITS) export: its input is the cut."""

SessionMaker = Callable[[bytes | str], onnxruntime.InferenceSession]


@dataclass
class Latent:
    """One sentence after the encoder: what the flow and the decoder take, frame by frame."""

    z_p: np.ndarray
    """The flow's input, [1, channels, frames]."""
    mask: np.ndarray
    """The frame mask, [1, 1, frames]."""

    @property
    def frames(self) -> int:
        """Frames of audio in the sentence (each is `VoiceStages.hop` samples)."""
        return int(self.z_p.shape[-1])


class VoiceStages:
    """The encoder, flow and decoder sessions of one voice, and the tensor names between them."""

    def __init__(
        self,
        encoder: onnxruntime.InferenceSession,
        flow: onnxruntime.InferenceSession,
        decoder: onnxruntime.InferenceSession,
        names: tuple[str, str, str],
        hop: int,
    ) -> None:
        self.encoder = encoder
        self.flow = flow
        self.decoder = decoder
        self._z_p, self._mask, self._z = names
        self.hop = hop
        """Samples per latent frame (256 for every piper voice)."""

    def encode(self, phoneme_ids: list[int], syn_config: SynthesisConfig) -> Latent:
        """Run the encoder on a sentence's phoneme ids, with piper's own inputs and scales."""
        ids = np.expand_dims(np.array(phoneme_ids, dtype=np.int64), 0)
        scales = np.array(
            [
                0.667 if syn_config.noise_scale is None else syn_config.noise_scale,
                1.0 if syn_config.length_scale is None else syn_config.length_scale,
                0.8 if syn_config.noise_w_scale is None else syn_config.noise_w_scale,
            ],
            dtype=np.float32,
        )
        inputs = {
            "input": ids,
            "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
            "scales": scales,
        }
        z_p, mask = self.encoder.run([self._z_p, self._mask], inputs)
        return Latent(z_p=z_p, mask=mask)

    @staticmethod
    def frames_run(frames: int, start: int, end: int) -> int:
        """Frames the flow and the decoder run, together, to render frames [start, end) of a
        sentence of `frames` (the stretch and its context): the measure of a render's cost."""
        flow = min(frames, end + FLOW_CONTEXT_FRAMES) - max(0, start - FLOW_CONTEXT_FRAMES)
        decoder = min(frames, end + DECODER_CONTEXT_FRAMES) - max(0, start - DECODER_CONTEXT_FRAMES)
        return flow + decoder

    def audio(self, latent: Latent, start: int, end: int) -> np.ndarray:
        """Float audio of frames [start, end), rendered with context frames on either side."""
        frames = latent.frames
        flow_start = max(0, start - FLOW_CONTEXT_FRAMES)
        flow_end = min(frames, end + FLOW_CONTEXT_FRAMES)
        (z,) = self.flow.run(
            [self._z],
            {
                self._z_p: latent.z_p[:, :, flow_start:flow_end],
                self._mask: latent.mask[:, :, flow_start:flow_end],
            },
        )
        decode_start = max(flow_start, start - DECODER_CONTEXT_FRAMES)
        decode_end = min(flow_end, end + DECODER_CONTEXT_FRAMES)
        (audio,) = self.decoder.run(
            None, {self._z: z[:, :, decode_start - flow_start : decode_end - flow_start]}
        )
        skip = (start - decode_start) * self.hop
        return audio.reshape(-1)[skip : skip + (end - start) * self.hop]


@dataclass(frozen=True)
class CutVoice:
    """A voice's graph cut into its stages (serialized), to open sessions from."""

    parts: tuple[bytes, bytes, bytes]
    names: tuple[str, str, str]

    def reread(self, folder: Path) -> CutVoice:
        """The stages as saved in `folder` (`0.onnx`, `1.onnx`, `2.onnx`), same tensor names."""
        encoder, flow, decoder = ((folder / f"{index}.onnx").read_bytes() for index in range(3))
        return CutVoice(parts=(encoder, flow, decoder), names=self.names)

    def open(self, make_session: SessionMaker) -> VoiceStages:
        """One session per stage, each made by `make_session` from the stage's bytes."""
        encoder, flow, decoder = (make_session(part) for part in self.parts)
        return VoiceStages(encoder, flow, decoder, names=self.names, hop=256)


def cut_voice(model_path: Path) -> CutVoice | None:
    """The voice's three stages, or None (logged) when its graph cannot be cut cleanly."""
    model = _onnx_proto().ModelProto()
    model.ParseFromString(model_path.read_bytes())
    graph = model.graph
    producers = {output: node for node in graph.node for output in node.output}
    cut = _find_cut(graph, producers)
    if cut is None:
        _LOGGER.info("Voice %s is not a VITS graph to cut: whole sentences", model_path)
        return None
    z_p, mask, z = cut
    graph_inputs = [value.name for value in graph.input]
    if graph_inputs != ["input", "input_lengths", "scales"]:
        # A multi-speaker voice also takes `sid`, and its flow and decoder the speaker's
        # embedding: not cut (yet).
        _LOGGER.info("Voice %s has inputs %s: whole sentences", model_path, graph_inputs)
        return None
    parts = (
        _extract(model, graph_inputs, [z_p, mask]),
        _extract(model, [z_p, mask], [z]),
        _extract(model, [z], [value.name for value in graph.output]),
    )
    if any(part is None for part in parts):
        _LOGGER.info("Voice %s: its stages are not separable: whole sentences", model_path)
        return None
    encoder, flow, decoder = (part for part in parts if part is not None)
    return CutVoice(parts=(encoder, flow, decoder), names=(z_p, mask, z))


@functools.cache
def _onnx_proto() -> Any:
    """onnx's protobuf classes (ModelProto and the rest), without `import onnx`.

    The onnx package's own import loads ml_dtypes, whose extension alone takes 1.2-1.5 s on
    this 2-core box, at every server start; reading and cutting a graph needs only the
    generated protobuf module, which imports nothing but protobuf."""
    package = importlib.util.find_spec("onnx")
    if package is None or package.origin is None:
        raise ModuleNotFoundError("onnx is not installed (the server extra installs it)")
    spec = importlib.util.spec_from_file_location(
        "onnx.onnx_ml_pb2", Path(package.origin).with_name("onnx_ml_pb2.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _extract(model: Any, inputs: list[str], outputs: list[str]) -> bytes | None:
    """The part of `model` that computes `outputs` from `inputs` and the weights, serialized;
    None when it needs anything else (a graph input not named, a subgraph attribute)."""
    graph = model.graph
    producer_index = {
        output: index for index, node in enumerate(graph.node) for output in node.output
    }
    keep: set[int] = set()
    seen = set(inputs)
    todo = list(outputs)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        index = producer_index.get(name)
        if index is not None and index not in keep:
            keep.add(index)
            todo.extend(tensor for tensor in graph.node[index].input if tensor)
    nodes = [graph.node[index] for index in sorted(keep)]
    if any(attribute.g.node or attribute.graphs for node in nodes for attribute in node.attribute):
        return None  # If/Loop bodies may use names from outside: not cut
    used = {tensor for node in nodes for tensor in node.input}
    declared = {value.name: value for value in [*graph.input, *graph.value_info, *graph.output]}
    if any(name not in declared for name in [*inputs, *outputs]):
        return None
    part = type(model)()
    part.ir_version = model.ir_version
    part.opset_import.extend(model.opset_import)
    part.producer_name = model.producer_name
    part.graph.name = f"{graph.name}-part"
    part.graph.node.extend(nodes)
    part.graph.initializer.extend(tensor for tensor in graph.initializer if tensor.name in used)
    part.graph.input.extend(declared[name] for name in inputs)
    part.graph.output.extend(declared[name] for name in outputs)
    if not _self_contained(part.graph):
        return None
    return part.SerializeToString()


def _find_cut(graph: object, producers: dict) -> tuple[str, str, str] | None:
    """(flow input, frame mask, decoder input) by their place in a piper export, or None.

    The decoder input is what the convolution with `dec.conv_pre.weight` takes; in VITS it is
    `flow output * mask`, which names the mask. The flow input is what the first flow node
    takes apart from constants and weights.
    """
    initializers = {tensor.name for tensor in graph.initializer}  # type: ignore[attr-defined]
    nodes = list(graph.node)  # type: ignore[attr-defined]
    decoder_conv = next(
        (n for n in nodes if n.op_type == "Conv" and DECODER_CONV_WEIGHT in n.input), None
    )
    if decoder_conv is None:
        return None
    z = decoder_conv.input[0]
    masking = producers.get(z)
    if masking is None or masking.op_type != "Mul" or len(masking.input) != 2:
        return None
    first_flow = next((n for n in nodes if n.name.startswith("/flow/")), None)
    if first_flow is None:
        return None
    flow_inputs = [
        name
        for name in first_flow.input
        if name
        and name not in initializers
        and getattr(producers.get(name), "op_type", "") != "Constant"
    ]
    if len(flow_inputs) != 1:
        return None
    from_flow = [
        name
        for name in masking.input
        if getattr(producers.get(name), "name", "").startswith("/flow/")
    ]
    if len(from_flow) != 1:
        return None
    mask = next(name for name in masking.input if name != from_flow[0])
    return flow_inputs[0], mask, z


def _self_contained(graph: object) -> bool:
    """Every input of every node is made inside the graph, a weight, or a graph input."""
    known = {value.name for value in graph.input}  # type: ignore[attr-defined]
    known |= {tensor.name for tensor in graph.initializer}  # type: ignore[attr-defined]
    nodes = list(graph.node)  # type: ignore[attr-defined]
    for node in nodes:
        known.update(node.output)
    return all(not name or name in known for node in nodes for name in node.input)
