#!/bin/sh
# Issue 13: a Stanford Background model (K=8) carried to SIFT Flow.
# Per seed: the source run, predict of it on SIFT Flow, adapt, a fresh run on
# SIFT Flow with the same K; each scored with ../shared/peers/eval_miou.py on
# SIFT Flow's labels; then the identity of the source's "sky" concept.
#   bench/adapt.sh BIN OUTROOT SEED...
set -eu
BIN=$1; ROOT=$2; shift 2
DATA=/work/shared/data
EVAL="/usr/bin/python3 /work/shared/peers/eval_miou.py"
HERE=$(dirname "$0")
for S in "$@"; do
  SRC=$ROOT/stan_s$S
  nice -n 5 "$BIN" run $DATA/stanford_background/images -o "$SRC" --concepts 8 --seed "$S" -q
  nice -n 5 "$BIN" predict --model "$SRC" $DATA/siftflow/images -o "$ROOT/pred_s$S" -q
  nice -n 5 "$BIN" adapt --model "$SRC" $DATA/siftflow/images -o "$ROOT/adapt_s$S" > "$ROOT/adapt_s$S.summary.txt"
  nice -n 5 "$BIN" run $DATA/siftflow/images -o "$ROOT/fresh_s$S" --concepts 8 --seed "$S" -q
  for D in pred adapt fresh; do
    echo "seed $S $D: $($EVAL "$ROOT/${D}_s$S/masks" --gt $DATA/siftflow/labels --json "$ROOT/${D}_s$S.eval.json" | tr '\n' ' ')"
  done
  echo "seed $S source on Stanford: $($EVAL "$SRC/masks" --gt $DATA/stanford_background/labels | tr '\n' ' ')"
  /usr/bin/python3 "$HERE/adapt_identity.py" --class sky "$SRC/masks" $DATA/stanford_background/labels $DATA/siftflow/labels \
    "$ROOT/pred_s$S/masks" "$ROOT/adapt_s$S/masks"
done
