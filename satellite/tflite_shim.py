"""Route ``tflite_runtime`` to ``ai-edge-litert`` so openwakeword works under numpy 2.

openwakeword 0.6 imports ``tflite_runtime.interpreter`` for its ``.tflite`` models. The only
``tflite-runtime`` wheel for Linux (2.14.0) is compiled against numpy 1.x: it imports fine and
then fails inside ``Interpreter()`` with ``_ARRAY_API not found`` under numpy 2. Google's
successor package, ``ai-edge-litert``, ships the same ``Interpreter`` API built for numpy 2.
Registering it under the old module names *before* openwakeword is imported is the whole fix:
no numpy pin (which would break faster-whisper/piper's numpy 2 stack) and no patched wheel.
"""

from __future__ import annotations

import logging
import sys
import types

_LOGGER = logging.getLogger(__name__)


def install() -> str:
    """Make ``import tflite_runtime.interpreter`` resolve to a working interpreter module.

    Returns which backend now answers (``"ai-edge-litert"`` or ``"tflite-runtime"``). Calling
    it again is harmless. When ai-edge-litert is absent we leave the real tflite-runtime in
    place: on a numpy-1 install that still works.
    """
    current = sys.modules.get("tflite_runtime.interpreter")
    if current is not None and getattr(current, "__name__", "").startswith("ai_edge_litert"):
        return "ai-edge-litert"
    try:
        from ai_edge_litert import interpreter as litert_interpreter
    except ImportError:
        _LOGGER.debug("ai-edge-litert not installed; using tflite-runtime as is")
        return "tflite-runtime"

    package = types.ModuleType("tflite_runtime")
    package.__path__ = []  # a package, so "tflite_runtime.interpreter" resolves via sys.modules
    package.interpreter = litert_interpreter  # type: ignore[attr-defined]
    sys.modules["tflite_runtime"] = package
    sys.modules["tflite_runtime.interpreter"] = litert_interpreter
    _LOGGER.debug("tflite_runtime routed to ai-edge-litert")
    return "ai-edge-litert"
