#!/usr/bin/env bash
# Submits a whole sharded segdiscover run to Slurm: the images phase as an
# array of N tasks, fit after it, the masks phase as a second array after
# fit, and the report after that, chained with --dependency=afterok.
#   deploy/slurm/submit.sh IN_DIR OUT_DIR N [run flags...]
# Prints the four job ids (images, fit, masks, report). A task that failed
# (or was cancelled) is resubmitted alone with its 0-based shard index:
#   sbatch --array=I segdiscover.sbatch shard IN_DIR OUT_DIR --shard-count N [run flags...]
# after which fit and the masks phase are submitted again (the jobs that
# depended on the failed array were cancelled by Slurm). Environment:
# SEGDISCOVER (the binary; default segdiscover from PATH), SHARD_CPUS and
# FIT_CPUS (CPUs per shard task and for fit and the report; default 1 and
# 4), SBATCH_ARGS (more sbatch options for every job, e.g. a partition),
# LOG_DIR (where the jobs' output goes; default the current folder).
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 IN_DIR OUT_DIR N [run flags...]" >&2
  exit 2
fi
in=$1 out=$2 n=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
job=$here/segdiscover.sbatch
logs=${LOG_DIR:-.}
shard_cpus=${SHARD_CPUS:-1}
fit_cpus=${FIT_CPUS:-4}
# shellcheck disable=SC2206
extra=(${SBATCH_ARGS:-})
sb() { sbatch --parsable "${extra[@]}" "$@" | cut -d';' -f1; }

images=$(sb --array=0-$((n - 1)) -c "$shard_cpus" -o "$logs/images-%A_%a.out" "$job" shard "$in" "$out" --shard-count "$n" "$@")
fit=$(sb --dependency=afterok:"$images" -c "$fit_cpus" -o "$logs/fit-%j.out" "$job" fit "$out")
masks=$(sb --dependency=afterok:"$fit" --array=0-$((n - 1)) -c "$shard_cpus" -o "$logs/masks-%A_%a.out" "$job" shard "$in" "$out" --shard-count "$n" "$@")
report=$(sb --dependency=afterok:"$masks" -c "$fit_cpus" -o "$logs/report-%j.out" "$job" report "$out")
echo "$images $fit $masks $report"
