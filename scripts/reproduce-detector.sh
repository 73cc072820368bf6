#!/bin/sh
# Reproduce the shipped text-line detector from nothing but generated scenes, in one command:
#
#     sh scripts/reproduce-detector.sh [RUN_DIR]
#
# Every step is resumable: run it again after an interruption and it continues where it stopped
# (training resumes from RUN/last.pt). Set STEPS to train longer, THREADS to use more cores. On
# this project's 2-core CPU machine, sharing it with another training, the defaults took about
# 1 h 10 min (models/DETECTOR_CARD.md).
set -eu
cd "$(dirname "$0")/.."
RUN=${1:-runs/det}
STEPS=${STEPS:-7000}
THREADS=${THREADS:-1}
VERSION=${VERSION:-0.1.0}
PY=${PY:-python3}

[ "$(id -u)" -eq 0 ] && sh scripts/install-train-deps.sh >/dev/null || true
# 1. Train on crops of generated scenes (a fixed generated validation set picks best.pt).
$PY -m scripts.train_det --run "$RUN" --steps "$STEPS" --threads "$THREADS" --workers 1 \
    --eval-every 500
# 2. The generated test set (another seed than training and validation).
[ -f data/scenes_test/annotations.jsonl ] || $PY -m scripts.scenes --out data/scenes_test \
    --count 300 --seed 424242 --workers 2
# 3. Export: thresholds and unclip ratio tuned on validation scenes, FP32 + INT8, both scored on
#    the test set and timed on one thread.
$PY -m scripts.export_det --ckpt "$RUN/best.pt" --out models/text_det --version "$VERSION" \
    --tune 100 --compare data/scenes_test \
    --provenance "scripts/reproduce-detector.sh: $STEPS steps; generated scenes only"
rm -f models/text_det_fp32.onnx
