"""The CUDA 12 libraries of the `gpu` extra, loaded into the process that needs them.

pip puts cuBLAS, cuDNN and the CUDA runtime in `site-packages/nvidia/*/lib`, where the
dynamic loader never looks: without LD_LIBRARY_PATH, CTranslate2's dlopen of
`libcublas.so.12` fails and onnxruntime-gpu quietly builds a CPU session. onnxruntime-gpu
(1.21 and later) ships `preload_dlls`, which loads exactly those wheels' libraries; once a
library is loaded, a later dlopen of its soname (CTranslate2's) finds it. So the server calls
`preload()` before anything starts CUDA, in the server and in the CUDA probe's child, and a
plain `pip install` works with no environment variable.

`python -m wyoming_rtx.cuda_libraries` checks an install without a GPU: it loads the libraries
and onnxruntime's CUDA provider library, prints what it found, and exits 1 on a gap (this is how
the GPU image is checked on a machine without one).
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import re
import sys
from pathlib import Path

_LOGGER = logging.getLogger(__name__)

CUDA_MAJOR = 12
"""CTranslate2 4.x is built for CUDA 12 and cuDNN 9; onnxruntime-gpu 1.26.0 is the last
release built for CUDA 12 (1.27 and later need libcublas.so.13), hence the gpu extra's pin."""

_CTRANSLATE2_NEEDS = (
    ("cuda_runtime", f"libcudart.so.{CUDA_MAJOR}"),
    ("cublas", f"libcublasLt.so.{CUDA_MAJOR}"),
    ("cublas", f"libcublas.so.{CUDA_MAJOR}"),
)
"""What CTranslate2 opens by name, in dependency order; loaded from the wheels directly when
the installed onnxruntime cannot preload (the CPU build, or an older onnxruntime-gpu)."""

_preloaded: bool | None = None


def nvidia_lib_dirs() -> list[Path]:
    """`site-packages/nvidia/*/lib` folders of the installed nvidia-* wheels (none: [])."""
    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return []
    return sorted(
        lib
        for root in spec.submodule_search_locations
        for lib in Path(root).glob("*/lib")
        if lib.is_dir()
    )


def _onnxruntime_preload() -> bool:
    """onnxruntime-gpu's own loader; False when this onnxruntime has none or no CUDA build."""
    try:
        import onnxruntime
    except ImportError:
        return False
    preload_dlls = getattr(onnxruntime, "preload_dlls", None)
    if preload_dlls is None or "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return False
    preload_dlls(cuda=True, cudnn=True, msvc=False)
    return True


def _load_from_wheels() -> bool:
    """CTranslate2's libraries straight from the wheels' folders; False if one is missing."""
    dirs = nvidia_lib_dirs()
    for package, name in _CTRANSLATE2_NEEDS:
        candidates = [d / name for d in dirs if d.parent.name == package and (d / name).exists()]
        if not candidates:
            return False
        ctypes.CDLL(str(candidates[0]), mode=ctypes.RTLD_GLOBAL)
    return True


def preload() -> bool:
    """Load the gpu extra's CUDA libraries into this process, once; True when they loaded.

    Never raises: a machine without the extra simply has nothing to load, and the CUDA load
    that follows then fails (and falls back, or stops with its own message) as it would have.
    """
    global _preloaded
    if _preloaded is not None:
        return _preloaded
    try:
        _preloaded = _onnxruntime_preload() or _load_from_wheels()
    except OSError as err:
        _LOGGER.warning("The CUDA libraries of the gpu extra did not load: %s", err)
        _preloaded = False
    if _preloaded:
        _LOGGER.debug("CUDA libraries loaded: %s", ", ".join(loaded_cuda_libraries()))
    return _preloaded


def loaded_cuda_libraries() -> list[str]:
    """Sonames of the CUDA and cuDNN libraries mapped into this process (Linux)."""
    try:
        maps = Path("/proc/self/maps").read_text(encoding="utf-8")
    except OSError:
        return []
    return sorted(set(re.findall(r"/(lib(?:cu[a-zA-Z]+|nvrtc)[\w-]*\.so\.\d+)", maps)))


def check() -> list[str]:
    """What stops the GPU path in this install, as sentences ([] when nothing does)."""
    problems: list[str] = []
    try:
        import onnxruntime
    except ImportError:
        return ["onnxruntime is not installed (install the server extra)"]
    providers = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" not in providers:
        problems.append(
            f"onnxruntime {onnxruntime.__version__} has no CUDAExecutionProvider "
            f"({', '.join(providers)}): replace it with onnxruntime-gpu==1.26.0 "
            "(README, 'On an NVIDIA GPU')"
        )
    if not nvidia_lib_dirs():
        problems.append("no nvidia-* library wheels are installed (install the gpu extra)")
    if not preload():
        problems.append("the CUDA 12 libraries did not load")
    try:
        ctypes.CDLL(f"libcublas.so.{CUDA_MAJOR}")
    except OSError as err:
        problems.append(f"CTranslate2 would not find cuBLAS: {err}")
    if "CUDAExecutionProvider" in providers:
        capi = Path(onnxruntime.__file__).parent / "capi"
        try:
            ctypes.CDLL(str(capi / "libonnxruntime_providers_shared.so"), mode=ctypes.RTLD_GLOBAL)
            ctypes.CDLL(str(capi / "libonnxruntime_providers_cuda.so"))
        except OSError as err:
            problems.append(f"onnxruntime's CUDA provider library does not load: {err}")
    return problems


def main() -> int:
    """Print the check's findings; exit 0 when the GPU path has everything it needs."""
    problems = check()
    print(f"CUDA libraries loaded: {', '.join(loaded_cuda_libraries()) or 'none'}")
    for problem in problems:
        print(f"problem: {problem}")
    print("GPU libraries: OK" if not problems else "GPU libraries: incomplete")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
