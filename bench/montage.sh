#!/bin/sh
# Montages of image | pseudo-labels | refined masks for 6 BSDS500 test
# images (the first 6 of ids.txt), before (per-pixel arg-max of the
# network, --refine none) and after (posteriors averaged per superpixel,
# --refine superpixels), from one run with the default settings.
# Usage (from the repository root): sh bench/montage.sh [OUT_DIR]
set -e
data=../shared/data/bsds500_test
out=${1:-/tmp/segdiscover-montage}
ids=$(head -n 6 $data/ids.txt | paste -sd, -)
go build -tags openblas -o /tmp/segdiscover-montage-bin ./cmd/segdiscover
/tmp/segdiscover-montage-bin run $data/images -o "$out" --refine none --until masks
rm -rf "$out/masks_none" && cp -r "$out/masks" "$out/masks_none"
/tmp/segdiscover-montage-bin run $data/images -o "$out" --refine superpixels --until masks
go run ./bench/montage -width 200 -in $data/images -ids "$ids" -o bench/montage_before.png "$out/pseudolabels" "$out/masks_none"
go run ./bench/montage -width 200 -in $data/images -ids "$ids" -o bench/montage_after.png "$out/pseudolabels" "$out/masks"
