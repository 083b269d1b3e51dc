#!/usr/bin/env bash
# bench/pipeline_turn.py --device cuda after the handled-order fix (pipeline_turn_cuda.md).
source "$(dirname "$0")/setup.sh" peers
timeout 120 python3 bench/pipeline_turn.py --turns 5 --device cuda --out /root/pt 2>&1 | tail -c 3000
cp /root/pt/pipeline_turn.md $OUT/pipeline_turn_cuda.md 2>/dev/null; cp /root/pt/pipeline_turn.json $OUT/pipeline_turn_cuda.json 2>/dev/null
ls $OUT
