#!/usr/bin/env bash
# vitrine daemon against clamd (Debian's clamav-daemon), same signatures:
# one MD5 hash signature and one simple YARA rule (no import), both for the
# EICAR file. INSTREAM throughput and p50/p99 latency for small (1 KiB) and
# large (10 MiB) payloads at 1 and 8 clients, peak RSS of each daemon, and
# the time to open and read 10,000 small files with and without Vitrine's
# on-access scanning (blocking fanotify; needs root).
# Usage: bench/daemon.sh [VITRINE_BINARY]   (default: a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-}"
if [ -z "$bin" ]; then
  cargo build --release --locked -p vitrine >&2
  bin="${CARGO_TARGET_DIR:-target}/release/vitrine"
fi
command -v clamd >/dev/null || { echo "needs clamd (apt-get install clamav-daemon)" >&2; exit 2; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
eicar_hex=$(python3 -c 'print((b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").hex())')
python3 -c "import sys,hashlib; e=bytes.fromhex('$eicar_hex'); print(f'{hashlib.md5(e).hexdigest()}:{len(e)}:Bench.EICAR.MD5')" > "$work/eicar.hdb"
cat > "$work/eicar.yar" <<'YAR'
rule Bench_EICAR { strings: $a = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" condition: $a }
YAR
mkdir -p "$work/db" && cp "$work/eicar.hdb" "$work/eicar.yar" "$work/db/"
cat > "$work/clamd.conf" <<CONF
LocalSocket $work/clamd.sock
DatabaseDirectory $work/db
Foreground yes
MaxThreads 10
StreamMaxLength 100M
LogFile $work/clamd.log
CONF

wait_sock() { for _ in $(seq 300); do [ -S "$1" ] && python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])" "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "no socket $1" >&2; return 1; }
rss() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

clamd --config-file="$work/clamd.conf" >/dev/null 2>&1 & clamd_pid=$!
"$bin" daemon --socket "$work/vitrine.sock" --state "$work/state" \
  --rules "$work/eicar.yar" --hashes "$work/eicar.hdb" 2>/dev/null & vitrine_pid=$!
wait_sock "$work/clamd.sock"; wait_sock "$work/vitrine.sock"

echo "# INSTREAM ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores)"
printf '%-8s %-6s %-8s %12s %12s %10s %10s\n' daemon size clients req/s MB/s p50_ms p99_ms
for spec in "1024 1 2000" "1024 8 4000" "10485760 1 30" "10485760 8 64"; do
  set -- $spec
  for d in clamd vitrine; do
    out=$(python3 bench/clamd_load.py "$work/$d.sock" "$1" "$2" "$3" "$eicar_hex")
    python3 - "$d" "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[2])
size = "1KiB" if r["size"] == 1024 else "10MiB"
print(f'{sys.argv[1]:<8} {size:<6} {r["clients"]:<8} {r["req_per_s"]:>12} {r["mb_per_s"]:>12} {r["p50_ms"]:>10} {r["p99_ms"]:>10}')
PY
  done
  echo "#   peak RSS so far (VmHWM): clamd $(rss $clamd_pid) kB, vitrine $(rss $vitrine_pid) kB"
done
echo "# peak RSS (VmHWM): clamd $(rss $clamd_pid) kB, vitrine $(rss $vitrine_pid) kB"
kill $clamd_pid $vitrine_pid; wait $clamd_pid $vitrine_pid 2>/dev/null || true

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$work/files"
  python3 -c "
import os,sys
for i in range(10000):
    open(os.path.join(sys.argv[1], f'f{i}.txt'),'wb').write(b'benign %d\n' % i * 20)" "$work/files"
  readall() { python3 -c "
import os,sys,time
t=time.perf_counter()
for n in os.listdir(sys.argv[1]):
    open(os.path.join(sys.argv[1],n),'rb').read()
print(round(time.perf_counter()-t,3))" "$work/files"; }
  # The same 10,000 files opened by 4 processes at once (2,500 each).
  readpar() { python3 -c "
import os,sys,time
from multiprocessing import Pool
def work(names):
    for n in names:
        open(os.path.join(sys.argv[1],n),'rb').read()
names=sorted(os.listdir(sys.argv[1]))
t=time.perf_counter()
with Pool(4) as p: p.map(work,[names[i::4] for i in range(4)])
print(round(time.perf_counter()-t,3))" "$work/files"; }
  base=$(readall); base2=$(readall); pbase=$(readpar)
  # Default threads (cores, 2 to 8), then one thread as before the pool.
  for threads in default 1; do
    extra=(); [ "$threads" = default ] || extra=(--on-access-threads "$threads")
    rm -f "$work/oa.sock"
    "$bin" daemon --socket "$work/oa.sock" --state "$work/state" --rules "$work/eicar.yar" \
      --hashes "$work/eicar.hdb" --on-access "$work/files" "${extra[@]}" 2>/dev/null & oa=$!
    wait_sock "$work/oa.sock"
    with=$(readall); with2=$(readall); pwith=$(readpar)
    kill $oa; wait $oa 2>/dev/null || true
    echo "# on access ($threads threads), open+read 10,000 files: without ${base}s / ${base2}s, with vitrine (block) ${with}s / ${with2}s"
    echo "# on access ($threads threads), 4 processes x 2,500 files: without ${pbase}s, with vitrine (block) ${pwith}s"
  done
  # ClamAV's own on-access scanner: clamonacc (fanotify, blocking, file
  # descriptors passed to clamd) with clamd running as clamav, whose own
  # accesses clamonacc must not intercept.
  if command -v clamonacc >/dev/null && id clamav >/dev/null 2>&1; then
    chmod 755 "$work" "$work/db" "$work/files"; chmod 644 "$work"/db/*
    mkdir -p "$work/clamrun"; chown clamav "$work/clamrun"
    cat > "$work/onacc.conf" <<CONF
LocalSocket $work/clamrun/clamd.sock
DatabaseDirectory $work/db
Foreground yes
MaxThreads 10
User clamav
LogFile $work/clamrun/clamd.log
OnAccessIncludePath $work/files
OnAccessPrevention yes
OnAccessExcludeUname clamav
CONF
    clamd --config-file="$work/onacc.conf" >/dev/null 2>&1 & oacd=$!
    wait_sock "$work/clamrun/clamd.sock"
    clamonacc --config-file="$work/onacc.conf" --fdpass --foreground --log="$work/onacc.log" >/dev/null 2>&1 & oacc=$!
    # clamonacc marks the tree a moment after it starts.
    for _ in $(seq 100); do grep -q "watching" "$work/onacc.log" 2>/dev/null && break; sleep 0.1; done
    cwith=$(readall)
    kill $oacc $oacd; wait $oacc $oacd 2>/dev/null || true
    echo "# on access, clamonacc + clamd (block, --fdpass), open+read 10,000 files: without ${base}s, with clamonacc ${cwith}s"
  fi
else
  echo "# on access: skipped (fanotify needs root)"
fi
