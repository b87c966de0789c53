#!/usr/bin/env bash
# Issue 7 acceptance: `segdiscover run` up to the pseudo-labels against the
# reference Python pipeline (peers/pipeline_ref.py: scikit-image SLIC 300,
# 20 hand-crafted features, scikit-learn full GMM), side by side in one run
# on the 715 Stanford Background images, with 2 workers each:
#   - wall-clock throughput ratio (target >= 5x),
#   - peak memory (/usr/bin/time -v, max RSS) of ours at 1x, 2x and 4x the
#     images (the folder repeated through symbolic links to sub-folders of a
#     temporary tree; target < 1 GiB and flat for the per-image stages),
#     measured separately for the per-image stages (--until features) and
#     for the global ones that follow (which hold the feature matrix),
#   - mIoU / pixel accuracy of both outputs with peers/eval_miou.py
#     (targets: > 18.9%, the per-pixel Lab k-means baseline),
#   - the time of a rerun of ours (everything cached).
#
#   bench/pipeline.sh [K] [masks]   (from the module root; default K = 8)
#
# With "masks", a last step also trains the network and predicts the refined
# masks (`--until masks`, default training settings) and scores them.
#
# Ours runs with the default settings of `segdiscover run` (overlays
# included), --concepts K, --until pseudolabels.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
k=${1:-8}
shared=$(cd .. && pwd)/shared
py=/usr/bin/python3
images=$shared/data/stanford_background/images
gt=$shared/data/stanford_background/labels
[ -d "$images" ] || { echo "no $images" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/segdiscover" ./cmd/segdiscover

# timed LABEL CMD...: runs CMD under /usr/bin/time -v, prints
# "LABEL wall_s max_rss_MiB cpu_s" (cpu = user + system, children included).
timed() {
	local label=$1; shift
	/usr/bin/time -v -o "$tmp/time.$label" "$@" >"$tmp/log.$label" 2>&1 || {
		local rc=$?; [ $rc -eq 3 ] || { echo "$label failed ($rc):" >&2; tail -20 "$tmp/log.$label" >&2; exit 1; }
	}
	local wall rss cpu
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$tmp/time.$label")
	rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$tmp/time.$label")
	cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {printf "%.2f", s}' "$tmp/time.$label")
	echo "$label $wall $rss $cpu"
}

miou() { # DIR -> "mIoU% pixacc%"
	$py "$shared/peers/eval_miou.py" "$1" --gt "$gt" --json "$tmp/miou.json" >/dev/null
	$py -c 'import json,sys; d=json.load(open(sys.argv[1]))["hungarian"]; print("%.2f %.2f" % (100*d["miou"], 100*d["pixel_acc"]))' "$tmp/miou.json"
}

echo "== side by side, 715 images, 2 workers each, K=$k"
ref=$(timed ref $py "$shared/peers/pipeline_ref.py" --images "$images" --out "$tmp/ref" --k "$k" --procs 2 --json "$tmp/ref.json")
ours=$(timed ours "$tmp/segdiscover" run "$images" -o "$tmp/ours" --concepts "$k" --until pseudolabels --workers 2 --log-format json)
rerun=$(timed rerun "$tmp/segdiscover" run "$images" -o "$tmp/ours" --concepts "$k" --until pseudolabels --workers 2 --log-format json)
read -r _ ref_s ref_mb ref_cpu <<<"$ref"
read -r _ ours_s ours_mb ours_cpu <<<"$ours"
read -r _ rerun_s _ rerun_cpu <<<"$rerun"
printf "%-28s %9s %9s %11s\n" "" "wall s" "CPU s" "maxRSS MiB"
printf "%-28s %9.2f %9.2f %11s\n" "pipeline_ref.py (--procs 2)" "$ref_s" "$ref_cpu" "$ref_mb"
printf "%-28s %9.2f %9.2f %11s\n" "segdiscover run (-w 2)" "$ours_s" "$ours_cpu" "$ours_mb"
printf "%-28s %9.2f %9.2f\n" "segdiscover rerun (cached)" "$rerun_s" "$rerun_cpu"
awk -v a="$ref_s" -v b="$ours_s" -v c="$ref_cpu" -v d="$ours_cpu" 'BEGIN {printf "throughput ratio ours/ref: wall %.2fx (target >= 5x), CPU time %.2fx\n", a/b, c/d}'
grep -E '"msg":"(cluster|run)' "$tmp/log.ours" | head -5 || true
sed -n '/^done/,$p' "$tmp/log.ours" || true

echo "== quality (peers/eval_miou.py, Hungarian), target mIoU > 18.9%"
echo "ref  pseudo-labels: mIoU% pixacc% = $(miou "$tmp/ref")"
echo "ours pseudo-labels: mIoU% pixacc% = $(miou "$tmp/ours/pseudolabels")"
if [ "${2:-}" = masks ]; then
	m=$(timed masks "$tmp/segdiscover" run "$images" -o "$tmp/ours" --concepts "$k" --until masks --workers 2 --log-format json)
	read -r _ s _ _ <<<"$m"
	echo "ours refined masks: mIoU% pixacc% = $(miou "$tmp/ours/masks")  (train + predict: ${s}s)"
fi

echo "== peak memory of ours at 1x, 2x, 4x the images (folder repeated via symlinks)"
echo "   per-image stages (--until features), then the global ones on that cache (--until pseudolabels)"
printf "%-6s %7s %12s %12s %12s %12s\n" "copies" "images" "perimg wall" "perimg MiB" "global wall" "global MiB"
for n in 1 2 4; do
	rep=$tmp/rep$n
	mkdir -p "$rep"
	cp -r "$images" "$rep/c0"
	for i in $(seq 1 $((n - 1))); do ln -s c0 "$rep/c$i"; done
	a=$(timed "f$n" "$tmp/segdiscover" run "$rep" -o "$tmp/out$n" --concepts "$k" --until features --workers 2 --log-format json)
	b=$(timed "p$n" "$tmp/segdiscover" run "$rep" -o "$tmp/out$n" --concepts "$k" --until pseudolabels --workers 2 --log-format json)
	read -r _ s1 mb1 _ <<<"$a"
	read -r _ s2 mb2 _ <<<"$b"
	printf "%-6s %7d %12.2f %12s %12.2f %12s\n" "$n" $((715 * n)) "$s1" "$mb1" "$s2" "$mb2"
	rm -rf "$tmp/out$n" "$rep"
done
