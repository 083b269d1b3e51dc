"""Where the ASR model runs: device, compute type, beam, parallelism, and the CUDA fallback.

Everything the settings leave on "auto" is decided here from the device, so a load that
falls back from a broken CUDA to the CPU also switches to the CPU's choices.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import ctranslate2

from .. import cuda_libraries
from ..errors import ModelNotFoundError, RtxError
from ..settings import AsrSettings
from .command_window import CPU_COMMAND_WINDOW_SECONDS
from .short_window import FULL_WINDOW_SECONDS

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class DeviceChoice:
    """Every choice that follows from the device, where the settings leave it on auto."""

    device: str
    compute_type: str
    beam_size: int
    num_workers: int
    cpu_threads: int
    window_seconds: float
    command_window_seconds: float

    @classmethod
    def for_device(
        cls, settings: AsrSettings, device: str, cuda_compute_type: str | None = None
    ) -> DeviceChoice:
        """The settings' explicit values, and the device's defaults for the rest.

        cuda_compute_type: what the CUDA probe found the GPU supports best (its "auto");
        float16 until a probe has run.
        """
        cuda = device == "cuda"
        num_workers, cpu_threads = pick_parallelism(device, settings.cpu_threads)
        return cls(
            device=device,
            compute_type=(
                settings.compute_type
                if settings.compute_type != "auto"
                else ((cuda_compute_type or "float16") if cuda else "int8")
            ),
            beam_size=settings.beam_size if settings.beam_size > 0 else (5 if cuda else 1),
            num_workers=num_workers,
            cpu_threads=cpu_threads,
            window_seconds=settings.window_seconds or FULL_WINDOW_SECONDS,
            command_window_seconds=settings.command_window_seconds
            or (FULL_WINDOW_SECONDS if cuda else CPU_COMMAND_WINDOW_SECONDS),
        )


def pick_device(requested: str) -> str:
    """ "auto" means CUDA when CTranslate2 counts a GPU; "cuda" without one is refused now."""
    if requested == "auto":
        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if requested == "cuda" and ctranslate2.get_cuda_device_count() == 0:
        raise RtxError("--device cuda, but CTranslate2 sees no CUDA device", "no-cuda-device")
    return requested


def pick_parallelism(device: str, cpu_threads: int) -> tuple[int, int]:
    """(num_workers, cpu_threads) for WhisperModel.

    Two workers always, so one client's decode (or a speculative decode that speech made
    stale) never queues another client behind it. On CPU each worker gets every core (capped
    at 4, where tiny/base stop scaling) even though that oversubscribes. Measured three times
    on this shared 2-core box (4 clients at once, tiny.en int8, p95): 2 workers x 2 threads
    1.7 / 1.1 / 3.1 s, 1 x 2 1.8 / 1.4 / 3.0 s, 2 x 1 3.0 / 2.1 / 2.9 s; a lone request was
    as fast with 2 x 2 as with 1 x 2 (0.32-0.49 s) since it still has both cores. So 2 x 2
    is best or tied, and it keeps the no-queueing property. The machine was noisy.

    On CUDA, faster-whisper's BatchedInferencePipeline batches the VAD chunks of *one* long
    recording, not separate requests, so it adds nothing for short commands; two workers
    let two clients' decodes overlap on the GPU instead.
    """
    cores = os.cpu_count() or 1
    threads = cpu_threads if cpu_threads > 0 else min(cores, 4)
    if device != "cpu":
        return 2, threads
    return max(2, cores // threads), threads


def load_with_cpu_fallback(
    requested: str, device: str, load: Callable[[], T], use_cpu: Callable[[], None]
) -> T:
    """`load()` on the chosen device; with `--device auto`, a broken CUDA falls back to CPU.

    CTranslate2 counts a GPU even when cuBLAS or cuDNN are missing or the wrong version;
    that only fails at load or at the first decode (the warm-up). A voice box that
    refuses to start over it helps nobody, so auto means "CUDA if it works".

    requested: the device the settings asked for; device: the one `load` will use now;
    use_cpu: switches the caller to the CPU's choices before `load()` runs again.
    """
    if device == "cuda":
        cuda_libraries.preload()
    try:
        return load()
    except Exception as err:
        if requested != "auto" or device == "cpu":
            raise
        _LOGGER.warning(
            "CUDA is visible but the ASR model failed on it (%s); using the CPU instead. "
            "For GPU speed install the CUDA 12 cuBLAS and cuDNN 9 libraries, or pass "
            "--device cpu to silence this.",
            err,
        )
        use_cpu()
        return load()


PROBE_COMMAND_ENV = "WYOMING_RTX_CUDA_PROBE_COMMAND"
"""Replaces the probe's command line (shell words; the JSON request is appended as the last
argument). For tests, which inject children that abort, segfault or hang as a broken CUDA
does; "skip" trusts CUDA without a probe (not recommended: a broken cuDNN then aborts the
server)."""
PROBE_TIMEOUT_ENV = "WYOMING_RTX_CUDA_PROBE_TIMEOUT"
"""Seconds the probe may take (default PROBE_TIMEOUT_S)."""
PROBE_TIMEOUT_S = 180.0
"""Loading large-v3 from a cold disk and initialising CUDA takes tens of seconds at worst; a
probe that takes longer is a driver that hangs, and the server must not hang with it."""
STDERR_TAIL_LINES = 6


class CudaUnusableError(ModelNotFoundError):
    """`--device cuda`, but the model cannot run on the GPU (the probe child failed).

    A ModelNotFoundError so start-up treats it like a model that is not there: "Cannot
    start: ..." and exit 2, the exit of a configuration the user must fix."""

    code = "cuda-unusable"


@dataclass(frozen=True)
class ProbeResult:
    """How the CUDA probe child ended, and what it found when it succeeded."""

    ok: bool
    seconds: float
    compute_type: str | None = None
    supported: tuple[str, ...] = ()
    failure: str = ""
    """How it failed, as a phrase: "was killed by SIGABRT", "exited with status 1"."""
    stderr_tail: str = ""

    def describe(self, model: str) -> str:
        """One sentence for the log: what failed, and the child's last words."""
        text = f"the CUDA probe (loading {model} on the GPU in a child process) {self.failure}"
        if self.stderr_tail:
            text += f"; its last output: {self.stderr_tail}"
        return text


def probe_command() -> list[str] | None:
    """The probe's command line: this interpreter running cuda_probe, or the env override."""
    override = os.environ.get(PROBE_COMMAND_ENV, "").strip()
    if override == "skip":
        return None
    if override:
        return shlex.split(override)
    return [sys.executable, "-m", "wyoming_rtx.asr.cuda_probe"]


def probe_timeout() -> float:
    """PROBE_TIMEOUT_ENV when it holds a positive number, else PROBE_TIMEOUT_S."""
    try:
        value = float(os.environ.get(PROBE_TIMEOUT_ENV, ""))
    except ValueError:
        return PROBE_TIMEOUT_S
    return value if value > 0 else PROBE_TIMEOUT_S


def run_cuda_probe(
    request: dict[str, object], command: list[str], timeout: float | None = None
) -> ProbeResult:
    """Run the probe child and judge how it ended. Blocking: call it off the event loop.

    The child gets its own session so a timeout kills it and anything it started; its
    stderr tail is kept because CTranslate2 names the missing library there just before the
    abort.
    """
    timeout = probe_timeout() if timeout is None else timeout
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*command, json.dumps(request)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        stdout, stderr = proc.communicate()
        return ProbeResult(
            ok=False,
            seconds=time.perf_counter() - started,
            failure=f"did not finish in {timeout:g} s and was killed",
            stderr_tail=_tail(stderr),
        )
    return _judge(proc.returncode, stdout, stderr, time.perf_counter() - started)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the probe's whole process group (it may be a shell with children)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _judge(returncode: int, stdout: str, stderr: str, seconds: float) -> ProbeResult:
    """ProbeResult from the child's exit status and output."""
    tail = _tail(stderr)
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return ProbeResult(False, seconds, failure=f"was killed by {name}", stderr_tail=tail)
    if returncode != 0:
        return ProbeResult(
            False, seconds, failure=f"exited with status {returncode}", stderr_tail=tail
        )
    lines = stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        answer = {}
    if not isinstance(answer, dict) or answer.get("ok") is not True:
        return ProbeResult(
            False, seconds, failure="exited without reporting success", stderr_tail=tail
        )
    return ProbeResult(
        True,
        seconds,
        compute_type=str(answer.get("compute_type") or "") or None,
        supported=tuple(str(t) for t in answer.get("supported", ())),
    )


def _tail(stderr: str) -> str:
    """The child's last few non-empty stderr lines, joined with " | " for one log line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return " | ".join(lines[-STDERR_TAIL_LINES:])
