#!/bin/sh
# Reproduce the shipped text-line detector from nothing but generated scenes, in one command:
#
#     sh scripts/reproduce-detector.sh [RUN_DIR]
#
# Every step is resumable: run it again after an interruption and it continues where it stopped
# (training resumes from RUN*/last.pt, a pruned init.pt is kept). Set STEPS to train the parent
# longer, THREADS to use more cores. On this project's 2-core CPU machine, sharing it with
# another training, the parent took about 1 h 10 min and slimming, pruning and fine-tuning
# about another 50 min (models/DETECTOR_CARD.md).
set -eu
cd "$(dirname "$0")/.."
RUN=${1:-runs/det}
STEPS=${STEPS:-7000}
SLIM_STEPS=${SLIM_STEPS:-2500}
FT_STEPS=${FT_STEPS:-4500}
THREADS=${THREADS:-1}
VERSION=${VERSION:-0.2.1}
PY=${PY:-python3}

[ "$(id -u)" -eq 0 ] && sh scripts/install-train-deps.sh >/dev/null || true
# 1. Train the parent on crops of generated scenes (a fixed generated validation set picks
#    best.pt; this was text-det 0.1.0).
$PY -m scripts.train_det --run "$RUN" --steps "$STEPS" --threads "$THREADS" --workers 1 \
    --eval-every 500
# 2. Network slimming: fine-tune the parent with an L1 penalty on every BatchNorm scale.
$PY -m scripts.train_det --run "$RUN-slim" --init "$RUN/best.pt" --steps "$SLIM_STEPS" \
    --lr 1.5e-3 --warmup 100 --sparsity 0.5 --threads "$THREADS" --workers 1 --eval-every 500
# 3. Prune: 40% fewer parameters and MACs, widths multiples of 8, then fine-tune the smaller net.
[ -f "$RUN-pruned/init.pt" ] || $PY -m scripts.prune_det --ckpt "$RUN-slim/last.pt" \
    --out "$RUN-pruned/init.pt" --target 0.4
$PY -m scripts.train_det --run "$RUN-pruned" --init "$RUN-pruned/init.pt" --steps "$FT_STEPS" \
    --lr 1.5e-3 --warmup 100 --threads "$THREADS" --workers 1 --eval-every 500
# 4. The generated test set (another seed than training and validation).
[ -f data/scenes_test/annotations.jsonl ] || $PY -m scripts.scenes --out data/scenes_test \
    --count 300 --seed 424242 --workers 2
# 5. Export: thresholds and unclip ratio tuned on validation scenes, FP32 + INT8, both scored on
#    the test set and timed on one thread.
$PY -m scripts.export_det --ckpt "$RUN-pruned/best.pt" --out models/text_det \
    --version "$VERSION" --tune 100 --compare data/scenes_test \
    --provenance "scripts/reproduce-detector.sh: parent $STEPS steps, slimming $SLIM_STEPS \
steps, pruned -51% params -47% MACs, fine-tuned $FT_STEPS steps; generated scenes only"
rm -f models/text_det_fp32.onnx
# The weights to resume from (best.pt has no optimizer state).
cp "$RUN-pruned/best.pt" models/text_det.pt
