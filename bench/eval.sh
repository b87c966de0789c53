#!/usr/bin/env bash
# Times `segdiscover eval` and `segdiscover eval superpixels` against the
# peer scorers (peers/eval_miou.py, peers/spmetrics.py) side by side, on the
# same files, interleaved, RUNS times each; prints each run's wall time, the
# medians and their ratio, and checks that the headline figures agree.
#
#   bench/eval.sh [RUNS]        (from the module root; default 3 runs)
#
# Masks: the peer's K=8 pseudo-labels of Stanford Background (715 images).
# Superpixels: annotator 0 of each BSDS500 test image, copied to a temporary
# folder, scored as if it were a superpixel map against all annotators.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
runs=${1:-3}
shared=$(cd .. && pwd)/shared
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/segdiscover" ./cmd/segdiscover

sb_gt=$shared/data/stanford_background/labels
sb_pred=$shared/peers/results/pseudo_k8
bsds_gt=$shared/data/bsds500_test/gt
mkdir -p "$tmp/sp"
for f in "$bsds_gt"/*_0.png; do b=$(basename "$f" _0.png); cp "$f" "$tmp/sp/$b.png"; done

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

bench() { # name go-command... -- py-command...
  local name=$1; shift
  local gocmd=() pycmd=()
  while [ "$1" != "--" ]; do gocmd+=("$1"); shift; done; shift
  pycmd=("$@")
  : >"$tmp/go.t"; : >"$tmp/py.t"
  for i in $(seq "$runs"); do
    t0=$(now); "${gocmd[@]}" >/dev/null; t1=$(now); echo "$t1 - $t0" | bc -l >>"$tmp/go.t"
    t0=$(now); "${pycmd[@]}" >/dev/null; t1=$(now); echo "$t1 - $t0" | bc -l >>"$tmp/py.t"
  done
  g=$(median <"$tmp/go.t"); p=$(median <"$tmp/py.t")
  printf '%s: go %s s, python %s s (medians of %d; runs go: %s; python: %s); python/go = %.1f\n' \
    "$name" "$g" "$p" "$runs" "$(paste -sd' ' "$tmp/go.t")" "$(paste -sd' ' "$tmp/py.t")" "$(echo "$p / $g" | bc -l)"
}

bench "eval (715 Stanford Background masks)" \
  "$tmp/segdiscover" -q eval --pred "$sb_pred" --gt "$sb_gt" --json "$tmp/go_miou.json" -- \
  $py "$shared/peers/eval_miou.py" "$sb_pred" --gt "$sb_gt" --json "$tmp/py_miou.json"
bench "eval superpixels (200 BSDS500 images, all annotators)" \
  "$tmp/segdiscover" -q eval superpixels --pred "$tmp/sp" --gt "$bsds_gt" --json "$tmp/go_sp.json" -- \
  $py "$shared/peers/spmetrics.py" "$tmp/sp" --gt "$bsds_gt" --json "$tmp/py_sp.json"

$py - "$tmp" <<'PYEOF'
import json, sys
t = sys.argv[1]
g, p = json.load(open(t + "/go_miou.json")), json.load(open(t + "/py_miou.json"))
d = max(abs(g["hungarian"][k] - p["hungarian"][k]) for k in ("miou", "pixel_acc"))
print("mIoU %.6f vs %.6f, max |diff| %.2e, confusion equal: %s" % (
    g["hungarian"]["miou"], p["hungarian"]["miou"], d, g["confusion"] == p["confusion"]))
g, p = json.load(open(t + "/go_sp.json"))["summary"], json.load(open(t + "/py_sp.json"))["summary"]
d = max(abs(g[k] - p[k]) for k in p if g[k] is not None and p[k] is not None)
print("superpixels: BR %.6f UE %.6f ASA %.6f; max |diff| over the summary %.2e" % (g["br"], g["ue"], g["asa"], d))
PYEOF
