#!/bin/sh
# Peak memory (maximum resident set size, from /usr/bin/time -v) of each
# stage of `segdiscover run` on the Stanford Background images repeated
# 1x, 4x, ... (the 715 images symlinked under that many sub-folders of
# WORK: nothing is copied), for a BEFORE and an AFTER binary.
#
#   sh bench/memory.sh BEFORE_BIN AFTER_BIN WORK [scales]
#   e.g. nice -n 5 sh bench/memory.sh /work/runs/lead/segdiscover ./segdiscover /work/runs/a17m/memory "1 4"
#
# For each scale, AFTER runs the stages one at a time (--until superpixels,
# features, cluster, pseudolabels: each finds the earlier ones cached, so
# its peak is that stage's), then the train stage runs in a copy of that
# OUT dir per binary (--until train, --epochs 1: the samples a trainer
# holds do not depend on the epoch count, an epoch only repeats the same
# batches) and the two model/segnet.safetensors are compared byte for byte.
# Then AFTER runs the masks stage (--until masks, in the AFTER train
# dir: it also redraws the overlays and the report) and finally a rerun
# with everything cached (stage "cached": the per-image bookkeeping alone).
# ONLY=masks skips to that last part (earlier parts already measured).
# Results: WORK/memory.tsv (scale, images, stage, binary, max RSS in MB,
# wall s, user s, sys s).
set -eu
before=$1
after=$2
work=$3
scales=${4:-1 4}
IMAGES=${IMAGES:-../shared/data/stanford_background/images}
IMAGES=$(cd "$IMAGES" && pwd)
mkdir -p "$work"
tsv="$work/memory.tsv"
[ -f "$tsv" ] || printf 'scale\timages\tstage\tbinary\tmax_rss_mb\twall_s\tuser_s\tsys_s\n' >"$tsv"
# measure SCALE STAGE BINARY_NAME LOG cmd...: runs cmd under time -v, appends a row.
measure() {
	sc=$1 stage=$2 name=$3 log=$4
	shift 4
	/usr/bin/time -v "$@" >"$log" 2>&1 || { tail -20 "$log"; exit 1; }
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
	wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log" | awk -F: '{s=0; for(i=1;i<=NF;i++) s=s*60+$i; print s}')
	usr=$(sed -n 's/.*User time (seconds): //p' "$log")
	sys=$(sed -n 's/.*System time (seconds): //p' "$log")
	n=$(find "$work/in${sc}x" -name '*.jpg' | wc -l)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$n" "$stage" "$name" "$((rss / 1024))" "$wall" "$usr" "$sys" | tee -a "$tsv"
}
for sc in $scales; do
	in="$work/in${sc}x"
	if [ ! -d "$in" ]; then
		i=0
		while [ "$i" -lt "$sc" ]; do
			d="$in/r$i"
			mkdir -p "$d"
			for f in "$IMAGES"/*.jpg; do ln -s "$f" "$d/"; done
			i=$((i + 1))
		done
	fi
	out="$work/out${sc}x"
	o="$work/out${sc}x-train-after"
	if [ "${ONLY:-}" = masks ]; then
		measure "$sc" masks after "$work/log-${sc}x-masks.txt" "$after" run "$in" -o "$o" --until masks --epochs 1
		measure "$sc" cached after "$work/log-${sc}x-cached.txt" "$after" run "$in" -o "$o" --until masks --epochs 1
		continue
	fi
	for stage in superpixels features cluster pseudolabels; do
		measure "$sc" "$stage" after "$work/log-${sc}x-$stage.txt" "$after" run "$in" -o "$out" --until "$stage" --epochs 1
	done
	for name in before after; do
		o="$work/out${sc}x-train-$name"
		rm -rf "$o"
		cp -a "$out" "$o"
		eval bin=\$$name
		measure "$sc" train "$name" "$work/log-${sc}x-train-$name.txt" "$bin" run "$in" -o "$o" --until train --epochs 1
	done
	if cmp "$work/out${sc}x-train-before/model/segnet.safetensors" "$work/out${sc}x-train-after/model/segnet.safetensors"; then
		echo "scale ${sc}x: model/segnet.safetensors byte-identical before and after"
	else
		echo "scale ${sc}x: model/segnet.safetensors DIFFERS before and after"
	fi
done
