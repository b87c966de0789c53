#!/bin/sh
# Quality of segnet's smoothing on Stanford Background: train on the
# reference pseudo-labels (peers/results/pseudo_k8, K=8) once per seed, predict
# every image, and score the predictions and the pseudo-labels themselves with
# peers/eval_miou.py (Hungarian mIoU against the ground truth).
#
#   sh bench/segnet_quality.sh OUT_DIR [segnetquality flags...]
#   e.g. sh bench/segnet_quality.sh /tmp/segq -seeds 0,1,2 -epochs 5
set -eu
cd "$(dirname "$0")/.."
out=$1
shift
SHARED=${SHARED:-../shared}
mkdir -p "$out"
CGO_ENABLED=1 go build -tags openblas -o "$out/segnetquality" ./bench/segnetquality
"$out/segnetquality" -images "$SHARED/data/stanford_background/images" \
	-pseudo "$SHARED/peers/results/pseudo_k8" -out "$out" "$@" 2>&1 | tee "$out/train.log"
gt="$SHARED/data/stanford_background/labels"
echo "pseudo-labels: $(/usr/bin/python3 "$SHARED/peers/eval_miou.py" "$SHARED/peers/results/pseudo_k8" --gt "$gt" | grep -i miou | head -1)"
for d in "$out"/seed*; do
	/usr/bin/python3 "$SHARED/peers/eval_miou.py" "$d" --gt "$gt" --json "$d.json" >"$d.eval.log"
	echo "$(basename "$d"): $(grep -i miou "$d.eval.log" | head -1)"
done
