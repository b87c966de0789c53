#!/usr/bin/env bash
# Runs the sharded segdiscover run of this folder's manifests on the
# Kubernetes cluster of the current kubectl context, step by step: the
# volume, the images phase, fit, the masks phase, the report. Put the
# images under /data/images of the volume first. Reruns are safe: each
# step resumes from the cache in /data/out.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
timeout=${TIMEOUT:-48h}
kubectl apply -f "$here/pvc.yaml"
for step in images fit masks report; do
  kubectl delete job "segdiscover-$step" --ignore-not-found
  kubectl apply -f "$here/$step-job.yaml"
  kubectl wait --for=condition=complete --timeout="$timeout" "job/segdiscover-$step"
done
