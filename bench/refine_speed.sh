#!/bin/sh
# The masks stage's time per --refine (none, superpixels, crf,
# crf-superpixels) on the first N images of a dataset, and the CRF's cost
# per image: one run up to the masks (network trained once), then the masks
# stage alone again for each refinement (the run's cache keeps every other
# stage), each timed by run.json's stage seconds; then the Go benchmarks of
# the CRF on a 320x240 synthetic image. Not a timed test: figures depend on
# the machine and its load.
# Usage (from the repository root): sh bench/refine_speed.sh IMAGES_DIR K [N] [OUT_DIR]
set -e
in=$1; k=$2; n=${3:-100}; out=${4:-/tmp/segdiscover-refine-speed}
bin=/tmp/segdiscover-refine-speed-bin
go build -tags openblas -o $bin ./cmd/segdiscover
sub=$out.images
rm -rf "$sub" && mkdir -p "$sub"
ls "$in" | head -n "$n" | while read -r f; do ln -s "$(cd "$in" && pwd)/$f" "$sub/$f"; done
$bin run "$sub" -o "$out" --concepts "$k" --until masks -q
# Two passes over the refinements: each run's masks are another key than
# the previous run's, so every run recomputes the stage.
for rep in 1 2; do
	for r in none superpixels crf crf-superpixels; do
		$bin run "$sub" -o "$out" --concepts "$k" --refine $r --until masks -q
		python3 - "$out/run.json" $r $rep <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
s = [x for x in j["stages"] if x["name"] == "masks"][0]
n = max(1, s["computed"])
print("refine %-16s pass %s  masks stage %7.1f s wall (%d workers)  computed %d  %7.1f ms/image busy" % (
    sys.argv[2], sys.argv[3], s["seconds"], j["config"]["workers"], s["computed"], 1000 * s["busy_seconds"] / n))
PY
	done
done
go test -tags openblas -run '^$' -bench 'BenchmarkDenseCRF|BenchmarkCRFMask' -benchtime 5x ./pseudolabel
