#!/usr/bin/env bash
# Crash test of the log on PostgreSQL with several front ends: FRONTENDS
# `vitrine log serve --postgres` processes share one database; writers
# submit continuously through all of them (followers forward /add to the
# leader); CYCLES times the current leader is killed with SIGKILL, another
# front end must take over, and the killed one is restarted (as a
# follower). At the end:
#   - every acknowledged (index, SHA-256) is at that index in the final log,
#     and no entry appears twice;
#   - every checkpoint seen (from every front end, before each kill and
#     after each takeover) verifies and is consistent with the final one,
#     and the sizes each front end served never go backwards;
#   - a new leader (a newer epoch, on another front end) took over after
#     every kill; the takeover times (kill to a front end saying `leader`
#     on /healthz) are reported as min/median/max;
#   - `vitrine log verify` re-derives the final tree on every front end.
# Exits non-zero on any violation. Loopback only; kills only its own
# servers. Needs PostgreSQL (PGHOST/PGPORT/PGUSER, default
# 127.0.0.1:5432 as postgres) and psql; makes a database and drops it.
#
#   bench/log-pg-kill-test.sh
#   CYCLES=3 PROFILE=debug bench/log-pg-kill-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CYCLES=${CYCLES:-50}
FRONTENDS=${FRONTENDS:-3}
WRITERS=${WRITERS:-3}
INFLIGHT=${INFLIGHT:-8}
PER_WRITER=${PER_WRITER:-5000}
BATCH_MAX=${BATCH_MAX:-256}
BATCH_WAIT_MS=${BATCH_WAIT_MS:-20}
PROFILE=${PROFILE:-release}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}

for tool in python3 curl psql; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
flag=(); [ "$PROFILE" = release ] && flag=(--release)
if [ -z "${VITRINE:-}" ]; then
  cargo build "${flag[@]}" --locked -p vitrine
  VITRINE=$CARGO_TARGET_DIR/$PROFILE/vitrine
fi
if [ -z "${LOAD:-}" ]; then
  cargo build "${flag[@]}" --locked -p vitrine-server --example log_load
  LOAD=$CARGO_TARGET_DIR/$PROFILE/examples/log_load
fi

TMP=$(mktemp -d)
DB=vitrine_killtest_$$
SERVERS=()
WPIDS=()
cleanup() {
  touch "$TMP/stop" 2>/dev/null || true
  for p in "${WPIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${SERVERS[@]}"; do
    if [ -n "$p" ]; then kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
  done
  psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  if [ -n "${KEEP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
mkdir -p "$TMP/acked" "$TMP/checkpoints" "$TMP/writers"

psql -q -d postgres -c "CREATE DATABASE $DB" >/dev/null
PG="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB"
LOG_VKEY=$("$VITRINE" log init --data "$TMP/log" --origin killtest.example/pg --postgres "$PG")
PUB_VKEY=$("$VITRINE" key generate killtest.example/publisher -o "$TMP/publisher.key")
echo "rules,release $PUB_VKEY" > "$TMP/log/authorized"
PORTS=()
for i in $(seq 0 $((FRONTENDS - 1))); do
  PORTS[$i]=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
done
url() { echo "http://127.0.0.1:${PORTS[$1]}"; }

# Front end $1: one data directory for all (key, authorized, content).
start_server() {
  "$VITRINE" log serve --data "$TMP/log" --postgres "$PG" --addr "127.0.0.1:${PORTS[$1]}" \
    --batch-max "$BATCH_MAX" --batch-wait-ms "$BATCH_WAIT_MS" >>"$TMP/serve-$1.log" 2>&1 &
  SERVERS[$1]=$!
  for _ in $(seq 400); do
    curl -sf "$(url "$1")/healthz" >/dev/null 2>&1 && return 0
    kill -0 "${SERVERS[$1]}" 2>/dev/null || break
    sleep 0.05
  done
  echo "VIOLATION: front end $1 did not come up" >&2
  tail -20 "$TMP/serve-$1.log" >&2
  exit 1
}

# "role epoch" of front end $1 ("down 0" if it does not answer).
role() {
  local h
  h=$(curl -s --max-time 1 "$(url "$1")/healthz" 2>/dev/null) || { echo "down 0"; return; }
  echo "$(echo "$h" | sed -n 's/.*"role":"\([a-z]*\)".*/\1/p') $(echo "$h" | sed -n 's/.*"epoch":\([0-9]*\).*/\1/p')"
}

# "front-end epoch" of the one that leads ("" if none does).
leader() {
  local i r
  for i in $(seq 0 $((FRONTENDS - 1))); do
    r=$(role "$i")
    if [ "${r% *}" = leader ]; then echo "$i ${r#* }"; return; fi
  done
}

# Writer slot $1, generation $2, through front end ($1 mod FRONTENDS).
start_writer() {
  "$LOAD" --url "$(url $(($1 % FRONTENDS)))" --key "$TMP/publisher.key" --clients 1 \
    --inflight "$INFLIGHT" --entries "$PER_WRITER" --dedup-fraction 0.1 --seed "pgkill-$$-$1-$2" \
    --acked "$TMP/acked/$1-$2" --retry-for 30 --stop-file "$TMP/stop" \
    >"$TMP/writers/$1-$2.out" 2>&1 &
  WPIDS[$1]=$!
}

# Checkpoint of every front end into "$1-fe<i>".
save_checkpoints() {
  local i
  for i in $(seq 0 $((FRONTENDS - 1))); do
    curl -s --max-time 2 "$(url "$i")/checkpoint" > "$TMP/checkpoints/$1-fe$i" || true
  done
}

for i in $(seq 0 $((FRONTENDS - 1))); do start_server "$i"; done
for _ in $(seq 200); do L=$(leader); [ -n "$L" ] && break; sleep 0.05; done
[ -n "$L" ] || { echo "VIOLATION: no front end took the lead" >&2; exit 1; }
GEN=()
for w in $(seq 0 $((WRITERS - 1))); do GEN[$w]=0; start_writer "$w" 0; done

status=0
writer_failures=0
reap_writer() { # slot: counts a writer that exited with a failed check
  if ! wait "${WPIDS[$1]}"; then
    writer_failures=$((writer_failures + 1))
    echo "VIOLATION: writer $1-${GEN[$1]} failed:" >&2
    grep -v '^RESULT' "$TMP/writers/$1-${GEN[$1]}.out" | tail -5 >&2
  fi
}

echo "== $CYCLES kill -9 cycles of the leader, $FRONTENDS front ends, $WRITERS writers x $INFLIGHT in flight"
: > "$TMP/takeovers"
for c in $(seq -f %04g 1 "$CYCLES"); do
  ms=$((200 + RANDOM % 1801))
  sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
  read -r old old_epoch <<<"$(leader)" || true
  if [ -z "${old:-}" ]; then
    echo "VIOLATION: cycle $c: no leader before the kill" >&2; status=1; break
  fi
  save_checkpoints "$c-a-before-kill"
  kill -9 "${SERVERS[$old]}"
  t0=$(date +%s%N)
  wait "${SERVERS[$old]}" 2>/dev/null || true
  SERVERS[$old]=
  new=
  while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 30000 ]; do
    for i in $(seq 0 $((FRONTENDS - 1))); do
      [ "$i" = "$old" ] && continue
      r=$(role "$i")
      if [ "${r% *}" = leader ] && [ "${r#* }" -gt "$old_epoch" ]; then new=$i; new_epoch=${r#* }; break 2; fi
    done
    sleep 0.02
  done
  took=$(( ($(date +%s%N) - t0) / 1000000 ))
  if [ -z "$new" ]; then
    echo "VIOLATION: cycle $c: nobody took over from front end $old within 30 s" >&2; status=1; break
  fi
  echo "$took" >> "$TMP/takeovers"
  save_checkpoints "$c-b-after-takeover"
  start_server "$old"
  # Writers that finished their statements are replaced.
  for w in $(seq 0 $((WRITERS - 1))); do
    if ! kill -0 "${WPIDS[$w]}" 2>/dev/null; then
      reap_writer "$w"
      GEN[$w]=$((GEN[$w] + 1))
      start_writer "$w" "${GEN[$w]}"
    fi
  done
  echo "cycle $c: killed leader fe$old (epoch $old_epoch) after $ms ms; fe$new leads (epoch $new_epoch) after $took ms; size $(sed -n 2p "$TMP/checkpoints/$c-b-after-takeover-fe$new")"
done

echo "== stopping writers"
touch "$TMP/stop"
for w in $(seq 0 $((WRITERS - 1))); do
  for _ in $(seq 600); do kill -0 "${WPIDS[$w]}" 2>/dev/null || break; sleep 0.1; done
  kill "${WPIDS[$w]}" 2>/dev/null || true
  reap_writer "$w"
done
WPIDS=()
sleep 1 # followers refresh their checkpoint
save_checkpoints "9999-final"
L=$(leader); L=${L% *}
[ -n "$L" ] || { echo "VIOLATION: no leader at the end" >&2; L=0; status=1; }

echo "== checking the final log"
for i in $(seq 0 $((FRONTENDS - 1))); do
  "$VITRINE" log verify "$(url "$i")" --log-key "$LOG_VKEY" --authorized "$TMP/log/authorized" || status=1
done
acked=("$TMP"/acked/*)
"$LOAD" --check --url "$(url "$L")" --log-key "$LOG_VKEY" --checkpoints "$TMP/checkpoints" \
  $(printf -- '--acked %s ' "${acked[@]}") | tee "$TMP/check.out" || status=1

# The sizes each front end served never go backwards.
for i in $(seq 0 $((FRONTENDS - 1))); do
  prev=0
  for f in "$TMP"/checkpoints/*-fe"$i"; do
    size=$(sed -n 2p "$f")
    [ -z "$size" ] && continue
    if [ "$size" -lt "$prev" ]; then
      echo "VIOLATION: $(basename "$f") has size $size after $prev" >&2
      status=1
    fi
    prev=$size
  done
done
[ "$writer_failures" -eq 0 ] || status=1
takeovers=$(wc -l < "$TMP/takeovers")
[ "$takeovers" -eq "$CYCLES" ] || status=1

R=$(grep '^RESULT' "$TMP/check.out" | tail -1)
get() { echo "$R" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
retries=$(cat "$TMP"/writers/*.out | grep -o '[0-9]* retries' | awk '{s+=$1} END {print s+0}')
times=$(sort -n "$TMP/takeovers" | awk '{a[NR]=$1} END {if (NR) printf "min %d ms, median %d ms, max %d ms", a[1], a[int((NR+1)/2)], a[NR]}')
echo "== summary: $CYCLES kill -9 cycles of the leader; $takeovers takeovers ($times);" \
  "final size $(get size); $(get acked_lines) acknowledgements ($(get acked) distinct entries) checked;" \
  "$(get checkpoints) checkpoints checked consistent; $retries client retries;" \
  "writer failures $writer_failures; $([ $status -eq 0 ] && echo PASS || echo FAIL)"
exit $status
