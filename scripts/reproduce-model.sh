#!/bin/sh
# Reproduce the shipped Latin model from nothing but generated data, in one command:
#
#     sh scripts/reproduce-model.sh [RUN_DIR]
#
# Every step is resumable: run it again after an interruption and it continues where it stopped
# (training resumes from RUN/last.pt). Set STEPS / FINETUNE_STEPS to train longer. On this
# project's 2-core CPU machine the defaults take about 1 h 15 min; a GPU is used when present.
set -eu
cd "$(dirname "$0")/.."
RUN=${1:-runs/latin}
STEPS=${STEPS:-8000}
FINETUNE_STEPS=${FINETUNE_STEPS:-1200}
VERSION=${VERSION:-0.1.0}
PY=${PY:-python3}

[ "$(id -u)" -eq 0 ] && sh scripts/install-train-deps.sh >/dev/null || true
# 1. Train the parent with network slimming (L1 on BatchNorm scales from 1/4 of the run on).
$PY -m scripts.train --run "$RUN" --steps "$STEPS" --sparsity 0.2 \
    --sparsity-start $((STEPS / 4)) --workers 1 --eval-every 1000 --real-limit 500
# 2. Remove the channels slimming zeroed (>= 45% fewer MACs and parameters), then fine-tune.
[ -f "$RUN-pruned/init.pt" ] || $PY -m scripts.prune --ckpt "$RUN/last.pt" \
    --out "$RUN-pruned/init.pt" --target 0.45
$PY -m scripts.train --run "$RUN-pruned" --init "$RUN-pruned/init.pt" --steps "$FINETUNE_STEPS" \
    --lr 5e-4 --warmup 50 --workers 1 --eval-every 400 --real-limit 500
# 3. Ship the parent (INT8 + its weights, to resume from); the pruned model goes to RUN-pruned/
#    until it is within 1 point of the parent (models/MODEL_CARD.md).
$PY -m scripts.export --ckpt "$RUN/last.pt" --out models/latin_crnn --version "$VERSION" --weights \
    --provenance "scripts/reproduce-model.sh: $STEPS steps with slimming; generated data only"
mv models/latin_crnn.pt models/latin_crnn_parent.pt
rm -f models/latin_crnn_fp32.onnx
$PY -m scripts.export --ckpt "$RUN-pruned/last.pt" --out "$RUN-pruned/latin_crnn_pruned" \
    --version "$VERSION"
echo "evaluate with: $PY -m scripts.evaluate --model models/latin_crnn_int8.onnx" \
     "--model $RUN-pruned/latin_crnn_pruned_int8.onnx"
