#!/usr/bin/env bash
# Log benchmark: write throughput and integration latency of POST /add,
# tile read throughput, and an in-process split of where the time goes,
# against `vitrine log serve` on loopback, with the data directory and with
# PostgreSQL in the same run.
#
#   bench/log.sh
#   BACKENDS=fs bench/log.sh                       # skip PostgreSQL
#   PG_ADMIN="host=127.0.0.1 port=5432 user=postgres dbname=postgres" bench/log.sh
#   VITRINE=/path/to/vitrine bench/log.sh          # reuse a built binary
#   CLIENTS=64 INFLIGHT=16 ENTRIES=100000 BATCH_MAX=4096 BATCH_WAIT_MS=10 bench/log.sh
#
# A client is one keep-alive connection pool with INFLIGHT requests in
# flight; /add answers once the entry is under a published checkpoint, so
# concurrency (CLIENTS x INFLIGHT) bounds throughput at
# concurrency / latency. The load generator shares the machine's cores.
# Needs: python3 (free port), curl, psql for the PostgreSQL rows (a database
# is created for the run and dropped at the end). Writes
# bench/out/log-results.md.
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
BACKENDS=${BACKENDS:-fs postgres}
PG_ADMIN=${PG_ADMIN:-host=127.0.0.1 port=5432 user=postgres dbname=postgres}
PROFILE=${PROFILE:-release}
mkdir -p "$OUT"

for tool in python3 curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

DIR=release; [ "$PROFILE" = dev ] && DIR=debug; [ "$PROFILE" = profiling ] && DIR=profiling
if [ -z "${VITRINE:-}" ]; then
  echo "== building vitrine ($PROFILE)"
  cargo build --profile "$PROFILE" --locked -p vitrine
  VITRINE=$CARGO_TARGET_DIR/$DIR/vitrine
fi
echo "== building the log_load example ($PROFILE)"
cargo build --profile "$PROFILE" --locked -p vitrine-server --example log_load
LOAD=$CARGO_TARGET_DIR/$DIR/examples/log_load

TMP=$(mktemp -d)
SERVER=
PG_DB=vitrine_bench_$$
PG_URL="$(echo "$PG_ADMIN" | sed 's/dbname=[^ ]*//') dbname=$PG_DB"
cleanup() {
  if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  case " $BACKENDS " in *" postgres "*)
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS ${PG_DB}_inproc WITH (FORCE)" >/dev/null 2>&1 || true
  esac
  rm -rf "$TMP"
}
trap cleanup EXIT

result() { grep '^RESULT' | tail -1; }
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }

# run_backend NAME [log init/serve flags]: one server, the write loads, the
# tile reads, and both verifications; results in $TMP/NAME.*.
run_backend() {
  local name=$1; shift
  local data=$TMP/$name-log
  LOG_VKEY=$("$VITRINE" log init --data "$data" --origin "bench.example/$name" "$@")
  PUB_VKEY=$("$VITRINE" key generate bench.example/publisher -o "$TMP/$name-publisher.key")
  echo "rules,release $PUB_VKEY" > "$data/authorized"
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  URL=http://127.0.0.1:$PORT

  echo "== [$name] vitrine log serve on $URL (batch max $BATCH_MAX, wait $BATCH_WAIT_MS ms)"
  # Room for every connection of the load (one per request in flight),
  # over the server's default cap of 256.
  "$VITRINE" log serve --data "$data" --addr "127.0.0.1:$PORT" "$@" \
    --batch-max "$BATCH_MAX" --batch-wait-ms "$BATCH_WAIT_MS" \
    --max-connections $((CLIENTS * INFLIGHT + 64)) 2>"$TMP/$name.serve.log" &
  SERVER=$!
  for _ in $(seq 100); do
    curl -sf "$URL/checkpoint" >/dev/null && break
    sleep 0.1
  done
  curl -sf "$URL/checkpoint" >/dev/null || { cat "$TMP/$name.serve.log" >&2; exit 1; }

  echo "== [$name] write load: $ENTRIES entries, $CLIENTS clients x $INFLIGHT in flight, dedup fraction $DEDUP"
  "$LOAD" --url "$URL" --key "$TMP/$name-publisher.key" --clients "$CLIENTS" --inflight "$INFLIGHT" \
    --entries "$ENTRIES" --dedup-fraction "$DEDUP" --acked "$TMP/$name.acked" | tee "$TMP/$name.write.out"

  echo "== [$name] write load, closed loop: 10000 entries, $CLIENTS clients x 1 in flight"
  "$LOAD" --url "$URL" --key "$TMP/$name-publisher.key" --clients "$CLIENTS" --inflight 1 \
    --entries 10000 --acked "$TMP/$name.acked" | tee "$TMP/$name.write1.out"

  echo "== [$name] tile reads: $READ_SECS s, 16 clients x 4 in flight"
  "$LOAD" --url "$URL" --read-tiles "$READ_SECS" --clients 16 --inflight 4 | tee "$TMP/$name.read.out"

  echo "== [$name] verify: vitrine log verify and every acknowledged index"
  "$VITRINE" log verify "$URL" --log-key "$LOG_VKEY" --authorized "$data/authorized" | tee "$TMP/$name.verify.out"
  "$LOAD" --check --url "$URL" --log-key "$LOG_VKEY" --acked "$TMP/$name.acked" | tee "$TMP/$name.check.out"

  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
}

for backend in $BACKENDS; do
  case $backend in
    fs) run_backend fs ;;
    postgres)
      psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB" >/dev/null
      run_backend postgres --postgres "$PG_URL" ;;
    *) echo "BACKENDS: unknown backend $backend (want fs, postgres)" >&2; exit 2 ;;
  esac
done

echo "== in process, no HTTP: memory storage, the data-directory storage, PostgreSQL"
"$LOAD" --inproc mem --clients "$CLIENTS" --inflight "$INFLIGHT" --entries "$ENTRIES" \
  --batch-max "$BATCH_MAX" --batch-wait-ms "$BATCH_WAIT_MS" | tee "$TMP/mem.out"
"$LOAD" --inproc fs --data "$TMP/inproc" --clients "$CLIENTS" --inflight "$INFLIGHT" --entries "$ENTRIES" \
  --batch-max "$BATCH_MAX" --batch-wait-ms "$BATCH_WAIT_MS" | tee "$TMP/inproc-fs.out"
case " $BACKENDS " in *" postgres "*)
  psql "$PG_ADMIN" -qc "CREATE DATABASE ${PG_DB}_inproc" >/dev/null
  "$LOAD" --inproc pg --postgres "$(echo "$PG_URL" | sed "s/dbname=$PG_DB/dbname=${PG_DB}_inproc/")" \
    --clients "$CLIENTS" --inflight "$INFLIGHT" --entries "$ENTRIES" \
    --batch-max "$BATCH_MAX" --batch-wait-ms "$BATCH_WAIT_MS" | tee "$TMP/inproc-pg.out"
esac

row() { # label file
  local r; r=$(result < "$2")
  echo "| $1 | $(echo "$r" | field eps) | $(echo "$r" | field p50_ms) ms | $(echo "$r" | field p99_ms) ms | $(echo "$r" | field max_ms) ms |"
}
{
  echo "# Log benchmark"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), $(uname -sr), $PROFILE build."
  echo "\`vitrine log serve\` on loopback, data directory in $(df -P "$TMP" | awk 'NR==2{print $1}'),"
  echo "PostgreSQL $(psql "$PG_ADMIN" -Atc 'SHOW server_version' 2>/dev/null || echo '(not run)') on the same machine;"
  echo "batch max $BATCH_MAX entries / $BATCH_WAIT_MS ms; load generator on the same cores."
  echo
  echo "| run | entries/s | p50 | p99 | max |"
  echo "|---|---|---|---|---|"
  for b in $BACKENDS; do
    row "$b: /add, $CLIENTS clients x $INFLIGHT in flight, $ENTRIES entries, $DEDUP resubmitted" "$TMP/$b.write.out"
    row "$b: /add, $CLIENTS clients x 1 in flight, 10000 entries" "$TMP/$b.write1.out"
  done
  row "in process, memory storage (no HTTP, no disk)" "$TMP/mem.out"
  row "in process, data-directory storage (no HTTP)" "$TMP/inproc-fs.out"
  [ -f "$TMP/inproc-pg.out" ] && row "in process, PostgreSQL (no HTTP)" "$TMP/inproc-pg.out"
  echo
  for b in $BACKENDS; do
    R=$(result < "$TMP/$b.read.out")
    echo "Tile reads, $b (16 clients x 4 in flight, random tiles, bundles and /checkpoint): **$(echo "$R" | field rps) reads/s**, p50 $(echo "$R" | field p50_ms) ms, p99 $(echo "$R" | field p99_ms) ms."
    echo
  done
  echo "Anchors: Tessera POSIX ~10,000 entries/s on NVMe (~2,900/s on a disk); Sunlight batch sequencing 41 ms p50."
  echo "Target here: 50,000 entries/s, p99 under 1 s."
  echo
  echo "Where the time goes (in process):"
  echo
  echo '```'
  grep -v '^RESULT' "$TMP/mem.out" | head -1
  grep -v '^RESULT' "$TMP/inproc-fs.out"
  [ -f "$TMP/inproc-pg.out" ] && grep -v '^RESULT' "$TMP/inproc-pg.out" | tail -n +2
  echo '```'
  echo
  for b in $BACKENDS; do
    echo "Verification, $b: $(cat "$TMP/$b.verify.out")"
    echo "$(grep -v '^RESULT' "$TMP/$b.check.out")"
    echo
  done
} > "$OUT/log-results.md"
echo "== wrote $OUT/log-results.md"
cat "$OUT/log-results.md"
