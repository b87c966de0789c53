#!/usr/bin/env bash
# Behaviour equivalence of two builds (issue 10: a redesign must not change
# any output). Runs BASE (a binary built from the reference commit) and this
# tree's build side by side on IN_DIR with every stage, then compares:
#   - every file of OUT_DIR byte for byte (the cache manifests, and with them
#     every cache key, included); two files hold wall-clock figures and are
#     compared with those masked: run.json ("started", "finished", "seconds",
#     "busy_seconds") and report.html (the "N.N s" cells of the stage table).
#     .lock is skipped (empty, flock only); eval's printed report is compared
#     with the time at the end of its first line masked;
#   - a cross rerun: this build on a copy of BASE's OUT_DIR must find every
#     artifact cached (computed 0 in every stage), which checks the cache keys
#     from the other side;
#   - `eval` (JSON report), `export` in every format and `predict` (on a few
#     images) with the trained run, byte for byte;
#   - the --help text of every command (flags and defaults), as a diff.
#
#   bench/equivalence.sh BASE_BIN [IN_DIR] [GT_DIR]
#       (from the module root; IN_DIR default testdata/images, GT_DIR default
#        testdata/gt/synthetic scored against the pseudo-labels of
#        IN_DIR/synthetic; on another folder give its labels folder)
#
# Exit status 0 when everything is identical, 1 when an output differs, 2
# when only the --help text does (a documentation change, to review). Heavy on a full
# dataset (it trains the network twice): run it niced, one at a time.
set -euo pipefail
# Everything is in main, which bash reads whole before running it: editing
# this file during a run does not break the run.
main() {
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
base=$(realpath "$1")
in=$(realpath "${2:-testdata/images}")
gt=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bin-ours" ./cmd/segdiscover
fail=0
helpdiff=0
say() { echo "$*"; }
bad() { echo "DIFF: $*"; fail=1; }

# mask FILE: prints FILE with its wall-clock fields replaced.
mask() {
	case "$(basename "$1")" in
	run.json) /usr/bin/python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("started", "finished"):
    d.pop(k, None)
for s in d.get("stages", []):
    s.pop("seconds", None); s.pop("busy_seconds", None)
print(json.dumps(d, indent=1, sort_keys=True))
EOF
	;;
	report.html) sed -E 's|<td class="n">[0-9.]+ (s\|min\|h\|ms)</td>|<td class="n">T</td>|g' "$1" ;;
	*.txt) sed -E '1s/  [0-9.]+s$/  T/' "$1" ;; # eval's first line ends with its time
	*) cat "$1" ;;
	esac
}

# compare DIR_A DIR_B LABEL
compare() {
	local a=$1 b=$2 label=$3 n=0
	(cd "$a" && find . -type f ! -name .lock | sort) >"$tmp/la"
	(cd "$b" && find . -type f ! -name .lock | sort) >"$tmp/lb"
	if ! diff -q "$tmp/la" "$tmp/lb" >/dev/null; then
		bad "$label: file lists differ"; diff "$tmp/la" "$tmp/lb" | head -20
	fi
	while read -r f; do
		[ -f "$b/$f" ] || continue
		n=$((n + 1))
		case "$(basename "$f")" in
		run.json | report.html | *.txt)
			cmp -s <(mask "$a/$f") <(mask "$b/$f") || { bad "$label: $f (masked)"; diff <(mask "$a/$f") <(mask "$b/$f") | head -10; } ;;
		*) cmp -s "$a/$f" "$b/$f" || bad "$label: $f" ;;
		esac
	done <"$tmp/la"
	say "$label: $n files compared ($(grep -c '^./.cache/' "$tmp/la" || true) cache manifests)"
}

# runboth LABEL ARGS...: runs both builds with ARGS, OUT placeholder -> $tmp/{base,ours}/LABEL
runboth() {
	local label=$1; shift
	local who rc
	for who in base ours; do
		local bin=$base; [ $who = ours ] && bin=$tmp/bin-ours
		mkdir -p "$tmp/$who"
		local args=() x
		for x in "$@"; do args+=("${x//@OUT@/$tmp/$who/$label}"); done
		rc=0
		nice -n 5 "$bin" "${args[@]}" >"$tmp/$who.$label.log" 2>&1 || rc=$?
		echo $rc >"$tmp/$who.$label.rc"
	done
	cmp -s "$tmp/base.$label.rc" "$tmp/ours.$label.rc" || bad "$label: exit $(cat "$tmp/base.$label.rc") vs $(cat "$tmp/ours.$label.rc")"
}

say "== run $in (every stage)"
runboth run run "$in" -o @OUT@ -q
compare "$tmp/base/run" "$tmp/ours/run" run

say "== cross rerun: ours on a copy of base's OUT_DIR"
cp -a "$tmp/base/run" "$tmp/cross"
nice -n 5 "$tmp/bin-ours" run "$in" -o "$tmp/cross" -q || bad "cross rerun exit $?"
/usr/bin/python3 - "$tmp/cross/run.json" <<'EOF' || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
bad = [(s["name"], s["computed"]) for s in d["stages"] if s.get("computed", 0) and s["name"] != "report"]
print("cross rerun: computed per stage", [(s["name"], s.get("computed", 0)) for s in d["stages"]])
if bad:
    print("DIFF: cross rerun recomputed", bad); sys.exit(1)
EOF

say "== eval, export, predict"
if [ -z "$gt" ]; then gt=testdata/gt/synthetic; sub=/synthetic; else sub=; fi
for who in base ours; do
	bin=$base; [ $who = ours ] && bin=$tmp/bin-ours
	d=$tmp/$who/run
	mkdir -p "$tmp/$who/eval"
	rc=0; "$bin" eval --pred "$d/pseudolabels$sub" --gt "$gt" --json "$tmp/$who/eval/pseudolabels.json" >"$tmp/$who/eval/pseudolabels.txt" 2>&1 || rc=$?
	echo "$rc" >"$tmp/$who/eval/rc"
	if [ -d "$d/masks$sub" ]; then
		"$bin" eval --pred "$d/masks$sub" --gt "$gt" --many-to-one --json "$tmp/$who/eval/masks.json" >"$tmp/$who/eval/masks.txt" 2>&1 || true
	fi
	for fmt in coco cvat labelstudio png; do
		"$bin" export "$d" --format $fmt -o "$tmp/$who/export-$fmt" >/dev/null 2>&1 || echo "export $fmt: exit $?" >>"$tmp/$who/eval/rc"
	done
done
compare "$tmp/base/eval" "$tmp/ours/eval" eval
for fmt in coco cvat labelstudio png; do compare "$tmp/base/export-$fmt" "$tmp/ours/export-$fmt" "export $fmt"; done
# predict on a few images: testdata's photos, else the first 8 of IN_DIR
photos=$in/photos
if [ ! -d "$photos" ]; then
	photos=$tmp/predict-in
	mkdir -p "$photos"
	find "$in" -maxdepth 1 -type f | sort | head -8 | while read -r f; do ln -s "$f" "$photos/"; done
fi
if [ -f "$tmp/base/run/model/segnet.safetensors" ]; then
	for who in base ours; do
		bin=$base; [ $who = ours ] && bin=$tmp/bin-ours
		nice -n 5 "$bin" predict --model "$tmp/base/run" "$photos" -o "$tmp/$who/predict" -q || echo "predict: exit $?"
	done
	compare "$tmp/base/predict" "$tmp/ours/predict" predict
fi

say "== --help of every command"
for c in "" run superpixels features cluster pseudolabel train report export predict eval "eval superpixels" version; do
	# shellcheck disable=SC2086
	"$base" $c --help >"$tmp/hb" 2>&1 || true
	# shellcheck disable=SC2086
	"$tmp/bin-ours" $c --help >"$tmp/ho" 2>&1 || true
	cmp -s "$tmp/hb" "$tmp/ho" || { echo "HELP DIFF: '$c'"; helpdiff=1; diff "$tmp/hb" "$tmp/ho" || true; }
done

if [ $fail = 1 ]; then
	say "DIFFERENCES (above)"
	exit 1
elif [ $helpdiff = 1 ]; then
	say "OUTPUTS IDENTICAL; --help text differs (above)"
	exit 2
fi
say "IDENTICAL"
}
main "$@"
