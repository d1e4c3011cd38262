#!/usr/bin/env bash
# Crash test of the quarantine: `vitrine scan --quarantine` is killed with
# SIGKILL at a random moment while it moves detected files, CYCLES times.
# After each kill the store is reopened (which finishes or undoes the
# interrupted move) and every file must be in exactly one place: at its
# original path with its original bytes, or in quarantine with a record of
# that path and SHA-256. At the end every item is restored and every file
# must be back, byte-identical, with the quarantine empty.
# Exits non-zero on any violation.
#
#   bench/quarantine-kill-test.sh
#   CYCLES=300 FILES=80 VITRINE=/path/to/vitrine bench/quarantine-kill-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CYCLES=${CYCLES:-100}
FILES=${FILES:-40}
PROFILE=${PROFILE:-release}

flag=(); [ "$PROFILE" = release ] && flag=(--release)
if [ -z "${VITRINE:-}" ]; then
  cargo build "${flag[@]}" --locked -p vitrine
  VITRINE=$CARGO_TARGET_DIR/$PROFILE/vitrine
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
Q=$TMP/quarantine
cat > "$TMP/rule.yar" <<'EOF'
rule Vitrine_Kill_Test_Marker
{
    strings:
        $m = "VITRINE-QUARANTINE-KILL-TEST-MARKER"
    condition:
        $m
}
EOF

kills=0
for c in $(seq 1 "$CYCLES"); do
  dir=$TMP/files/c$c
  # Files of 1 KiB to 2 MiB, each unique, each with the marker, plus a
  # clean file that must never move. Their SHA-256s go to a manifest.
  python3 - "$dir" "$FILES" "$c" > "$TMP/manifest-$c" <<'EOF'
import hashlib, os, random, sys
d, n, c = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(d)
rnd = random.Random(int(c))
for i in range(n + 1):
    body = os.urandom(rnd.randint(1024, 2 << 20))
    data = body if i == n else b"VITRINE-QUARANTINE-KILL-TEST-MARKER %s %d\n" % (c.encode(), i) + body
    p = os.path.join(d, "clean.bin" if i == n else "f%03d.bin" % i)
    with open(p, "wb") as f:
        f.write(data)
    os.chmod(p, 0o640 + (i % 2) * 0o100)
    print(p, hashlib.sha256(data).hexdigest(), "clean" if i == n else "marked")
EOF
  "$VITRINE" scan --no-progress --no-cache -j 1 --rules "$TMP/rule.yar" \
    --quarantine --quarantine-dir "$Q" "$dir" >/dev/null 2>&1 &
  pid=$!
  sleep "$(python3 -c "import random; print(random.uniform(0.05, 0.8))")"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
  # Reopening the store recovers; then check the manifest.
  "$VITRINE" quarantine --dir "$Q" --format json list > "$TMP/list.json" 2>/dev/null
  python3 - "$TMP/manifest-$c" "$TMP/list.json" <<'EOF'
import hashlib, json, os, sys
items = {}
for it in json.load(open(sys.argv[2])):
    items.setdefault(it["original_path"], []).append(it)
bad = 0
for line in open(sys.argv[1]):
    path, sha, kind = line.split()
    here = os.path.exists(path) and hashlib.sha256(open(path, "rb").read()).hexdigest() == sha
    held = [i for i in items.get(path, []) if i["sha256"] == sha]
    if kind == "clean" and (not here or held):
        print("clean file moved or lost:", path); bad += 1
    elif here == bool(held) or len(held) > 1:
        print("file in %s places:" % ("no" if not here and not held else "two"), path); bad += 1
sys.exit(1 if bad else 0)
EOF
done

# Restore everything and check every file is back, byte-identical.
"$VITRINE" quarantine --dir "$Q" --format json list > "$TMP/list.json"
held=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$TMP/list.json")
python3 - "$VITRINE" "$Q" "$TMP/list.json" <<'EOF'
import json, subprocess, sys
vitrine, q, lst = sys.argv[1:4]
for it in json.load(open(lst)):
    subprocess.run([vitrine, "quarantine", "--dir", q, "restore", it["id"]], check=True,
                   stdout=subprocess.DEVNULL)
EOF
cat "$TMP"/manifest-* > "$TMP/all"
python3 - "$TMP/all" <<'EOF'
import hashlib, os, stat, sys
bad = 0
for line in open(sys.argv[1]):
    path, sha, _ = line.split()
    if not os.path.exists(path) or hashlib.sha256(open(path, "rb").read()).hexdigest() != sha:
        print("not restored intact:", path); bad += 1
sys.exit(1 if bad else 0)
EOF
left=$("$VITRINE" quarantine --dir "$Q" --format json list | python3 -c "import json,sys; print(len(json.load(sys.stdin)))")
[ "$left" = 0 ] || { echo "quarantine not empty after restoring all: $left"; exit 1; }
total=$(wc -l < "$TMP/all")
echo "PASS: $CYCLES cycles, $kills killed mid-run, $total files ($held were in quarantine at the end), every file in exactly one place after each kill, all restored byte-identical"
