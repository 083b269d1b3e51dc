"""openWakeWord's TensorFlow Lite interpreters on one thread, as openWakeWord itself runs them.

pyopen-wakeword creates every interpreter with no options (``TfLiteInterpreterCreate(model,
NULL)``), so TensorFlow Lite picks its own thread count: on this 2-core box each process held
10 threads, and the idle workers spin between the 80 ms frames. Measured on 10 s of audio
(ok_nabu, features and model): 1.09-1.61 s of CPU with the default against 0.68-0.84 s with
one thread, the same scores. openWakeWord's own ``Model`` defaults to ``ncpu=1`` for the
same reason. A room device's budget is one core shared with the VAD (issue 16), so the
interpreters get one thread here.

The hook is the ``lib`` attribute: pyopen-wakeword 1.1.0 (pinned in the satellite extra) sets
``self.lib = CDLL(...)`` and then creates its interpreters from it in the same ``__init__``;
the descriptor below swaps the library's ``TfLiteInterpreterCreate`` for one that passes
options with one thread before any interpreter exists.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

from pyopen_wakeword import OpenWakeWord, OpenWakeWordFeatures
from pyopen_wakeword.openwakeword import _find_tensorflowlite_c

THREADS = 1


def _with_one_thread(lib: Any) -> Any:
    """``lib`` (a ``ctypes.CDLL`` of the TensorFlow Lite C library) creating one-thread
    interpreters whatever options its caller passes."""
    lib.TfLiteInterpreterOptionsCreate.restype = ctypes.c_void_p
    lib.TfLiteInterpreterOptionsSetNumThreads.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    lib.TfLiteInterpreterOptionsSetNumThreads.restype = None
    options = lib.TfLiteInterpreterOptionsCreate()
    if not options:
        raise RuntimeError("TensorFlow Lite could not create interpreter options")
    lib.TfLiteInterpreterOptionsSetNumThreads(options, THREADS)
    create = lib.TfLiteInterpreterCreate
    create.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    create.restype = ctypes.c_void_p

    def create_one_thread(model: int, _options: object) -> int:
        return create(model, options)

    # The caller sets argtypes/restype on what it finds here; a Python function takes them.
    lib.TfLiteInterpreterCreate = create_one_thread
    lib._one_thread_options = options  # lives as long as the library object
    return lib


class _OneThreadLib:
    """The ``lib`` attribute: whatever library is stored is made to create one-thread
    interpreters first."""

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj.__dict__["_tflite_lib"]

    def __set__(self, obj: object, lib: Any) -> None:
        obj.__dict__["_tflite_lib"] = _with_one_thread(lib)


class OneThreadFeatures(OpenWakeWordFeatures):
    lib = _OneThreadLib()


class OneThreadWakeWord(OpenWakeWord):
    lib = _OneThreadLib()


def features(models_dir: Path) -> OneThreadFeatures:
    """The mel and embedding models of ``models_dir`` (``OpenWakeWordFeatures.from_builtin``)."""
    return OneThreadFeatures(
        melspectrogram_model=models_dir / "melspectrogram.tflite",
        embedding_model=models_dir / "embedding_model.tflite",
        libtensorflowlite_c_path=_find_tensorflowlite_c(),
    )


def wake_word(model_path: Path) -> OneThreadWakeWord:
    """One wake word model (``OpenWakeWord.from_model``)."""
    return OneThreadWakeWord(
        id=model_path.stem,
        tflite_model=model_path,
        libtensorflowlite_c_path=_find_tensorflowlite_c(),
    )
