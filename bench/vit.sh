#!/bin/sh
# Speed of the transformer forward pass, ViT-S/16 and ViT-S/8 at 224x224,
# batch 1, 2 threads: the Go forward with the openblas build and with the
# pure-Go build, against PyTorch's CPU forward, interleaved round by round
# under the shared bench lock (the machines are shared: read the ratios).
# Peak memory: "allocated per forward" is one worker's activations; peak
# RSS adds the weights (88 MB for ViT-S in float32).
#
#   bench/vit.sh [WORK_DIR] [ROUNDS] [RUNS]
#
# Numerical agreement is bench/vit_torch.py check WORK_DIR.
set -eu
cd "$(dirname "$0")/.."
work=${1:-/tmp/segdiscover-vit}
rounds=${2:-3}
runs=${3:-5}
mkdir -p "$work"
go build -o "$work/vitbench-go" ./bench/vitbench
go build -tags openblas -o "$work/vitbench-openblas" ./bench/vitbench
/usr/bin/python3 bench/vit_torch.py time "$work" 1 >/dev/null # writes the checkpoints
for r in $(seq "$rounds"); do
	for m in vit-s16 vit-s8; do
		flock /tmp/segdiscover-bench.lock sh -c "
			'$work/vitbench-openblas' time -weights '$work/$m/model.safetensors' -threads 2 -n $runs
			/usr/bin/python3 bench/vit_torch.py time '$work' $runs $m
			'$work/vitbench-go' time -weights '$work/$m/model.safetensors' -threads 2 -n $runs
		"
	done
done
