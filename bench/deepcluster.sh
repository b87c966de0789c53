#!/bin/sh
# Quality and cost of the DeepCluster encoder (--encoder deepcluster and
# handcrafted+deepcluster) on the development suite: for each seed and
# dataset, `segdiscover run` with --encoder deepcluster, then the same
# OUT dir copied and run again with handcrafted+deepcluster (the encoder is
# reused: only the features, the mixture and what follows are recomputed),
# each scored with peers/eval_miou.py (Hungarian mIoU, K = number of
# classes): the pseudo-labels, and with MASKS=1 the refined masks too
# (the whole pipeline instead of --until pseudolabels).
#
#   sh bench/deepcluster.sh OUT_DIR [seeds] [datasets]
#   e.g. nice -n 5 sh bench/deepcluster.sh /tmp/dc "1 2 3" "stanford_background siftflow"
#
# Extra run flags in EXTRA (default "--pca 16", as bench/swav.sh).
# Results: OUT_DIR/results.tsv (dataset, seed, variant, pseudo-label mIoU,
# mask mIoU or -, encoder seconds, features seconds). Build tag openblas
# (needs libopenblas-dev).
set -eu
cd "$(dirname "$0")/.."
out=$1
seeds=${2:-1 2 3}
datasets=${3:-stanford_background siftflow}
SHARED=${SHARED:-../shared}
EXTRA=${EXTRA:---pca 16}
MASKS=${MASKS:-0}
mkdir -p "$out"
[ -x "$out/segdiscover" ] || CGO_ENABLED=1 go build -tags openblas -o "$out/segdiscover" ./cmd/segdiscover
[ -f "$out/results.tsv" ] || printf 'dataset\tseed\tvariant\tpseudolabels_miou\tmasks_miou\tencoder_s\tfeatures_s\n' >"$out/results.tsv"
until=""
[ "$MASKS" = 1 ] || until="--until pseudolabels"
miou() {
	/usr/bin/python3 "$SHARED/peers/eval_miou.py" "$1" --gt "$2" | sed -n 's/.*hungarian mIoU \([0-9.]*\).*/\1/p'
}
for seed in $seeds; do
	for ds in $datasets; do
		k=$(wc -l <"$SHARED/data/$ds/classes.txt")
		for v in deepcluster handcrafted+deepcluster; do
			o="$out/$ds-s$seed-$v"
			if [ "$v" = handcrafted+deepcluster ] && [ ! -d "$o" ]; then
				cp -r "$out/$ds-s$seed-deepcluster" "$o"
			fi
			# shellcheck disable=SC2086
			"$out/segdiscover" run "$SHARED/data/$ds/images" -o "$o" --concepts "$k" --seed "$seed" \
				--encoder "$v" $until -q $EXTRA
			pm=$(miou "$o/pseudolabels" "$SHARED/data/$ds/labels")
			mm=-
			[ "$MASKS" = 1 ] && mm=$(miou "$o/masks" "$SHARED/data/$ds/labels")
			es=$(/usr/bin/python3 -c "import json; r=json.load(open('$o/run.json')); print(' '.join(str(round(s['seconds'],1)) for s in r['stages'] if s['name'] in ('encoder','features')))")
			printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$ds" "$seed" "$v" "$pm" "$mm" "$(echo "$es" | tr ' ' '\t')" | tee -a "$out/results.tsv"
		done
	done
done
