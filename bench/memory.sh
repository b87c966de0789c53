#!/bin/sh
# Peak memory (maximum resident set size, from /usr/bin/time -v) of each
# stage of `segdiscover run` on the Stanford Background images repeated
# 1x, 4x, ... (the 715 images symlinked under that many sub-folders of
# WORK: nothing is copied), for a BEFORE and an AFTER binary.
#
#   sh bench/memory.sh BEFORE_BIN AFTER_BIN WORK [scales]
#   e.g. nice -n 5 sh bench/memory.sh /work/runs/m17/segdiscover-main ./segdiscover /work/runs/m17/memory "1 4"
#
# For each scale and each binary (BINARIES, default "before after"; the
# two can be measured at different times), the binary runs the stages one
# at a time in its own OUT dir WORK/out${scale}x-NAME: --until
# superpixels, features, cluster, pseudolabels, train (--epochs 1: what a
# stage holds does not depend on the epoch count), masks. Each run finds
# the earlier stages cached, so its peak is that stage's (pseudolabels,
# train and masks also redraw the overlays and the report). Last comes a
# rerun with everything cached (stage "cached": the per-image bookkeeping
# and the report, which is always recomputed).
# When both OUT dirs of a scale are complete, their outputs (model/,
# pseudolabels/, masks/, overlays/, report/, report.html, concepts.json)
# are compared byte for byte.
# Results: WORK/memory.tsv (scale, images, stage, binary, max RSS in MB,
# wall s, user s, sys s).
set -eu
before=$1
after=$2
work=$3
scales=${4:-1 4}
BINARIES=${BINARIES:-before after}
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
	n=$(find -L "$work/in${sc}x" -name '*.jpg' | wc -l)
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
	for name in $BINARIES; do
		eval bin=\$$name
		o="$work/out${sc}x-$name"
		rm -rf "$o"
		for stage in superpixels features cluster pseudolabels train masks; do
			measure "$sc" "$stage" "$name" "$work/log-${sc}x-$name-$stage.txt" "$bin" run "$in" -o "$o" --until "$stage" --epochs 1
		done
		measure "$sc" cached "$name" "$work/log-${sc}x-$name-cached.txt" "$bin" run "$in" -o "$o" --until masks --epochs 1
		touch "$o.done"
	done
	if [ -f "$work/out${sc}x-before.done" ] && [ -f "$work/out${sc}x-after.done" ]; then
		same=yes
		for p in model pseudolabels masks overlays report concepts.json; do
			diff -r "$work/out${sc}x-before/$p" "$work/out${sc}x-after/$p" >/dev/null || { same=no; echo "scale ${sc}x: $p DIFFERS before and after"; }
		done
		# report.html names its OUT dir and the stages' times, and lists the
		# settings (the encoder-images one is new in m17): those aside, it
		# must be the same.
		for name in before after; do
			sed -e "s#$work/out${sc}x-$name#OUT#g" -e 's#<td class="n">[0-9.]* s</td>#<td class="n">T s</td>#g' \
				-e 's#<tr><th>encoder-images</th><td>[0-9]*</td></tr>##' \
				"$work/out${sc}x-$name/report.html" >"$work/report-${sc}x-$name.html"
		done
		cmp -s "$work/report-${sc}x-before.html" "$work/report-${sc}x-after.html" || { same=no; echo "scale ${sc}x: report.html DIFFERS before and after (beyond OUT dir and times)"; }
		[ "$same" = yes ] && echo "scale ${sc}x: model, pseudolabels, masks, overlays, report/, concepts.json byte-identical before and after; report.html too but for OUT dir and times"
	fi
done
