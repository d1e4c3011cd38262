#!/usr/bin/env bash
# Log benchmark: write throughput and integration latency of POST /add,
# tile read throughput, and an in-process split of where the time goes,
# against `vitrine log serve` on loopback.
#
#   bench/log.sh
#   VITRINE=/path/to/vitrine bench/log.sh          # reuse a built binary
#   CLIENTS=64 INFLIGHT=16 ENTRIES=100000 BATCH_MAX=4096 BATCH_WAIT_MS=10 bench/log.sh
#
# A client is one keep-alive connection pool with INFLIGHT requests in
# flight; /add answers once the entry is under a published checkpoint, so
# concurrency (CLIENTS x INFLIGHT) bounds throughput at
# concurrency / latency. The load generator shares the machine's cores.
# Needs: python3 (free port), curl. Writes bench/out/log-results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CLIENTS=${CLIENTS:-64}
INFLIGHT=${INFLIGHT:-16}
ENTRIES=${ENTRIES:-100000}
DEDUP=${DEDUP:-0.05}
BATCH_MAX=${BATCH_MAX:-4096}
BATCH_WAIT_MS=${BATCH_WAIT_MS:-10}
READ_SECS=${READ_SECS:-10}
mkdir -p "$OUT"

for tool in python3 curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

if [ -z "${VITRINE:-}" ]; then
  echo "== building vitrine (release)"
  cargo build --release --locked -p vitrine
  VITRINE=$CARGO_TARGET_DIR/release/vitrine
fi
echo "== building the log_load example (release)"
cargo build --release --locked -p vitrine-server --example log_load
LOAD=$CARGO_TARGET_DIR/release/examples/log_load

TMP=$(mktemp -d)
SERVER=
cleanup() {
  if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

LOG_VKEY=$("$VITRINE" log init --data "$TMP/log" --origin bench.example/log)
PUB_VKEY=$("$VITRINE" key generate bench.example/publisher -o "$TMP/publisher.key")
echo "rules,release $PUB_VKEY" > "$TMP/log/authorized"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT

echo "== vitrine log serve on $URL (batch max $BATCH_MAX, wait $BATCH_WAIT_MS ms)"
"$VITRINE" log serve --data "$TMP/log" --addr "127.0.0.1:$PORT" \
  --batch-max "$BATCH_MAX" --batch-wait-ms "$BATCH_WAIT_MS" 2>"$TMP/serve.log" &
SERVER=$!
for _ in $(seq 100); do
  curl -sf "$URL/checkpoint" >/dev/null && break
  sleep 0.1
done
curl -sf "$URL/checkpoint" >/dev/null || { cat "$TMP/serve.log" >&2; exit 1; }

result() { grep '^RESULT' | tail -1; }
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }

echo "== write load: $ENTRIES entries, $CLIENTS clients x $INFLIGHT in flight, dedup fraction $DEDUP"
"$LOAD" --url "$URL" --key "$TMP/publisher.key" --clients "$CLIENTS" --inflight "$INFLIGHT" \
  --entries "$ENTRIES" --dedup-fraction "$DEDUP" --acked "$TMP/acked" | tee "$TMP/write.out"
W=$(result < "$TMP/write.out")

echo "== write load, closed loop: 10000 entries, $CLIENTS clients x 1 in flight"
"$LOAD" --url "$URL" --key "$TMP/publisher.key" --clients "$CLIENTS" --inflight 1 \
  --entries 10000 --acked "$TMP/acked" | tee "$TMP/write1.out"
W1=$(result < "$TMP/write1.out")

echo "== tile reads: $READ_SECS s, 16 clients x 4 in flight"
"$LOAD" --url "$URL" --read-tiles "$READ_SECS" --clients 16 --inflight 4 | tee "$TMP/read.out"
R=$(result < "$TMP/read.out")

echo "== verify: vitrine log verify and every acknowledged index"
"$VITRINE" log verify "$URL" --log-key "$LOG_VKEY" --authorized "$TMP/log/authorized" | tee "$TMP/verify.out"
"$LOAD" --check --url "$URL" --log-key "$LOG_VKEY" --acked "$TMP/acked" | tee "$TMP/check.out"

kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=

echo "== in process, no HTTP: memory storage, then the data-directory storage"
"$LOAD" --inproc mem --clients "$CLIENTS" --inflight "$INFLIGHT" --entries "$ENTRIES" \
  --batch-max "$BATCH_MAX" --batch-wait-ms "$BATCH_WAIT_MS" | tee "$TMP/mem.out"
"$LOAD" --inproc fs --data "$TMP/inproc" --clients "$CLIENTS" --inflight "$INFLIGHT" --entries "$ENTRIES" \
  --batch-max "$BATCH_MAX" --batch-wait-ms "$BATCH_WAIT_MS" | tee "$TMP/fs.out"

{
  echo "# Log benchmark"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), $(uname -sr)."
  echo "\`vitrine log serve\` on loopback, data directory in $(df -P "$TMP" | awk 'NR==2{print $1}'),"
  echo "batch max $BATCH_MAX entries / $BATCH_WAIT_MS ms; load generator on the same cores."
  echo
  echo "| run | entries/s | p50 | p99 | max |"
  echo "|---|---|---|---|---|"
  echo "| /add, $CLIENTS clients x $INFLIGHT in flight, $ENTRIES entries, $DEDUP resubmitted | $(echo "$W" | field eps) | $(echo "$W" | field p50_ms) ms | $(echo "$W" | field p99_ms) ms | $(echo "$W" | field max_ms) ms |"
  echo "| /add, $CLIENTS clients x 1 in flight, 10000 entries | $(echo "$W1" | field eps) | $(echo "$W1" | field p50_ms) ms | $(echo "$W1" | field p99_ms) ms | $(echo "$W1" | field max_ms) ms |"
  echo "| in process, memory storage (no HTTP, no disk) | $(result < "$TMP/mem.out" | field eps) | $(result < "$TMP/mem.out" | field p50_ms) ms | $(result < "$TMP/mem.out" | field p99_ms) ms | $(result < "$TMP/mem.out" | field max_ms) ms |"
  echo "| in process, data-directory storage (no HTTP) | $(result < "$TMP/fs.out" | field eps) | $(result < "$TMP/fs.out" | field p50_ms) ms | $(result < "$TMP/fs.out" | field p99_ms) ms | $(result < "$TMP/fs.out" | field max_ms) ms |"
  echo
  echo "Tile reads (16 clients x 4 in flight, random tiles, bundles and /checkpoint): **$(echo "$R" | field rps) reads/s**, p50 $(echo "$R" | field p50_ms) ms, p99 $(echo "$R" | field p99_ms) ms."
  echo
  echo "Anchors: Tessera POSIX ~10,000 entries/s on NVMe (~2,900/s on a disk); Sunlight batch sequencing 41 ms p50."
  echo "Target here: 50,000 entries/s, p99 under 1 s."
  echo
  echo "Where the time goes (in process):"
  echo
  echo '```'
  grep -v '^RESULT' "$TMP/mem.out" | head -1
  grep -v '^RESULT' "$TMP/fs.out"
  echo '```'
  echo
  echo "Verification: $(cat "$TMP/verify.out")"
  echo "$(grep -v '^RESULT' "$TMP/check.out")"
} > "$OUT/log-results.md"
echo "== wrote $OUT/log-results.md"
cat "$OUT/log-results.md"
