#!/bin/sh
# Quality and cost of the SwAV encoder (--encoder swav) on the development
# suite: for each seed and dataset, `segdiscover run --until pseudolabels`
# with each encoder variant, scored with peers/eval_miou.py (Hungarian mIoU,
# K = number of classes). The encoder is trained once per dataset and seed
# and shared by the variants that only differ after it (same OUT dir).
#
#   sh bench/swav.sh OUT_DIR [seeds] [variants] [datasets]
#   e.g. sh bench/swav.sh /tmp/swav "1 2 3" "swav handcrafted+swav" "stanford_background siftflow"
#
# A variant is an --encoder value optionally followed by ':' and extra flags
# joined with ',' (e.g. "swav:--pca,8"). Results: OUT_DIR/results.tsv
# (dataset, seed, variant, mIoU, encoder seconds, features seconds).
# Run it niced on a shared machine; build tag openblas (needs libopenblas-dev).
set -eu
cd "$(dirname "$0")/.."
out=$1
seeds=${2:-1 2 3}
variants=${3:-swav handcrafted+swav}
datasets=${4:-stanford_background siftflow}
SHARED=${SHARED:-../shared}
mkdir -p "$out"
CGO_ENABLED=1 go build -tags openblas -o "$out/segdiscover" ./cmd/segdiscover
[ -f "$out/results.tsv" ] || printf 'dataset\tseed\tvariant\tmiou\tencoder_s\tfeatures_s\n' >"$out/results.tsv"
for seed in $seeds; do
	for ds in $datasets; do
		k=$(wc -l <"$SHARED/data/$ds/classes.txt")
		for v in $variants; do
			enc=${v%%:*}
			extra=""
			[ "$enc" != "$v" ] && extra=$(echo "${v#*:}" | tr ',' ' ')
			o="$out/$ds-s$seed"
			# shellcheck disable=SC2086
			"$out/segdiscover" run "$SHARED/data/$ds/images" -o "$o" --concepts "$k" --seed "$seed" \
				--encoder "$enc" --pca 16 --until pseudolabels -q $extra
			m=$(/usr/bin/python3 "$SHARED/peers/eval_miou.py" "$o/pseudolabels" --gt "$SHARED/data/$ds/labels" |
				sed -n 's/.*hungarian mIoU \([0-9.]*\).*/\1/p')
			es=$(/usr/bin/python3 -c "import json,sys; r=json.load(open('$o/run.json')); print(' '.join(str(round(s['seconds'],1)) for s in r['stages'] if s['name'] in ('encoder','features')))")
			printf '%s\t%s\t%s\t%s\t%s\n' "$ds" "$seed" "$v" "$m" "$(echo "$es" | tr ' ' '\t')" | tee -a "$out/results.tsv"
		done
	done
done
