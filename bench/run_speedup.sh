#!/usr/bin/env bash
# Issue 12 acceptance: the whole `segdiscover run` (every stage, default
# settings) of the 715 Stanford Background images, pure-Go build of NEW
# against the pure-Go build of OLD, side by side: A B A B ... ROUNDS times,
# each run into an empty output folder (nothing cached), so a drift of the
# shared machine's speed hits both alike. Ratios are OLD/NEW per pair of
# runs (above 1: NEW faster), then their median.
#
#   bench/run_speedup.sh [ROUNDS] [NEW] [OLD]     (from the module root)
#
# NEW defaults to HEAD, OLD to 8ec2fd8, the parent of cb2b3b4 (the commit
# that introduced segnet/gemm: `git log --oneline -- segnet/gemm`). Both are
# exported with `git archive` (the repository is not changed) and built with
# plain `go build` and no tags, as `go install` gives users; the log line
# that names the network's backend is printed for each. Default ROUNDS 2;
# one round is two full runs (several minutes each on 2 cores).
#
# Env: IMAGES (default ../shared/data/stanford_background/images), FLAGS
# (extra flags for both runs, default none), KEEP=1 keeps the temporary
# folder (builds, logs, outputs of the last round).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
rounds=${1:-2}
new=${2:-HEAD}
old=${3:-8ec2fd8}
images=${IMAGES:-$(cd .. && pwd)/shared/data/stanford_background/images}
[ -d "$images" ] || { echo "no $images" >&2; exit 1; }
tmp=$(mktemp -d)
[ "${KEEP:-}" = 1 ] && echo "temporary folder: $tmp" || trap 'rm -rf "$tmp"' EXIT

build() { # NAME REV
	mkdir -p "$tmp/src-$1"
	git archive "$2" | tar -x -C "$tmp/src-$1"
	(cd "$tmp/src-$1" && go build -o "$tmp/$1" ./cmd/segdiscover)
	echo "$1 = $(git rev-parse --short "$2") $(git log -1 --format=%s "$2" | cut -c1-70)"
}
build new "$new"
build old "$old"

# run NAME ROUND: a full run into an empty folder under /usr/bin/time -v;
# appends "NAME ROUND wall_s cpu_s maxrss_MiB" to $tmp/times.
run() {
	local out="$tmp/out-$1"
	rm -rf "$out"
	/usr/bin/time -v -o "$tmp/time" "$tmp/$1" run "$images" -o "$out" ${FLAGS:-} --log-format json >"$tmp/log-$1-$2" 2>&1 || {
		echo "$1 round $2 failed:" >&2; tail -20 "$tmp/log-$1-$2" >&2; exit 1; }
	local wall cpu rss
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$tmp/time")
	cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {printf "%.1f", s}' "$tmp/time")
	rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$tmp/time")
	echo "$1 $2 $wall $cpu $rss" | tee -a "$tmp/times"
}

echo "images: $(ls "$images" | wc -l) in $images; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "name round wall_s cpu_s maxrss_MiB"
for r in $(seq "$rounds"); do
	run new "$r"
	run old "$r"
done
for n in new old; do
	echo "$n backend: $(grep -o '"msg":"train: [^"]*"' "$tmp/log-$n-1" | head -1)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$tmp/times" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    name, r, wall, cpu, _ = line.split()
    t[(name, int(r))] = (float(wall), float(cpu))
rounds = sorted({r for _, r in t})
rw, rc = [], []
for r in rounds:
    (nw, nc), (ow, oc) = t[("new", r)], t[("old", r)]
    rw.append(ow / nw); rc.append(oc / nc)
    print(f"round {r}: old/new wall {rw[-1]:.2f}x, cpu {rc[-1]:.2f}x")
print(f"median over {len(rounds)} pairs: old/new wall {statistics.median(rw):.2f}x, cpu {statistics.median(rc):.2f}x")
PY
