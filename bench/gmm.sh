#!/usr/bin/env bash
# GMM speed, side by side with scikit-learn, on the fixed synthetic data of
# ../shared/peers/gmm_bench.py: same data, same K, same initial state (a
# k-means labelling turned into weights/means/covariances by scikit-learn),
# the same number of EM iterations, 1 and 2 threads; time per EM iteration
# and the ratio. Then (with --big) a whole 1M x 64 full-covariance K=27 fit of
# ours (k-means++ + Lloyd init, EM to convergence) under /usr/bin/time -v.
#
#   bash bench/gmm.sh [--big]       env: GMM_DATA (default /tmp/segdiscover-gmm-data),
#                                   ITERS (default 10), N (default 100000), K (27),
#                                   BASE_BIN (a gmmbench built from an older tree:
#                                   timed too, as a "before" column of the same run),
#                                   OPENBLAS=0 (skip the OpenBLAS build)
#
# Data (~100 MB for N=100k, +1 GB for --big) is generated into GMM_DATA by
# the peer script if missing. Needs Debian's python3-sklearn and
# python3-threadpoolctl. Run on an otherwise idle machine: figures are
# ratios measured in one run because the machines are shared.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
data=${GMM_DATA:-/tmp/segdiscover-gmm-data}
iters=${ITERS:-10}
n=${N:-100000}
k=${K:-27}
big=0
[ "${1:-}" = "--big" ] && big=1
peers="$root/../shared/peers/gmm_bench.py"
py=/usr/bin/python3
mkdir -p "$data"
sizes="$n"
[ $big = 1 ] && sizes="$n 1000000"
$py "$peers" --gen-only --data-dir "$data" --sizes $sizes --dims 64 >&2
bin="$data/gmmbench"
go build -o "$bin" ./bench/gmmbench
# The same program with OpenBLAS behind gonum's blas32/blas64 (needs
# libopenblas-dev); skipped when it does not build.
binob="$data/gmmbench_openblas"
if [ "${OPENBLAS:-1}" = 0 ]; then
  binob=""
else
  go build -tags openblas -o "$binob" ./bench/gmmbench 2>/dev/null || binob=""
fi
base=${BASE_BIN:-}
x="$data/X_n${n}_d64.f64"
out="$data/results.jsonl"
: >"$out"
for cov in full diag; do
  init="$data/init_n${n}_d64_k${k}_${cov}.json"
  [ -s "$init" ] || $py bench/gmm_sklearn.py init "$x" "$k" "$cov" "$init"
  for t in 1 2; do
    echo "sklearn $cov threads=$t ..." >&2
    $py bench/gmm_sklearn.py time "$x" "$init" "$iters" "$t" | sed 's/^{/{"impl": "sklearn", /' >>"$out"
    echo "go      $cov threads=$t ..." >&2
    "$bin" -data "$x" -init "$init" -iters "$iters" -workers "$t" | sed 's/^{/{"impl": "go", "threads": '"$t"', /' >>"$out"
    if [ -n "$base" ]; then
      echo "go(base) $cov threads=$t ..." >&2
      "$base" -data "$x" -init "$init" -iters "$iters" -workers "$t" | sed 's/^{/{"impl": "go-base", "threads": '"$t"', /' >>"$out"
    fi
    if [ -n "$binob" ]; then
      echo "go+openblas $cov threads=$t ..." >&2
      OPENBLAS_NUM_THREADS=1 "$binob" -data "$x" -init "$init" -iters "$iters" -workers "$t" | sed 's/^{/{"impl": "go+openblas", "threads": '"$t"', /' >>"$out"
    fi
  done
done
$py - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
get = lambda impl, cov, t: next(r for r in rows if r["impl"] == impl and r["cov"] == cov and r["threads"] == t)
r0 = rows[0]
print("N=%d D=%d K=%d, %d EM iterations from the same initial state (+1 scoring E-step)" % (r0["rows"], r0["cols"], r0["k"], r0["iterations"]))
ob = any(r["impl"] == "go+openblas" for r in rows)
print("Wall s/iter (speed-up = sklearn / ours); 1 thread also in process CPU s/iter, steadier when")
print("the machine is shared. Scores: mean log-likelihood after the run (same start, same iterations).")
base = any(r["impl"] == "go-base" for r in rows)
impls = ([("go-base", "before")] if base else []) + [("go", "ours")] + ([("go+openblas", "ours+OpenBLAS")] if ob else [])
hdr = "| cov | threads | sklearn %s |" % r0.get("sklearn", "") + "".join(" %s | speed-up |" % n for _, n in impls)
print(hdr + " sklearn score | ours score | rel. diff |")
print("| --- " * (hdr.count("|") + 2) + "|")
for cov in ("full", "diag"):
    for t in (1, 2):
        for key, unit in (("em_s_per_iter", "wall"), ("cpu_s_per_iter", "cpu")):
            if unit == "cpu" and t != 1:
                continue
            s = get("sklearn", cov, t)
            if key not in s:
                continue
            line = "| %s | %d %s | %.4f |" % (cov, t, unit, s[key])
            for impl, _ in impls:
                g = get(impl, cov, t)
                line += " %.4f | %.2fx |" % (g[key], s[key] / g[key])
            g = get("go", cov, t)
            print(line + " %.9f | %.9f | %.1e |" % (s["score"], g["score"], abs(s["score"] - g["score"]) / abs(s["score"])))
PY
if [ $big = 1 ]; then
  echo "ours: whole fit 1M x 64, full, K=$k, 2 workers ..." >&2
  /usr/bin/time -v "$bin" -data "$data/X_n1000000_d64.f64" -k "$k" -cov full -workers 2 -iters 0 \
    >"$data/big.json" 2>"$data/big.time"
  cat "$data/big.json"
  grep -E "Elapsed|Maximum resident" "$data/big.time"
fi
