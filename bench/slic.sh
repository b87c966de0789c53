#!/bin/sh
# bench/slic.sh: our SLIC (through the CLI) against scikit-image's slic and
# OpenCV's ximgproc SLIC on the BSDS500 test images, single-threaded, at 200
# and 1000 requested segments, all scored with ../shared/peers/spmetrics.py.
#
# Usage (from the module root):   sh bench/slic.sh [RUNS]
# Environment: DATA (default ../shared/data/bsds500_test), LIMIT (first N
# images only; default all 200), KEEP=1 keeps the temporary folder,
# COMPACTNESS (default 5 = superpixel.DefaultCompactness, passed to the CLI
# explicitly so the table measures the library default whatever default
# the CLI's own config applies), BASELINE (a segdiscover binary built from
# another commit, e.g. `git archive HEAD | tar -x -C /tmp/head && (cd
# /tmp/head && go build -o /tmp/sd_head ./cmd/segdiscover)`: it is timed
# and scored in the same runs, alternating with ours, so before/after
# ratios come from the same conditions).
#
# Timing. "s/img" for segdiscover is the wall time of the whole command
# (process start, walking the folder, JPEG decode, SLIC, 16-bit PNG encode,
# atomic write) divided by the number of images, with --workers 1 and
# GOMAXPROCS=1; it also prints, from bench/slic_eval, the median per-image
# time of decode+SLIC+encode and of SLIC alone. For the peers it is what
# slic_bench.py reports: the median over images of the segmentation call
# alone (decoding excluded). All methods run in the same invocation,
# alternating, RUNS times (default 3); each figure is the median over runs,
# and the ratios are taken per run before the median, since the machine is
# shared and noisy.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUNS=${1:-3}
COMPACTNESS=${COMPACTNESS:-5}
DATA=${DATA:-$ROOT/../shared/data/bsds500_test}
PEERS=${PEERS:-$ROOT/../shared/peers}
PY=${PY:-/usr/bin/python3}
DATA=$(cd "$DATA" && pwd)
TMP=$(mktemp -d)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$TMP"' EXIT

mkdir -p "$TMP/in"
if [ -n "${LIMIT:-}" ]; then
	ls "$DATA"/images/*.jpg | sort | head -n "$LIMIT" | xargs -I{} cp {} "$TMP/in/"
else
	cp "$DATA"/images/*.jpg "$TMP/in/"
fi
NIMG=$(ls "$TMP/in" | wc -l)
ln -s "$TMP/in" "$TMP/images" # the layout slic_eval reads
mkdir -p "$TMP/gt"
for f in "$TMP"/in/*.jpg; do
	id=$(basename "$f" .jpg)
	cp "$DATA"/gt/"${id}"_*.png "$TMP/gt/"
done

go build -o "$TMP/segdiscover" ./cmd/segdiscover
go build -o "$TMP/slic_eval" ./bench/slic_eval

# The superpixels stage ends with syncfs(2) on the output's file system;
# without this, the first timed run would also flush the copies and builds
# above.
sync
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 GOMAXPROCS=1
now() { date +%s.%N; }

for run in $(seq "$RUNS"); do
	for n in 200 1000; do
		out="$TMP/go_n$n"
		rm -rf "$out"
		t0=$(now)
		"$TMP/segdiscover" superpixels "$TMP/in" -o "$out" --segments "$n" --compactness "$COMPACTNESS" --workers 1 --quiet
		t1=$(now)
		echo "$t0 $t1" | awk -v n="$NIMG" '{printf "%.6f\n", ($2-$1)/n}' >>"$TMP/go_n$n.times"
		if [ -n "${BASELINE:-}" ]; then
			out="$TMP/base_n$n"
			rm -rf "$out"
			t0=$(now)
			"$BASELINE" superpixels "$TMP/in" -o "$out" --segments "$n" --compactness "$COMPACTNESS" --workers 1 --quiet
			t1=$(now)
			echo "$t0 $t1" | awk -v n="$NIMG" '{printf "%.6f\n", ($2-$1)/n}' >>"$TMP/base_n$n.times"
		fi
	done
	"$PY" "$PEERS/slic_bench.py" --images "$TMP/in" --gt "$TMP/gt" --runs 1 \
		--methods sk_slic_n200 cv_slic_n200 sk_slic_n1000 cv_slic_n1000 \
		--json "$TMP/peers_$run.json" >"$TMP/peers_$run.log" 2>&1
	for n in 200 1000; do
		# decode+SLIC+encode and SLIC-only medians over images
		"$TMP/slic_eval" -data "$TMP" -segments "$n" -compactness "$COMPACTNESS" -name go >>"$TMP/go_eval_n$n.txt"
	done
done

for n in 200 1000; do
	"$PY" "$PEERS/spmetrics.py" "$TMP/go_n$n/superpixels" --gt "$TMP/gt" --json "$TMP/go_n$n.json" >/dev/null
	if [ -n "${BASELINE:-}" ]; then
		"$PY" "$PEERS/spmetrics.py" "$TMP/base_n$n/superpixels" --gt "$TMP/gt" --json "$TMP/base_n$n.json" >/dev/null
	fi
done

"$PY" - "$TMP" "$RUNS" "$NIMG" "${BASELINE:-}" <<'PY'
import json, statistics as st, sys
tmp, runs, nimg, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
peers = [json.load(open(f"{tmp}/peers_{r}.json"))["results"] for r in range(1, runs + 1)]
rows = []
for n in (200, 1000):
    go_t = [float(x) for x in open(f"{tmp}/go_n{n}.times")]
    ev = [l.split() for l in open(f"{tmp}/go_eval_n{n}.txt")]
    job = st.median(float(e[1]) for e in ev)
    seg = st.median(float(e[2]) for e in ev)
    q = json.load(open(f"{tmp}/go_n{n}.json"))["summary"]
    rows.append((f"segdiscover n{n} (whole job)", st.median(go_t), q["br"], q["ue"], q["asa"], q["n_segments"], go_t))
    rows.append((f"  slic_eval n{n} decode+SLIC+encode / SLIC only", None, None, None, None, None, (job, seg)))
    if base:
        b_t = [float(x) for x in open(f"{tmp}/base_n{n}.times")]
        q = json.load(open(f"{tmp}/base_n{n}.json"))["summary"]
        rows.append((f"baseline n{n} (whole job)", st.median(b_t), q["br"], q["ue"], q["asa"], q["n_segments"], b_t))
    for m in (f"sk_slic_n{n}", f"cv_slic_n{n}"):
        r = [p[m] for p in peers]
        rows.append((m, st.median(x["time_s_median"] for x in r), r[0]["br"], r[0]["ue"], r[0]["asa"], r[0]["n_segments"], [x["time_s_median"] for x in r]))
print(f"BSDS500 test, {nimg} images, 1 thread, {runs} runs (median over runs)\n")
print("| method | s/img | BR@2px | UE (NP) | ASA | segments |")
print("| --- | --- | --- | --- | --- | --- |")
for name, t, br, ue, asa, segs, extra in rows:
    if t is None:
        print(f"| {name} | {extra[0]:.4f} / {extra[1]:.4f} | | | | |")
        continue
    print(f"| {name} | {t:.4f} | {br:.4f} | {ue:.4f} | {asa:.4f} | {segs:.1f} |")
print()
for n in (200, 1000):
    go_t = [float(x) for x in open(f"{tmp}/go_n{n}.times")]
    for m in (f"sk_slic_n{n}", f"cv_slic_n{n}"):
        ratios = [p[m]["time_s_median"] / g for p, g in zip(peers, go_t)]
        print(f"{m} / segdiscover n{n}: {st.median(ratios):.2f}x (per run: {', '.join(f'{x:.2f}' for x in ratios)})")
        if base:
            b_t = [float(x) for x in open(f"{tmp}/base_n{n}.times")]
            ratios = [p[m]["time_s_median"] / b for p, b in zip(peers, b_t)]
            print(f"{m} / baseline n{n}: {st.median(ratios):.2f}x (per run: {', '.join(f'{x:.2f}' for x in ratios)})")
    if base:
        b_t = [float(x) for x in open(f"{tmp}/base_n{n}.times")]
        ratios = [b / g for b, g in zip(b_t, go_t)]
        print(f"baseline / segdiscover n{n}: {st.median(ratios):.2f}x (per run: {', '.join(f'{x:.2f}' for x in ratios)})")
PY
