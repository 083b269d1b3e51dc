#!/usr/bin/env bash
# The GPU figures in under 10 minutes: whisper large-v3-turbo float16 on 3 s commands (1 and
# 8 concurrent clients), and piper's first audio; our server alone, so no peer venv and no
# network are needed. It reuses bench/run.py's server spec and warm-up and the measurements of
# bench/asr_bench.py and bench/tts_bench.py; it only chooses the plan and prints one table.
#
#   WHISPER_MODEL=/models/faster-whisper-large-v3-turbo bench/gpu.sh [--voice V.onnx] [--dry-run]
#   bench/gpu.sh --cpu-smoke     # the same driver on the CPU, tiny.en, tiny plan: checks the script
#
# WHISPER_MODEL (or --model) is a CTranslate2 whisper folder (model.bin, config.json,
# tokenizer.json, preprocessor_config.json); nothing is downloaded. Get it on a machine with
# internet access and copy it over (see bench/README.md, "GPU figures").
# Environment: PYTHON (default .venv/bin/python), GPU_SH_TIME_LIMIT (seconds, default 420),
# TTS_DEVICE_FLAG (our server's flag for piper on CUDA, default "--tts-device cuda" when
# --help lists it). Exit: 0 measured, 2 not runnable here (no GPU, no model, broken CUDA),
# 1 the run failed.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
MODEL=${WHISPER_MODEL:-}
VOICE=${VOICE:-}
MODE=gpu
DRY_RUN=0
while [ $# -gt 0 ]; do
    case "$1" in
        --model) MODEL=$2; shift 2 ;;
        --voice) VOICE=$2; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        --cpu-smoke) MODE=cpu; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "gpu.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

fail() { echo "gpu.sh: $*" >&2; exit 2; }

[ -x "$PYTHON" ] || fail "no interpreter at $PYTHON (run script/setup, or set PYTHON)"

if [ "$MODE" = gpu ] && [ "$DRY_RUN" = 1 ]; then
    echo "gpu.sh: dry run: GPU, CTranslate2, model and CUDA probe checks skipped"
    TTS_CUDA=1
elif [ "$MODE" = gpu ]; then
    command -v nvidia-smi >/dev/null || fail "no nvidia-smi: this needs a machine with an NVIDIA GPU and driver (bench/gpu.sh --cpu-smoke checks the script on the CPU)"
    nvidia-smi -L >/dev/null 2>&1 || fail "nvidia-smi finds no GPU: $(nvidia-smi -L 2>&1 | head -1)"
    count=$("$PYTHON" -c 'import ctranslate2; print(ctranslate2.get_cuda_device_count())' 2>&1) \
        || fail "CTranslate2 does not import: $count"
    [ "$count" -gt 0 ] 2>/dev/null || fail "CTranslate2 counts no CUDA device ($count): is its wheel the CUDA build and the driver new enough for CUDA 12?"
    [ -n "$MODEL" ] || fail "set WHISPER_MODEL (or --model) to a CTranslate2 large-v3-turbo folder; see bench/README.md"
    [ -f "$MODEL/model.bin" ] || fail "$MODEL has no model.bin: not a CTranslate2 whisper folder"
    echo "gpu.sh: probing CUDA with the real model (a child process; a broken cuDNN aborts only it)"
    probe=$(timeout 120 "$PYTHON" -m wyoming_rtx.asr.cuda_probe \
        "{\"model\": \"$MODEL\", \"compute_type\": \"float16\"}" 2>&1) \
        || fail "the CUDA probe failed (exit $?): $(echo "$probe" | tail -5)"
    echo "gpu.sh: probe: $(echo "$probe" | tail -1)"
    if "$PYTHON" -c 'import onnxruntime, sys; sys.exit("CUDAExecutionProvider" not in onnxruntime.get_available_providers())'; then
        TTS_CUDA=1
    else
        TTS_CUDA=0
        echo "gpu.sh: onnxruntime has no CUDAExecutionProvider (install the gpu extra): piper is measured on the CPU"
    fi
else
    TTS_CUDA=0
fi

export GPU_SH_MODE=$MODE GPU_SH_MODEL=$MODEL GPU_SH_VOICE=$VOICE GPU_SH_TTS_CUDA=$TTS_CUDA
# Preflight probe <= 120 s + measurement <= 420 s (the server's own probe included): < 10 min.
export GPU_SH_DRY_RUN=$DRY_RUN GPU_SH_TIME_LIMIT=${GPU_SH_TIME_LIMIT:-420}
export WYOMING_RTX_CUDA_PROBE_TIMEOUT=${WYOMING_RTX_CUDA_PROBE_TIMEOUT:-120}
export GPU_SH_TTS_FLAG=${TTS_DEVICE_FLAG:-} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
exec "$PYTHON" - <<'EOF'
"""Driver: our server only, bench/run.py's spec and warm-up, asr_bench/tts_bench's figures."""

import asyncio
import json
import os
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, os.getcwd())
from bench.asr_bench import AsrPlan, run_asr  # noqa: E402
from bench.figures import OURS  # noqa: E402
from bench.peers import ModelPaths, bundled_models  # noqa: E402
from bench.run import ours_help, ours_spec, parse_args, target, versions, warm_up  # noqa: E402
from bench.servers import RunningServer  # noqa: E402
from bench.tts_bench import TtsPlan, run_tts  # noqa: E402

env = os.environ
gpu = env["GPU_SH_MODE"] == "gpu"
argv = ["--device", "cuda" if gpu else "cpu", "--compute-type", "float16" if gpu else "int8",
        "--beam-size", "5" if gpu else "1"]
if env["GPU_SH_MODEL"]:
    argv += ["--asr-model", env["GPU_SH_MODEL"]]
if env["GPU_SH_VOICE"]:
    argv += ["--voice", env["GPU_SH_VOICE"]]
args = parse_args(argv)
tts_note = "piper on the CPU"
if env["GPU_SH_TTS_CUDA"] == "1":
    flag = env["GPU_SH_TTS_FLAG"] or ("--tts-device cuda" if "--tts-device" in ours_help(
        args.ours_python) else "")
    if flag:
        args.ours_arg += shlex.split(flag)
        tts_note = f"piper on CUDA ({flag})"
    else:
        tts_note = "piper on the CPU: the server has no --tts-device flag yet"
models = ModelPaths(asr_model=args.asr_model or bundled_models().asr_model,
                    voice=args.voice or bundled_models().voice)
# 8 clients = 8 satellites finishing a command at once; 1 client for the lone-command figure.
# The counts fit a 10-minute lease with two model loads (probe + server) of large-v3-turbo.
asr_plan = (AsrPlan(realtime_files=None, realtime_repeats=1, burst_repeats=2, levels=(1, 8),
                    rounds=2) if gpu else
            AsrPlan(realtime_files=2, realtime_repeats=1, burst_repeats=1, levels=(2,),
                    rounds=1, min_requests=2))
tts_plan = TtsPlan(repeats=4 if gpu else 1, rounds=2 if gpu else 1)
spec = ours_spec(args, models, None)
print("gpu.sh:", " ".join(spec.argv), f"[{tts_note}]", flush=True)
if env["GPU_SH_DRY_RUN"] == "1":
    print("gpu.sh: dry run: plan", asr_plan, tts_plan, sep="\n  ")
    sys.exit(0)

stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
out_dir = Path("bench/results") / f"gpu-{stamp}"
out_dir.mkdir(parents=True, exist_ok=True)
figures = []


async def measure() -> None:
    server = RunningServer(spec, out_dir)
    try:
        await server.start()
        started = time.perf_counter()
        await warm_up(server, asr=True, tts=True)
        print(f"gpu.sh: first transcription + synthesis (model loads) {time.perf_counter() - started:.1f} s",
              flush=True)
        await run_asr([target(server, OURS)], asr_plan, figures)
        await run_tts([target(server, OURS)], tts_plan, figures)
    finally:
        server.stop()


code = 0
try:
    asyncio.run(asyncio.wait_for(measure(), float(env["GPU_SH_TIME_LIMIT"])))
except TimeoutError:
    print("gpu.sh: time limit reached; the table has what was measured", flush=True)
    code = 1
except Exception as err:  # noqa: BLE001 - say why and keep what was measured
    print(f"gpu.sh: the run failed: {err!r}; server log in {out_dir}", flush=True)
    code = 1
rows = [(f.group, f.label, f.values.get(OURS), f.unit, f.failures.get(OURS, 0)) for f in figures]
lines = ["| group | figure | value | failures |", "|---|---|---|---|"]
for group, label, value, unit, failures in rows:
    shown = "-" if value is None else (f"{value:.3f} {unit}" if unit == "s" else f"{value:.2f} {unit}")
    lines.append(f"| {group} | {label} | {shown} | {failures} |")
table = "\n".join(lines)
header = (f"model {models.asr_model.name} on {args.device}/{args.compute_type} beam {args.beam_size}, "
          f"voice {models.voice.name}, {tts_note}")
log = out_dir / f"{spec.name}.log"
for line in (log.read_text(errors="replace").splitlines() if log.exists() else []):
    if "CUDA probe" in line or "Loaded ASR model" in line or "Loaded voice" in line:
        header += "\n- server: " + line.split(": ", 1)[-1]
print(f"\n{header}\n\n{table}\n", flush=True)
(out_dir / "gpu.md").write_text(f"{header}\n\n{table}\n")
(out_dir / "gpu.json").write_text(json.dumps(
    {"versions": versions(), "argv": list(spec.argv), "tts": tts_note,
     "figures": [f.as_dict() for f in figures]}, indent=1) + "\n")
print(f"gpu.sh: written {out_dir}/gpu.md and gpu.json")
sys.exit(code)
EOF
