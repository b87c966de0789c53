#!/usr/bin/env bash
# Tests the Slurm recipe on a real one-node Slurm cluster (local-cluster.sh;
# needs root, installs slurm-wlm and munge when missing):
#
#  1. submit.sh over IN_DIR with N shards: an array for the images phase, a
#     fit job after it (afterok), an array for the masks phase after fit,
#     the report after that; then the masks must be byte-identical to a
#     single-process run's with the same settings, and status must say
#     complete.
#  2. the images phase again into a fresh folder, one array task killed
#     (scancel) while it is writing its outputs, then resubmitted alone:
#     the run completes with fit and the masks phase, its masks equal the
#     single-process run's, and nothing outside the killed shard was
#     written after the kill (find -newer), the resubmitted task reused
#     what the killed one had finished.
#
#   deploy/slurm/test.sh [IN_DIR [N [run flags...]]]
# Defaults: testdata/images, 3 shards, small fast settings. Outputs go to
# $WORK (default a temporary folder, removed at the end unless KEEP=1).
# Prints the wall times of each flow.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$PATH:/usr/local/go/bin"
in=$(cd "${1:-$repo/testdata/images}" && pwd)
n=${2:-3}
if [ $# -gt 2 ]; then
  shift 2
  flags=("$@")
else
  flags=(--segments 100 --concepts 4 --epochs 2 --batch 4 --crop-height 64 --crop-width 64)
fi
work=${WORK:-$(mktemp -d /tmp/segdiscover-slurm-test.XXXXXX)}
mkdir -p "$work"
export SLURM_STATE=${SLURM_STATE:-$work/slurm}

cleanup() {
  "$repo/deploy/slurm/local-cluster.sh" stop || true
  if [ "${KEEP:-0}" != 1 ] && [ -z "${WORK:-}" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/logs/*.out; do
    [ -f "$f" ] && { echo "--- $f" >&2; tail -5 "$f" >&2; }
  done
  exit 1
}

(cd "$repo" && go build -o "$work/segdiscover" ./cmd/segdiscover)
export SEGDISCOVER=$work/segdiscover
eval "$("$repo/deploy/slurm/local-cluster.sh" start)"
export SLURM_CONF
cpus=$(nproc)
export FIT_CPUS=$cpus SHARD_CPUS=1 LOG_DIR=$work/logs
mkdir -p "$LOG_DIR"

# wait_jobs ID...: until none is queued or running; then each must have
# completed (scontrol keeps finished jobs for MinJobAge, 300 s).
wait_jobs() {
  while [ -n "$(squeue -h -j "$(IFS=,; echo "$*")" 2>/dev/null)" ]; do sleep 1; done
  local id
  for id in "$@"; do
    if scontrol show job "$id" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | grep -vq COMPLETED; then
      scontrol show job "$id" | grep -E 'JobId|JobState|ExitCode' >&2
      fail "job $id did not complete"
    fi
  done
}

elapsed() { echo $(($(date +%s%N) / 1000000 - $1)); }
now() { echo $(($(date +%s%N) / 1000000)); }

# The single-process reference.
t0=$(now)
"$SEGDISCOVER" run "$in" -o "$work/single" "${flags[@]}" -q
single_ms=$(elapsed "$t0")
echo "single-process run: $((single_ms / 1000)).$((single_ms % 1000 / 100)) s"

same_masks() {
  diff -r "$work/single/masks" "$1/masks" >/dev/null || fail "masks of $1 differ from the single-process run's"
  local k
  k=$(find "$1/masks" -name '*.png' | wc -l)
  [ "$k" -gt 0 ] || fail "no masks in $1"
  echo "  masks of $1: $k files byte-identical to the single-process run's (diff -r)"
}

# 1. The recipe as a user submits it.
t0=$(now)
read -r a f m r < <("$repo/deploy/slurm/submit.sh" "$in" "$work/sharded" "$n" "${flags[@]}")
echo "submitted: images $a, fit $f (afterok), masks $m (afterok), report $r (afterok)"
wait_jobs "$a" "$f" "$m" "$r"
sharded_ms=$(elapsed "$t0")
echo "sharded run under Slurm ($n shards): $((sharded_ms / 1000)).$((sharded_ms % 1000 / 100)) s"
same_masks "$work/sharded"
"$SEGDISCOVER" status "$work/sharded" >"$work/status.txt" || fail "status of the sharded run: $(cat "$work/status.txt")"
[ -f "$work/sharded/report.html" ] || fail "no report.html"
echo "  status: complete; report.html written"

# 2. Kill one task of the images phase while it writes, resubmit it.
out=$work/killed
victim=1
# The images of the victim shard (segdiscover's assignment, recomputed).
mapfile -t mine < <(python3 "$repo/deploy/shard_images.py" "$in" "$n" "$victim")
[ ${#mine[@]} -ge 2 ] || fail "shard $victim of $n has ${#mine[@]} images; the kill test needs 2 or more"
t0=$(now)
a=$(sbatch --parsable -c 1 -o "$LOG_DIR/kill-%A_%a.out" --array=0-$((n - 1)) "$repo/deploy/slurm/segdiscover.sbatch" shard "$in" "$out" --shard-count "$n" "${flags[@]}" --workers 1 | cut -d';' -f1)
# Kill the victim once some but not all of its superpixel maps exist.
killed=
for _ in $(seq 1 6000); do
  k=0
  for rel in "${mine[@]}"; do [ -f "$out/superpixels/$rel.png" ] && k=$((k + 1)); done
  if [ "$k" -ge 1 ] && [ "$k" -lt ${#mine[@]} ]; then
    scancel "${a}_$victim"
    killed=$k
    break
  fi
  [ "$k" -eq ${#mine[@]} ] && break
  sleep 0.02
done
[ -n "$killed" ] || fail "could not catch shard $victim mid-way (its ${#mine[@]} images went too fast); use a larger IN_DIR"
echo "killed task ${a}_$victim after $killed of its ${#mine[@]} superpixel maps"
while [ -n "$(squeue -h -j "$a" 2>/dev/null)" ]; do sleep 0.5; done
[ ! -f "$out/.cache/v1/shards/images-$n/$victim.json" ] || fail "the killed shard wrote its record"
"$SEGDISCOVER" fit "$out" -q 2>/dev/null && fail "fit ran with shard $victim missing"
fit_rc=$?
[ "$fit_rc" -eq 4 ] || fail "fit with a shard missing exited $fit_rc, want 4"
echo "  fit before the resubmission: exit 4 (shard $victim missing)"
sleep 1.1 # mtimes: a whole second on some file systems
touch "$work/marker"
again=$(sbatch --parsable -c 1 -o "$LOG_DIR/again-%A_%a.out" --array=$victim "$repo/deploy/slurm/segdiscover.sbatch" shard "$in" "$out" --shard-count "$n" "${flags[@]}" | cut -d';' -f1)
wait_jobs "$again"
grep -E '^  superpixels' "$LOG_DIR/again-${again}_$victim.out" | sed 's/^/  resubmitted: /'
cached=$(grep -E '^  superpixels' "$LOG_DIR/again-${again}_$victim.out" | sed -E 's/.* ([0-9]+) cached.*/\1/')
[ "$cached" -ge 1 ] || fail "the resubmitted shard reused nothing of the killed one's work"
# Nothing outside the victim's images was written after the marker.
declare -A is_mine
for rel in "${mine[@]}"; do is_mine[$rel]=1; done
while read -r p; do
  rel=${p#"$out"/}
  case $rel in
  .locks/* | .cache/v1/shards/images-"$n"/"$victim".json) continue ;;
  esac
  rel=${rel#.cache/v1/}
  rel=${rel#*/}   # drop the stage folder
  rel=${rel%.json}
  rel=${rel%.png}
  rel=${rel%.f32}
  [ -n "${is_mine[$rel]:-}" ] || fail "$p was written by the resubmission but is not shard $victim's"
done < <(find "$out" -type f -newer "$work/marker")
echo "  after the resubmission: only shard $victim's files are newer than the kill (find -newer)"
f=$(sbatch --parsable -c "$cpus" -o "$LOG_DIR/kfit-%j.out" "$repo/deploy/slurm/segdiscover.sbatch" fit "$out")
m=$(sbatch --parsable --dependency=afterok:"$f" -c 1 -o "$LOG_DIR/kmasks-%A_%a.out" --array=0-$((n - 1)) "$repo/deploy/slurm/segdiscover.sbatch" shard "$in" "$out" --shard-count "$n" "${flags[@]}" | cut -d';' -f1)
wait_jobs "$f" "$m"
killed_ms=$(elapsed "$t0")
same_masks "$out"
"$SEGDISCOVER" status "$out" >/dev/null || fail "status after the kill and resubmission: not complete"
echo "killed-and-resubmitted run: $((killed_ms / 1000)).$((killed_ms % 1000 / 100)) s"
echo "PASS"
