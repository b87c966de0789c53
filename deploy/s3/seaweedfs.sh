#!/usr/bin/env bash
# A throwaway S3-compatible server for tests: SeaweedFS (Apache-2.0), built
# from the Go module proxy, serving one bucket on 127.0.0.1 with static
# credentials.
#
#   deploy/s3/seaweedfs.sh build   build weed once (about 6 min on 2 cores),
#                                  cached at $SEAWEED_CACHE/weed
#   deploy/s3/seaweedfs.sh start   build if needed, start a server on a fresh
#                                  data dir, create the bucket, print the env
#   deploy/s3/seaweedfs.sh env     print the env of the running server again
#   deploy/s3/seaweedfs.sh stop    stop the server started by `start`
#
# `start` prints shell assignments (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_REGION, SEGDISCOVER_S3_ENDPOINT, SEGDISCOVER_S3_URL) for `eval`.
# Everything else it says goes to stderr.
#
# Why not `go install`: the module has replace directives, which go install
# refuses; `go build` inside a writable copy of the module honours them.
set -euo pipefail

SEAWEED_VERSION=v0.0.0-20261109003541-7506e5f91cd6
SEAWEED_MODULE=github.com/seaweedfs/seaweedfs
CACHE=${SEAWEED_CACHE:-$HOME/.cache/segdiscover}
BIN=$CACHE/weed-$SEAWEED_VERSION
# State of the running server: pid, data dir, ports.
STATE=${SEAWEED_STATE:-${TMPDIR:-/tmp}/segdiscover-seaweedfs}
S3_PORT=${SEAWEED_S3_PORT:-18333}
# The server's other ports: override them too to run two servers at once.
MASTER_PORT=${SEAWEED_MASTER_PORT:-19333}
VOLUME_PORT=${SEAWEED_VOLUME_PORT:-18080}
FILER_PORT=${SEAWEED_FILER_PORT:-18888}
BUCKET=${SEAWEED_BUCKET:-segdiscover-test}
REGION=us-east-1
ACCESS_KEY=segdiscover-test-key
SECRET_KEY=segdiscover-test-secret

log() { echo "seaweedfs.sh: $*" >&2; }

build() {
  if [ -x "$BIN" ]; then
    log "using cached $BIN"
    return
  fi
  mkdir -p "$CACHE"
  local dir src
  dir=$(go mod download -json "$SEAWEED_MODULE@$SEAWEED_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    log "go mod download of $SEAWEED_MODULE@$SEAWEED_VERSION gave no module directory"
    exit 1
  fi
  # The module cache is read-only; go build wants to write go.sum updates.
  src=$(mktemp -d "${TMPDIR:-/tmp}/seaweedfs-src.XXXXXX")
  trap 'rm -rf "$src"' RETURN
  cp -r "$dir/." "$src"
  chmod -R u+w "$src"
  log "building weed ($SEAWEED_VERSION) in $src; this takes minutes"
  local start=$SECONDS
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod nice -n 5 go build -o "$BIN.tmp" ./weed)
  mv "$BIN.tmp" "$BIN"
  log "built $BIN in $((SECONDS - start)) s"
}

print_env() {
  cat <<EOF
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=$REGION
export SEGDISCOVER_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
export SEGDISCOVER_S3_URL='s3://$BUCKET?endpoint=http://127.0.0.1:$S3_PORT&use_path_style=true&region=$REGION'
EOF
}

wait_port() { # host port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

start() {
  build
  if [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then
    log "already running (pid $(cat "$STATE/pid"))"
    print_env
    return
  fi
  # A server we did not start on the port would be tested instead of ours.
  if (exec 3<>"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null; then
    log "port $S3_PORT is in use by another process; set SEAWEED_S3_PORT"
    exit 1
  fi
  rm -rf "$STATE"
  mkdir -p "$STATE/data"
  # Static credentials: one identity allowed everything.
  cat >"$STATE/s3.json" <<EOF
{
  "identities": [
    {
      "name": "segdiscover-test",
      "credentials": [{"accessKey": "$ACCESS_KEY", "secretKey": "$SECRET_KEY"}],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    }
  ]
}
EOF
  log "starting weed server -s3 on 127.0.0.1:$S3_PORT (data in $STATE/data, log $STATE/weed.log)"
  # Ports other than the defaults, so a developer's own SeaweedFS is left alone.
  "$BIN" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$STATE/data" \
    -master.port="$MASTER_PORT" -volume.port="$VOLUME_PORT" -filer.port="$FILER_PORT" \
    -volume.max=0 -master.volumeSizeLimitMB=64 \
    -s3 -s3.port="$S3_PORT" -s3.config="$STATE/s3.json" \
    >"$STATE/weed.log" 2>&1 &
  echo $! >"$STATE/pid"
  if ! wait_port 127.0.0.1 "$S3_PORT" 60; then
    log "S3 port $S3_PORT not open after 60 s; last lines of $STATE/weed.log:"
    tail -50 "$STATE/weed.log" >&2
    stop
    exit 1
  fi
  make_bucket
  print_env
}

# The bucket is created through the filer's buckets folder (the S3 gateway
# shows /buckets/NAME as bucket NAME), so no S3 client is needed here.
make_bucket() {
  local i
  for ((i = 0; i < 300; i++)); do
    # An attempt that created the bucket may still report an error (the
    # filer not quite ready): the next one then finds it there.
    if echo "s3.bucket.create -name $BUCKET" |
      "$BIN" shell -master=127.0.0.1:"$MASTER_PORT" >"$STATE/shell.log" 2>&1 &&
      { ! grep -qi 'error' "$STATE/shell.log" || grep -q "bucket $BUCKET already exists" "$STATE/shell.log"; }; then
      log "bucket $BUCKET created"
      return
    fi
    sleep 0.2
  done
  log "could not create bucket $BUCKET; weed shell said:"
  cat "$STATE/shell.log" >&2
  log "last lines of $STATE/weed.log:"
  tail -50 "$STATE/weed.log" >&2
  stop
  exit 1
}

stop() {
  if [ ! -f "$STATE/pid" ]; then
    log "not running"
    return
  fi
  local pid i
  pid=$(cat "$STATE/pid")
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -rf "$STATE"
  log "stopped"
}

case "${1:-}" in
build) build ;;
start) start ;;
env) print_env ;;
stop) stop ;;
*)
  echo "usage: $0 build|start|env|stop" >&2
  exit 2
  ;;
esac
