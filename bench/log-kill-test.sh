#!/usr/bin/env bash
# Crash test of the log: writers submit continuously while the server is
# killed with SIGKILL at random moments and restarted on the same data
# directory, CYCLES times. At the end:
#   - every acknowledged (index, SHA-256) is at that index in the final log,
#     and no entry appears twice;
#   - every checkpoint seen (before each kill, after each restart) verifies
#     and is consistent with the final one (consistency proof from the
#     served tiles), and sizes never go backwards;
#   - `vitrine log verify` re-derives the final tree from its entries.
# Exits non-zero on any violation. Loopback only; kills only its own server.
#
#   bench/log-kill-test.sh
#   CYCLES=200 WRITERS=4 INFLIGHT=8 VITRINE=/path/to/vitrine bench/log-kill-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CYCLES=${CYCLES:-50}
WRITERS=${WRITERS:-4}
INFLIGHT=${INFLIGHT:-8}
PER_WRITER=${PER_WRITER:-5000}
BATCH_MAX=${BATCH_MAX:-256}
BATCH_WAIT_MS=${BATCH_WAIT_MS:-20}
PROFILE=${PROFILE:-release}

for tool in python3 curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
flag=(); [ "$PROFILE" = release ] && flag=(--release)
if [ -z "${VITRINE:-}" ]; then
  cargo build "${flag[@]}" --locked -p vitrine
  VITRINE=$CARGO_TARGET_DIR/$PROFILE/vitrine
fi
cargo build "${flag[@]}" --locked -p vitrine-server --example log_load
LOAD=$CARGO_TARGET_DIR/$PROFILE/examples/log_load

TMP=$(mktemp -d)
SERVER=
WPIDS=()
cleanup() {
  touch "$TMP/stop" 2>/dev/null || true
  for p in "${WPIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$SERVER" ]; then kill -9 "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  if [ -n "${KEEP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
mkdir -p "$TMP/acked" "$TMP/checkpoints" "$TMP/writers"

LOG_VKEY=$("$VITRINE" log init --data "$TMP/log" --origin killtest.example/log)
echo "$LOG_VKEY" > "$TMP/log.vkey"
PUB_VKEY=$("$VITRINE" key generate killtest.example/publisher -o "$TMP/publisher.key")
echo "rules,release $PUB_VKEY" > "$TMP/log/authorized"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT

start_server() {
  "$VITRINE" log serve --data "$TMP/log" --addr "127.0.0.1:$PORT" \
    --batch-max "$BATCH_MAX" --batch-wait-ms "$BATCH_WAIT_MS" >>"$TMP/serve.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 200); do
    curl -sf "$URL/checkpoint" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.05
  done
  echo "VIOLATION: the server did not come back up on its data directory" >&2
  tail -20 "$TMP/serve.log" >&2
  exit 1
}

# Writer slot $1, generation $2: a fresh seed and acked file each time.
start_writer() {
  "$LOAD" --url "$URL" --key "$TMP/publisher.key" --clients 1 --inflight "$INFLIGHT" \
    --entries "$PER_WRITER" --dedup-fraction 0.1 --seed "kill-$$-$1-$2" \
    --acked "$TMP/acked/$1-$2" --retry-for 30 --stop-file "$TMP/stop" \
    >"$TMP/writers/$1-$2.out" 2>&1 &
  WPIDS[$1]=$!
}

save_checkpoint() { curl -s --max-time 2 "$URL/checkpoint" > "$TMP/checkpoints/$1" || true; }

start_server
GEN=()
for w in $(seq 0 $((WRITERS - 1))); do GEN[$w]=0; start_writer "$w" 0; done

writer_failures=0
reap_writer() { # slot: counts a writer that exited with a failed check
  if ! wait "${WPIDS[$1]}"; then
    writer_failures=$((writer_failures + 1))
    echo "VIOLATION: writer $1-${GEN[$1]} failed:" >&2
    grep -v '^RESULT' "$TMP/writers/$1-${GEN[$1]}.out" | tail -5 >&2
  fi
}

echo "== $CYCLES kill -9 cycles, $WRITERS writers x $INFLIGHT in flight, $URL"
for c in $(seq -f %04g 1 "$CYCLES"); do
  ms=$((200 + RANDOM % 1801))
  sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
  save_checkpoint "$c-a-before-kill"
  kill -9 "$SERVER"
  wait "$SERVER" 2>/dev/null || true
  start_server
  save_checkpoint "$c-b-after-restart"
  # Writers that finished their statements are replaced.
  for w in $(seq 0 $((WRITERS - 1))); do
    if ! kill -0 "${WPIDS[$w]}" 2>/dev/null; then
      reap_writer "$w"
      GEN[$w]=$((GEN[$w] + 1))
      start_writer "$w" "${GEN[$w]}"
    fi
  done
  echo "cycle $c: killed after $ms ms; size after restart $(sed -n 2p "$TMP/checkpoints/$c-b-after-restart")"
done

echo "== stopping writers"
touch "$TMP/stop"
for w in $(seq 0 $((WRITERS - 1))); do
  for _ in $(seq 600); do kill -0 "${WPIDS[$w]}" 2>/dev/null || break; sleep 0.1; done
  kill "${WPIDS[$w]}" 2>/dev/null || true
  reap_writer "$w"
done
WPIDS=()
save_checkpoint "9999-final"

echo "== checking the final log"
status=0
"$VITRINE" log verify "$URL" --log-key "$LOG_VKEY" --authorized "$TMP/log/authorized" || status=1
acked=("$TMP"/acked/*)
"$LOAD" --check --url "$URL" --log-key "$LOG_VKEY" --checkpoints "$TMP/checkpoints" \
  $(printf -- '--acked %s ' "${acked[@]}") | tee "$TMP/check.out" || status=1

# Sizes seen over time never go backwards.
prev=0
for f in "$TMP"/checkpoints/*; do
  size=$(sed -n 2p "$f")
  [ -z "$size" ] && continue
  if [ "$size" -lt "$prev" ]; then
    echo "VIOLATION: $(basename "$f") has size $size after $prev" >&2
    status=1
  fi
  prev=$size
done
[ "$writer_failures" -eq 0 ] || status=1

R=$(grep '^RESULT' "$TMP/check.out" | tail -1)
get() { echo "$R" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
retries=$(cat "$TMP"/writers/*.out | grep -o '[0-9]* retries' | awk '{s+=$1} END {print s+0}')
echo "== summary: $CYCLES kill -9 cycles; final size $(get size); $(get acked_lines) acknowledgements" \
  "($(get acked) distinct entries) checked; $(get checkpoints) checkpoints checked consistent;" \
  "$retries client retries; writer failures $writer_failures;" \
  "$([ $status -eq 0 ] && echo PASS || echo FAIL)"
exit $status
