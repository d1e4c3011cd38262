#!/usr/bin/env bash
# Soak test of freshness on a quiet log: a log, three witnesses (quorum 2)
# and an endpoint whose policy says `max-age 60`. One bundle is published
# and installed, then nothing is published for DURATION seconds while the
# endpoint runs `vitrine update` every EVERY seconds. Every update must
# succeed (the bundle stays active, the checkpoint is never stale), which
# only holds because the log asks its witnesses to cosign its unchanged
# checkpoint again every RECOSIGN seconds (`log serve --recosign-interval`).
# Each round prints the age of the checkpoint's newest and oldest
# cosignatures; the log's size must not change. Exits non-zero on any
# failed update, a stale cosignature, or a publication.
#
#   bench/soak.sh                                   # 10 minutes
#   DURATION=120 VITRINE=/path/to/vitrine bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION=${DURATION:-600}
MAX_AGE=${MAX_AGE:-60}
RECOSIGN=${RECOSIGN:-20}
EVERY=${EVERY:-10}
PROFILE=${PROFILE:-debug}

if [ -z "${VITRINE:-}" ]; then
  flag=(); [ "$PROFILE" = release ] && flag=(--release)
  cargo build "${flag[@]}" --locked -p vitrine
  VITRINE=$CARGO_TARGET_DIR/$PROFILE/vitrine
fi
v() { "$VITRINE" "$@"; }

TMP=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
cd "$TMP"

# A base port with the next three free (log, w1..w3), on 127.0.0.1.
PORT=$(python3 - <<'EOF'
import random, socket
for _ in range(200):
    base = random.randint(20000, 60000)
    try:
        socks = []
        for i in range(4):
            s = socket.socket(); s.bind(("127.0.0.1", base + i)); socks.append(s)
        for s in socks: s.close()
        print(base); break
    except OSError:
        for s in socks: s.close()
EOF
)
LOG=http://127.0.0.1:$PORT

mkdir -p keys rules
v key generate publisher.example/soak -o keys/publisher.key >/dev/null
v log init --data log --origin log.example/soak >/dev/null
echo "rules $(v key show keys/publisher.key)" > log/authorized
witness_args=()
for i in 1 2 3; do
  v witness init --data w$i --name witness.example/w$i >/dev/null
  v witness add-log --data w$i "$(v key show log/log.key)" 2>/dev/null
  witness_args+=(--witness w$i "$(v key show w$i/witness.key)" "http://127.0.0.1:$((PORT + i))")
done
v trust init -o policy --log-key "$(v key show log/log.key)" --log-url "$LOG" \
  "${witness_args[@]}" --quorum 2 --publisher "$(v key show keys/publisher.key)" \
  --max-age "$MAX_AGE" >/dev/null
for i in 1 2 3; do
  v witness serve --data w$i --addr 127.0.0.1:$((PORT + i)) 2>"w$i.log" & pids+=($!)
done
v log serve --data log --addr "127.0.0.1:$PORT" --witnesses policy \
  --recosign-interval "$RECOSIGN" 2>log.log & pids+=($!)
sleep 2

printf 'rule Soak_Marker { strings: $m = "VITRINE-SOAK" condition: $m }\n' > rules/soak.yar
v bundle build rules -o soak.bundle --name soak --version 1 >/dev/null
v publish soak.bundle --log "$LOG" --key keys/publisher.key --policy policy >/dev/null
v update --policy policy --state endpoint --log "$LOG" | grep -q 'ACTIVATED bundle soak v1'

# Ages (s) of the newest and oldest cosignature, and the tree size.
checkpoint_facts() {
  python3 - "$LOG/checkpoint" <<'EOF'
import base64, sys, time, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
body, sigs = text.split("\n\n", 1)
stamps = []
for line in sigs.splitlines():
    raw = base64.b64decode(line.split(" ")[2])
    if len(raw) == 4 + 8 + 64:  # cosignature/v1: key ID, timestamp, signature
        stamps.append(int.from_bytes(raw[4:12], "big"))
now = int(time.time())
print(now - max(stamps), now - min(stamps), body.splitlines()[1])
EOF
}

read -r _ _ size0 < <(checkpoint_facts)
echo "soak: log of size $size0 on $LOG, max-age $MAX_AGE s, re-cosigning every $RECOSIGN s, update every $EVERY s, for $DURATION s"
start=$(date +%s)
rounds=0 failures=0 worst=0
while (( $(date +%s) - start < DURATION )); do
  sleep "$EVERY"
  rounds=$((rounds + 1))
  if out=$(v update --policy policy --state endpoint --log "$LOG" 2>&1); then
    verdict=ok
  else
    verdict=FAILED; failures=$((failures + 1))
    echo "$out" | tail -n 5
  fi
  read -r newest oldest size < <(checkpoint_facts)
  (( oldest > worst )) && worst=$oldest
  (( oldest > MAX_AGE )) && { verdict="$verdict, STALE"; failures=$((failures + 1)); }
  [ "$size" = "$size0" ] || { verdict="$verdict, PUBLISHED"; failures=$((failures + 1)); }
  active=$(v status --state endpoint --format json | python3 -c 'import json,sys; a=json.load(sys.stdin)["active"]; print("%s v%s" % (a["name"], a["version"]))')
  printf 't=%4ds update %s; active %s; cosignatures %ss..%ss old; size %s\n' \
    "$(( $(date +%s) - start ))" "$verdict" "$active" "$newest" "$oldest" "$size"
done
elapsed=$(( $(date +%s) - start ))
if (( failures == 0 )); then
  echo "SOAK OK: $rounds updates over $elapsed s with no publication, all up to date; oldest cosignature seen ${worst} s (max-age $MAX_AGE)"
else
  echo "SOAK FAILED: $failures failures in $rounds rounds over $elapsed s"
  tail -n 20 log.log
  exit 1
fi
