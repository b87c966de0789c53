#!/bin/sh
# Side-by-side throughput of segnet (pure Go and -tags openblas) and PyTorch
# (peers/segnet_ref.py's architecture, Debian's python3-torch, 2 threads) on
# synthetic 240x320 images, batch 8, K=8. Runs are interleaved ROUNDS times
# and the ratios use each engine's median, because the machine is shared.
#
#   sh bench/segnet.sh [ROUNDS]     (default 2; ~1-2 min per round)
#
# Go's inference is PredictBatch (input loading, network, arg-max and 8-bit
# confidence per pixel); PyTorch's headline inference is the forward pass
# only, as in peers/segnet_ref.py, so a second line compares with PyTorch
# doing the same outputs (forward + softmax + max). The Go lines also give
# CPU milliseconds per image, less disturbed by other load than rates.
#
# Env: TRAIN (images timed per training run, default 16), INFER (default 32),
# PEERS (default ../shared/peers relative to the module root).
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
TRAIN=${TRAIN:-16}
INFER=${INFER:-32}
PEERS=${PEERS:-../shared/peers}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/pure" ./bench/segnetbench
CGO_ENABLED=1 go build -tags openblas -o "$tmp/openblas" ./bench/segnetbench
echo "load before: $(cat /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
	/usr/bin/python3 bench/segnet_torch.py --peers "$PEERS" --train "$TRAIN" --infer "$INFER" --threads 2 >>"$tmp/torch.jsonl"
	"$tmp/openblas" -train "$TRAIN" -infer "$INFER" -workers 2 >>"$tmp/openblas.jsonl"
	"$tmp/pure" -train "$TRAIN" -infer "$INFER" -workers 2 >>"$tmp/pure.jsonl"
	echo "round $r done: $(cat /proc/loadavg)"
done
/usr/bin/python3 - "$tmp" <<'PY'
import json, statistics, sys
d = sys.argv[1]
res = {}
for e in ("torch", "openblas", "pure"):
    rows = [json.loads(l) for l in open(f"{d}/{e}.jsonl")]
    res[e] = {k: statistics.median(r[k] for r in rows) for k in ("train_img_per_s", "infer_img_per_s")}
    res[e]["runs"] = rows
    extra = ""
    if e == "torch":
        res[e]["infer_full_img_per_s"] = statistics.median(r["infer_full_img_per_s"] for r in rows)
        extra = f"  infer+softmax/max {res[e]['infer_full_img_per_s']:7.2f} img/s"
    else:
        cpu = {k: statistics.median(r[k] for r in rows) for k in ("train_cpu_ms_per_img", "infer_cpu_ms_per_img")}
        extra = f"  cpu ms/img train {cpu['train_cpu_ms_per_img']:6.1f} infer {cpu['infer_cpu_ms_per_img']:6.1f}"
    print(f"{e:9s} train {res[e]['train_img_per_s']:7.2f} img/s  infer {res[e]['infer_img_per_s']:7.2f} img/s{extra}  ({rows[0]['backend']})")
print("runs:", {e: [(round(r["train_img_per_s"], 2), round(r["infer_img_per_s"], 2)) for r in res[e]["runs"]] for e in res})
for e in ("openblas", "pure"):
    print(f"ratio {e}/pytorch: train {res[e]['train_img_per_s']/res['torch']['train_img_per_s']:.2f}x  "
          f"infer {res[e]['infer_img_per_s']/res['torch']['infer_img_per_s']:.2f}x  "
          f"(infer vs forward+softmax/max {res[e]['infer_img_per_s']/res['torch']['infer_full_img_per_s']:.2f}x)")
PY
