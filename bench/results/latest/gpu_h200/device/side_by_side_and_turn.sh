#!/usr/bin/env bash
# bench/run.py --quick --device cuda with the turn client that reads while it streams
# (side_by_side_3.md), then bench/pipeline_turn.py --device cuda (it stopped on the
# handled-after-audio-stop race fixed in 89cca9c).
source "$(dirname "$0")/setup.sh" peers
timeout 250 python3 bench/run.py --quick --device cuda --asr-model $M --time-limit 220 --out /root/runout3 2>&1 | tail -c 2500
cp /root/runout3/report.md $OUT/report3.md; cp /root/runout3/results.json $OUT/results3.json
timeout 200 python3 bench/pipeline_turn.py --turns 8 --device cuda --out /root/pt 2>&1 | tail -c 2500
cp /root/pt/pipeline_turn.md $OUT/pipeline_turn_cuda.md 2>/dev/null; cp /root/pt/pipeline_turn.json $OUT/pipeline_turn_cuda.json 2>/dev/null
ls $OUT
