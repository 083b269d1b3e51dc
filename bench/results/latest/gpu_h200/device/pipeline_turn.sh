#!/usr/bin/env bash

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
timeout 120 python3 bench/pipeline_turn.py --turns 5 --device cuda --out /root/pt 2>&1 | tail -c 3000
cp /root/pt/pipeline_turn.md $OUT/pipeline_turn_cuda.md 2>/dev/null; cp /root/pt/pipeline_turn.json $OUT/pipeline_turn_cuda.json 2>/dev/null
ls $OUT
