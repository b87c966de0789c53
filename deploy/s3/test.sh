#!/usr/bin/env bash
# The object-storage tests against a real S3-compatible server (CI runs
# this): starts SeaweedFS with deploy/s3/seaweedfs.sh (building weed first
# if it is not cached, about 6.5 min on 2 cores), then runs
#   - the store conformance suite on the server (TestS3 in
#     pipeline/store/bucket: whole writes, failed and cancelled uploads
#     leaving nothing, listing, deletes, concurrent writers), and its
#     bad-input checks: a bucket that does not exist, a wrong secret, no
#     credentials at all — each must fail Open with an error naming the URL
#     and the cause;
#   - the acceptance of a sharded run into the bucket: testdata/images
#     four times over (44 images), run as 4 background processes
#     `segdiscover run IN -o s3://BUCKET/run --shard I/4`, then fit, then
#     the 4 shards again for the masks, downloaded (deploy/s3/bucketcp) and
#     byte-identical to a single-process local run (diff -r);
#   - a shard SIGKILLed mid-way: fit refuses to start (exit 4), the rerun
#     of that shard reuses its finished images and writes nothing but its
#     own images' objects, and the run then ends as the first;
#   - IN_DIR as a bucket prefix (the same images uploaded): a run into a
#     local folder, byte-identical to the local run;
#   - bad OUT_DIRs (an unsupported scheme, a missing bucket, a wrong
#     secret), an IN_DIR prefix without images, an OUT_DIR inside the
#     IN_DIR prefix: exit code 1, an error naming the cause, nothing
#     written.
# The server is stopped on exit, whatever happens; on failure its log is
# printed first.
#
# Environment: SEAWEED_CACHE (where weed is cached, default
# ~/.cache/segdiscover), SEAWEED_S3_PORT (default 18333; also
# SEAWEED_MASTER_PORT, SEAWEED_VOLUME_PORT, SEAWEED_FILER_PORT, see
# seaweedfs.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"

work=$(mktemp -d "${TMPDIR:-/tmp}/segdiscover-s3test.XXXXXX")
# A state folder of our own, so a second run elsewhere is not stopped by ours.
export SEAWEED_STATE=$work/seaweedfs
started=

finish() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -f "$SEAWEED_STATE/weed.log" ]; then
    echo "test.sh: FAILED (exit $rc); last lines of the server log $SEAWEED_STATE/weed.log:" >&2
    tail -80 "$SEAWEED_STATE/weed.log" >&2
  fi
  if [ -n "$started" ]; then
    deploy/s3/seaweedfs.sh stop || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

t0=$SECONDS
deploy/s3/seaweedfs.sh build
echo "test.sh: weed ready after $((SECONDS - t0)) s"

started=1
env=$(deploy/s3/seaweedfs.sh start)
eval "$env"
echo "test.sh: server at $SEGDISCOVER_S3_ENDPOINT, bucket URL $SEGDISCOVER_S3_URL"

# The S3 port opens before the gateway answers requests: wait (60 s at
# most) for any HTTP answer to a signed-or-not request on the bucket.
ready=
for ((i = 0; i < 600; i++)); do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$SEGDISCOVER_S3_ENDPOINT/" || true)
  if [ -n "$code" ] && [ "$code" != 000 ]; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "test.sh: $SEGDISCOVER_S3_ENDPOINT gave no HTTP answer within 60 s" >&2
  exit 1
fi

echo "test.sh: conformance suite and bad-input checks against the server (TestS3)"
go test -count=1 -v -run '^TestS3$' ./pipeline/store/bucket/ 2>&1 | tee "$work/tests3.log"
# A skipped TestS3 (environment lost) would pass silently.
if ! grep -q -- '--- PASS: TestS3 ' "$work/tests3.log"; then
  echo "test.sh: TestS3 did not run and pass" >&2
  exit 1
fi

go build -o "$work/segdiscover" ./cmd/segdiscover
go build -o "$work/bucketcp" ./deploy/s3/bucketcp
seg=$work/segdiscover
fail() {
  echo "test.sh: $*" >&2
  exit 1
}
# prefix NAME: the URL of key prefix NAME in the server's bucket (the
# query, with the endpoint, stays last).
base=${SEGDISCOVER_S3_URL%%\?*}
query=${SEGDISCOVER_S3_URL#*\?}
prefix() { echo "$base/$1?$query"; }
bucket=${base#s3://}

# The input: testdata/images four times over (44 images, in a/ b/ c/ d/),
# enough for a shard to be caught mid-way; small, fast settings.
in=$work/in
for d in a b c d; do
  mkdir -p "$in/$d"
  cp -r testdata/images/. "$in/$d/"
done
flags=(--segments 100 --concepts 4 --epochs 2 --batch 4 --crop-height 64 --crop-width 64)
n=4

echo "test.sh: single-process local run of $in"
"$seg" run "$in" -o "$work/single" "${flags[@]}" -q

# shards URL [extra flags]: the images or masks phase, $n background
# processes writing to URL, each of which must succeed.
shards() {
  local url=$1 i
  shift
  local pids=()
  for ((i = 0; i < n; i++)); do
    "$seg" run "$in" -o "$url" --shard "$i/$n" "${flags[@]}" "$@" -q >"$work/shard-$i.out" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || fail "shard $i/$n on $url failed: $(cat "$work/shard-$i.out")"
  done
}

# same NAME: the outputs of the run under prefix NAME, downloaded, are
# byte-identical to the single-process local run's (diff -r).
same() {
  rm -rf "$work/got-$1"
  "$work/bucketcp" get "$(prefix "$1")" "$work/got-$1"
  local d k
  for d in superpixels features pseudolabels masks overlays model; do
    [ -d "$work/got-$1/$d" ] || fail "$1: no $d/ in the bucket"
    diff -r "$work/single/$d" "$work/got-$1/$d" >/dev/null || fail "$1: $d/ differs from the single-process run's"
  done
  k=$(find "$work/got-$1/masks" -type f | wc -l)
  echo "  $1: superpixels features pseudolabels masks overlays model byte-identical to the single-process run's (diff -r; $k mask files)"
}

echo "test.sh: sharded run into $(prefix run): $n background shards, fit, $n shards for the masks"
url=$(prefix run)
shards "$url"
"$seg" fit "$url" -q
shards "$url"
"$seg" status "$url" >"$work/status.txt" || fail "status of the sharded run: $(cat "$work/status.txt")"
same run
echo "  status: complete"

echo "test.sh: kill one shard mid-way, rerun it"
url=$(prefix killed)
victim=1
# The images of the victim shard (segdiscover's assignment, recomputed).
mapfile -t mine < <(python3 deploy/shard_images.py "$in" "$n" "$victim")
[ ${#mine[@]} -ge 2 ] || fail "shard $victim of $n has ${#mine[@]} images; the kill test needs 2 or more"
declare -A is_mine
for rel in "${mine[@]}"; do is_mine[$rel]=1; done
pids=()
for ((i = 0; i < n; i++)); do
  w=()
  [ "$i" -eq "$victim" ] && w=(--workers 1)
  "$seg" run "$in" -o "$url" --shard "$i/$n" "${flags[@]}" "${w[@]}" -q >"$work/shard-$i.out" 2>&1 &
  pids+=($!)
done
# SIGKILL the victim once two but not all of its superpixel maps are in
# the bucket (with one worker, the first image's manifests are then
# written: in a bucket each is written as soon as its outputs are).
killed=
for _ in $(seq 1 3000); do
  k=$("$work/bucketcp" ls "$url" | awk '$3 ~ /^superpixels\// { sub(/^superpixels\//, "", $3); sub(/\.png$/, "", $3); print $3 }' |
    while read -r rel; do if [ -n "${is_mine[$rel]:-}" ]; then echo "$rel"; fi; done | wc -l)
  if [ "$k" -ge 2 ] && [ "$k" -lt ${#mine[@]} ]; then
    kill -9 "${pids[$victim]}"
    killed=$k
    break
  fi
  [ "$k" -eq ${#mine[@]} ] && break
done
[ -n "$killed" ] || fail "could not catch shard $victim mid-way (its ${#mine[@]} images went too fast)"
echo "  killed shard $victim/$n (SIGKILL) after $killed of its ${#mine[@]} superpixel maps"
for i in "${!pids[@]}"; do
  if [ "$i" -ne "$victim" ]; then
    wait "${pids[$i]}" || fail "shard $i/$n failed: $(cat "$work/shard-$i.out")"
  else
    wait "${pids[$i]}" || true
  fi
done
"$work/bucketcp" ls "$url" | grep -q " .cache/v1/shards/images-$n/$victim.json$" && fail "the killed shard wrote its record"
set +e
"$seg" fit "$url" -q 2>"$work/fit.err"
rc=$?
set -e
[ "$rc" -eq 4 ] || fail "fit with shard $victim missing exited $rc, want 4: $(cat "$work/fit.err")"
echo "  fit before the rerun: exit 4 ($(head -1 "$work/fit.err"))"
# Object times have whole seconds (SeaweedFS): after 1.1 s, every object
# written before has a time below the whole second of the marker.
sleep 1.1
marker=$(date +%s)
"$seg" run "$in" -o "$url" --shard "$victim/$n" "${flags[@]}" >"$work/again.out" 2>&1 || fail "the rerun of shard $victim failed: $(cat "$work/again.out")"
grep -E '^  superpixels' "$work/again.out" | sed 's/^/  rerun: /'
cached=$(grep -E '^  superpixels' "$work/again.out" | sed -E 's/.* ([0-9]+) cached.*/\1/')
[ "$cached" -ge 1 ] || fail "the rerun of shard $victim reused nothing of the killed one's work"
# Nothing but the victim's images was written by the rerun.
newer=0
while read -r t _ key; do
  awk -v t="$t" -v m="$marker" 'BEGIN { exit !(t >= m) }' || continue
  newer=$((newer + 1))
  [ "$key" = ".cache/v1/shards/images-$n/$victim.json" ] && continue
  rel=${key#.cache/v1/}
  rel=${rel#*/} # drop the stage folder
  rel=${rel%.json}
  rel=${rel%.png}
  rel=${rel%.f32}
  [ -n "${is_mine[$rel]:-}" ] || fail "$key was written by the rerun but is not shard $victim's"
done < <("$work/bucketcp" ls "$url")
[ "$newer" -gt 0 ] || fail "found no object written by the rerun (not even its record)"
echo "  the rerun wrote $newer objects, all of shard $victim's images or its record"
"$seg" fit "$url" -q
shards "$url"
same killed

echo "test.sh: IN_DIR as a bucket prefix: the same images uploaded to $(prefix images), a single-process run into a local folder"
"$work/bucketcp" put "$in" "$(prefix images)"
"$seg" run "$(prefix images)" -o "$work/from-s3" "${flags[@]}" -q
for d in superpixels features pseudolabels masks overlays model; do
  diff -r "$work/single/$d" "$work/from-s3/$d" >/dev/null || fail "from-s3: $d/ differs from the local run's"
done
[ "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["in_dir"])' "$work/from-s3/run.json")" = "$(prefix images)" ] ||
  fail "from-s3: run.json does not name the input URL"
echo "  from-s3: superpixels features pseudolabels masks overlays model byte-identical to the local run's (diff -r)"

echo "test.sh: bad output URLs fail, naming the URL and the cause, writing nothing"
refused() { # what, pattern, then the arguments of segdiscover run
  local what=$1 pattern=$2 rc
  shift 2
  rm -rf "$work/cwd" && mkdir "$work/cwd"
  set +e
  (cd "$work/cwd" && "$seg" run "$@") >"$work/run.out" 2>&1
  rc=$?
  set -e
  sed 's/^/  /' "$work/run.out"
  if [ "$rc" -ne 1 ] || ! grep -qi "$pattern" "$work/run.out"; then
    fail "$what: exit $rc, want 1 and an error with \"$pattern\""
  fi
  if [ -n "$(ls -A "$work/cwd")" ]; then
    ls -la "$work/cwd" >&2
    fail "$what: something was written"
  fi
}
refused "an unsupported scheme" "unsupported URL scheme" "$in" -o "foo://$bucket/out"
refused "a missing bucket" "does not exist" "$in" -o "s3://no-such-bucket-$$/out?$query"
(
  export AWS_SECRET_ACCESS_KEY=wrong-secret
  refused "a wrong secret" "access denied" "$in" -o "$(prefix bad)"
)
refused "an IN_DIR prefix without images" "no images in" "$(prefix empty)" -o "$work/out"
refused "an OUT_DIR inside the IN_DIR prefix" "inside the input folder" "$(prefix images)" -o "$(prefix images/out)"
[ ! -e "$work/out" ] || fail "the refused run with an s3:// IN_DIR made $work/out"
if "$work/bucketcp" ls "$(prefix bad)" | grep -q .; then fail "the refused run wrote objects under bad/"; fi

echo "test.sh: PASS in $((SECONDS - t0)) s"
