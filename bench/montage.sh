#!/bin/sh
# Montages of image | pseudo-labels | refined masks for 6 BSDS500 test
# images (the first 6 of ids.txt), from one run with the default settings:
# before (per-pixel arg-max of the network, --refine none, the default
# until issue 18), after (posteriors averaged per superpixel, --refine
# superpixels, the default since) and after_crf (the dense CRF's marginals
# averaged per superpixel, --refine crf-superpixels).
# Usage (from the repository root): sh bench/montage.sh [OUT_DIR]
set -e
data=../shared/data/bsds500_test
out=${1:-/tmp/segdiscover-montage}
ids=$(head -n 6 $data/ids.txt | paste -sd, -)
go build -tags openblas -o /tmp/segdiscover-montage-bin ./cmd/segdiscover
for r in none superpixels crf-superpixels; do
	/tmp/segdiscover-montage-bin run $data/images -o "$out" --refine $r --until masks
	rm -rf "$out/masks_$r" && cp -r "$out/masks" "$out/masks_$r"
done
go run ./bench/montage -width 200 -in $data/images -ids "$ids" -o bench/montage_before.png "$out/pseudolabels" "$out/masks_none"
go run ./bench/montage -width 200 -in $data/images -ids "$ids" -o bench/montage_after.png "$out/pseudolabels" "$out/masks_superpixels"
go run ./bench/montage -width 200 -in $data/images -ids "$ids" -o bench/montage_after_crf.png "$out/pseudolabels" "$out/masks_crf-superpixels"
