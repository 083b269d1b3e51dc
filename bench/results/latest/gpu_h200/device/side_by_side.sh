#!/usr/bin/env bash
# bench/run.py --quick side by side with wyoming-faster-whisper / wyoming-piper on CUDA
# (side_by_side_1.md; run 2 was the same run.py line again on the warm machine).
source "$(dirname "$0")/setup.sh" peers
bench/.peer-venv/bin/python -c "import wyoming_faster_whisper, wyoming_piper, sentence_stream; print('peer imports ok')" || exit 5
python3 -c "import wyoming_rtx.__main__; print('ours ok')" || exit 5
timeout 450 python3 bench/run.py --quick --device cuda --asr-model $M --time-limit 400 --out /root/runout 2>&1 | tail -c 6000
cp /root/runout/report.md /root/runout/results.json $OUT/ 2>/dev/null
cd /root/runout && for f in $(ls *.log | head -5); do cp "$f" $OUT/; done; ls $OUT
