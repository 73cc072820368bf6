#!/bin/sh
# Reproduce the shipped Latin model from nothing but generated data, in one command:
#
#     sh scripts/reproduce-model.sh [RUN_DIR]
#
# Every step is resumable: run it again after an interruption and it continues where it stopped
# (training resumes from RUN/last.pt). On this project's 2-core CPU machine the defaults take
# about 13 h (parent 45 min, pruned network 1 h 30 min + 30 min + 1 h 15 min + 1 h + 50 +
# 45 + 45 + 50 + 40 + 60 + 50 + 50 + 50 min, timed before commit 261b0b5 made each step about a
# fifth faster; then 1 h 45 min for the replay cycle, in fp32 on an AVX2-only CPU); a GPU is used
# when present.
set -eu
cd "$(dirname "$0")/.."
RUN=${1:-runs/latin}
STEPS=${STEPS:-8000}
FINETUNE_STEPS=${FINETUNE_STEPS:-14000}
MORE_STEPS=${MORE_STEPS:-8000}
THIRD_STEPS=${THIRD_STEPS:-14000}
FOURTH_STEPS=${FOURTH_STEPS:-14000}
FIFTH_STEPS=${FIFTH_STEPS:-11000}
SIXTH_STEPS=${SIXTH_STEPS:-10000}
SEVENTH_STEPS=${SEVENTH_STEPS:-7000}
EIGHTH_STEPS=${EIGHTH_STEPS:-9000}
NINTH_STEPS=${NINTH_STEPS:-7000}
TENTH_STEPS=${TENTH_STEPS:-9000}
ELEVENTH_STEPS=${ELEVENTH_STEPS:-9000}
TWELFTH_STEPS=${TWELFTH_STEPS:-9000}
THIRTEENTH_STEPS=${THIRTEENTH_STEPS:-9000}
REPLAY_STEPS=${REPLAY_STEPS:-10000}
VERSION=${VERSION:-0.2.13}
PY=${PY:-python3}

[ "$(id -u)" -eq 0 ] && sh scripts/install-train-deps.sh >/dev/null || true
# 1. The parent (models/latin_crnn_parent.pt, v0.1.0): 8000 steps, an L1 pull on the
#    BatchNorm scales from 1/4 of the run on (network slimming).
$PY -m scripts.train --run "$RUN" --steps "$STEPS" --sparsity 0.2 \
    --sparsity-start $((STEPS / 4)) --workers 1 --eval-every 1000 --real-limit 500
# 2. Prune: remove the weakest channels by |BatchNorm scale| until >= 40% of the parameters and
#    of the MACs are gone (each layer keeps >= 70%, widths rounded up to multiples of 8) and
#    keep 80 of the 96 LSTM units; then train the smaller network on.
[ -f "$RUN-slim/init.pt" ] || $PY -m scripts.prune --ckpt "$RUN/last.pt" \
    --out "$RUN-slim/init.pt" --target 0.40 --min-keep 0.7 --hidden 80
$PY -m scripts.train --run "$RUN-slim" --init "$RUN-slim/init.pt" --steps "$FINETUNE_STEPS" \
    --lr 0.0015 --warmup 300 --workers 1 --eval-every 1000 --real-limit 500
# 3. A second, shorter cosine cycle from those weights (warm restart at lr 1e-3).
$PY -m scripts.train --run "$RUN-slim2" --init "$RUN-slim/last.pt" --steps "$MORE_STEPS" \
    --lr 0.001 --warmup 200 --workers 1 --threads 1 --eval-every 1000 --real-limit 500
# Each further cycle is a warm restart at lr 1e-3 from the previous one's weights, on another
# data seed: `cycle N STEPS EVAL_EVERY SEED` trains $RUN-slimN from $RUN-slim(N-1).
cycle() {
    $PY -m scripts.train --run "$RUN-slim$1" --init "$RUN-slim$(($1 - 1))/last.pt" --steps "$2" \
        --lr 0.001 --warmup 200 --workers 1 --threads 1 --eval-every "$3" --real-limit 500 \
        --seed "$4"
}
# 4. A third cycle on lines whose optics always leave the text legible.
cycle 3 "$THIRD_STEPS" 1000 31
# 4b. A fourth cycle.
cycle 4 "$FOURTH_STEPS" 1000 41
# 4c. A fifth cycle, on lines the stricter legibility checks let through.
cycle 5 "$FIFTH_STEPS" 2000 51
# 4d. A sixth cycle, on crops sometimes cut flush with the outer letters.
cycle 6 "$SIXTH_STEPS" 2000 61
# 4e. A seventh cycle, on crops that show a cut-off piece of the neighbouring word and on
#     letter-spaced signage.
cycle 7 "$SEVENTH_STEPS" 3500 81
# 4f. An eighth cycle: pieces that never show a lone stem, over a word space away.
cycle 8 "$EIGHTH_STEPS" 4500 101
# 4g. A ninth cycle: more words of up to three letters, more crops flush with the outer letter.
cycle 9 "$NINTH_STEPS" 3500 111
# 4h. A tenth cycle on the same generator, another data seed.
cycle 10 "$TENTH_STEPS" 4500 121
# 4i. An eleventh cycle on lines whose word spaces are sometimes narrower or wider than the font's.
cycle 11 "$ELEVENTH_STEPS" 4500 141
# 4j. A twelfth cycle on the same generator, another data seed.
cycle 12 "$TWELFTH_STEPS" 4500 151
# 4k. A thirteenth cycle on the same generator, another data seed.
cycle 13 "$THIRTEENTH_STEPS" 4500 161
# 4l. The mean of the last two cycles' weights (stochastic weight averaging; seconds).
$PY -m scripts.average "$RUN-slim12/last.pt" "$RUN-slim13/last.pt" --out "$RUN-avg.pt"
# 4m. A fourteenth cycle from that mean with hard example replay (every fourth step retrains the
#     64 hardest lines seen lately), then the mean of its start and its end.
$PY -m scripts.train --run "$RUN-replay" --init "$RUN-avg.pt" --replay 0.25 \
    --steps "$REPLAY_STEPS" --lr 0.001 --warmup 200 --workers 1 --threads 1 \
    --eval-every $((REPLAY_STEPS / 2)) --real-limit 500 --seed 301
$PY -m scripts.average "$RUN-avg.pt" "$RUN-replay/last.pt" --out "$RUN-avg2.pt"
# 5. Ship the pruned model: INT8 for the daemon, its weights to resume training from.
$PY -m scripts.export --ckpt "$RUN-avg2.pt" --out models/latin_crnn --version "$VERSION" \
    --weights --provenance "scripts/reproduce-model.sh: parent $STEPS steps, pruned -41% params \
-43% MACs, trained $FINETUNE_STEPS + $MORE_STEPS + $THIRD_STEPS + $FOURTH_STEPS + $FIFTH_STEPS \
+ $SIXTH_STEPS + $SEVENTH_STEPS + $EIGHTH_STEPS + $NINTH_STEPS + $TENTH_STEPS + $ELEVENTH_STEPS \
+ $TWELFTH_STEPS + $THIRTEENTH_STEPS steps more, \
the mean of the last two cycles' weights, $REPLAY_STEPS steps more with hard example replay, \
the mean of that cycle's start and end; generated data only"
rm -f models/latin_crnn_fp32.onnx
# 6. The character language model that settles unsure readings: n-grams of 1M generated label
#    lines and word-list phrases, the recognizer's own training text (about 2 min).
$PY -m scripts.charlm --out models/latin_charlm.npz
$PY -m scripts.export --ckpt "$RUN/last.pt" --out "$RUN/latin_crnn_parent" --version 0.1.0
echo "evaluate with: $PY -m scripts.evaluate --model models/latin_crnn_int8.onnx" \
     "--model $RUN/latin_crnn_parent_int8.onnx --model $RUN/latin_crnn_parent_fp32.onnx"
