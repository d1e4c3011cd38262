#!/usr/bin/env bash
# Scanner benchmark: vitrine scan against Debian's `yara` (C) with the same
# rules on the same deterministic corpus, plus peak memory with a million
# SHA-256 signatures loaded.
#
#   bench/scan.sh            # builds the corpus (>= 1 GiB) once, then measures
#   CORPUS_MB=2048 bench/scan.sh
#   VITRINE=path/to/release/vitrine bench/scan.sh   # reuse a build
#
# Needs: yara (apt-get install yara), GNU time (apt-get install time), python3.
# Writes bench/out/scan-results.md; copy the table into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
CORPUS=$ROOT/bench/corpus
CORPUS_MB=${CORPUS_MB:-1100}
RUNS=${RUNS:-3}
THREADS=${THREADS:-$(nproc)}
mkdir -p "$OUT"

for tool in yara /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install yara time python3" >&2; exit 1; }
done

if [ -z "${VITRINE:-}" ]; then
  echo "== building vitrine (release)"
  cargo build --release --locked -p vitrine >/dev/null
  VITRINE=$ROOT/target/release/vitrine
fi

echo "== corpus ($CORPUS_MB MiB) in $CORPUS"
python3 "$ROOT/bench/make_corpus.py" "$CORPUS" "$CORPUS_MB" "$OUT"

RULES=$ROOT/crates/vitrine-scan/rules
cat "$RULES/eicar.yar" "$RULES/families.yar" > "$OUT/rules.yar"

# Warm the page cache so both tools read from memory: this measures
# matching, not the disk.
cat $(find "$CORPUS" -type f) > /dev/null 2>&1 || true

. "$ROOT/bench/lib.sh"

BYTES=$(du -sb "$CORPUS" | cut -f1)
FILES=$(find "$CORPUS" -type f | wc -l)
echo "== scanning $FILES files, $BYTES bytes, $THREADS threads, median of $RUNS"
R_V=$(measure vitrine "$VITRINE" scan --threads "$THREADS" --no-progress --rules "$OUT/rules.yar" --max-filesize 2G "$CORPUS")
R_Y=$(measure yara yara -r -p "$THREADS" "$OUT/rules.yar" "$CORPUS")
R_H=$(measure vitrine_hashes "$VITRINE" scan --threads "$THREADS" --no-progress --rules "$OUT/rules.yar" --hashes "$OUT/planted.hdb" --max-filesize 2G "$CORPUS")

# Both tools must find the same planted files.
V_FOUND=$(grep -c 'FOUND$' "$OUT/stdout.vitrine" || true)
Y_FOUND=$(wc -l < "$OUT/stdout.yara")
H_FOUND=$(grep -c 'Vitrine.Bench.Planted' "$OUT/stdout.vitrine_hashes" || true)
echo "detections: vitrine $V_FOUND, yara $Y_FOUND, planted hash hits $H_FOUND (expected $(wc -l < "$OUT/planted.hdb"))"

echo "== memory with 1,000,000 SHA-256 signatures"
python3 - "$OUT/million.hsb" <<'PY'
import hashlib, sys
with open(sys.argv[1], "w") as f:
    for i in range(1_000_000):
        h = hashlib.sha256(b"vitrine-bench-%d" % i).hexdigest()
        f.write(f"{h}:{1000 + i % 5000}:Bench.Sig.{i}\n")
PY
mkdir -p "$OUT/tiny" && echo hello > "$OUT/tiny/a.txt"
R_M0=$(measure rss_base "$VITRINE" scan --no-progress --rules "$OUT/rules.yar" "$OUT/tiny")
R_M1=$(measure rss_million "$VITRINE" scan --no-progress --rules "$OUT/rules.yar" --hashes "$OUT/million.hsb" "$OUT/tiny")

python3 - "$BYTES" "$FILES" "$THREADS" "$R_V" "$R_Y" "$R_H" "$R_M0" "$R_M1" <<'PY' | tee "$OUT/scan-results.md"
import sys, platform, subprocess, datetime
b, files, threads = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rows = [r.split() for r in sys.argv[4:]]
d = {r[0]: (float(r[1]), int(r[2])) for r in rows}
mib = b / 2**20
cpu = subprocess.run("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2", shell=True, capture_output=True, text=True).stdout.strip()
print(f"Date: {datetime.date.today()}  Machine: {cpu}, {threads} threads used, {platform.system()} {platform.release()}")
print(f"Corpus: {files} files, {mib:.0f} MiB (page cache warm)\n")
print("| tool | wall s | MiB/s | peak RSS MiB |")
print("|---|---:|---:|---:|")
for k, label in [("vitrine", "vitrine scan (YARA rules)"), ("yara", "yara 4 (C), same rules"), ("vitrine_hashes", "vitrine scan (YARA + planted .hdb)")]:
    t, m = d[k]
    print(f"| {label} | {t:.2f} | {mib / max(t, 1e-9):.0f} | {m / 1024:.0f} |")
vt, yt = d["vitrine"][0], d["yara"][0]
print(f"\nThroughput ratio vitrine / yara: {yt / max(vt, 1e-9):.2f}x (above 1 means vitrine is faster)")
print(f"Peak RSS ratio vitrine / yara: {d['vitrine'][1] / max(d['yara'][1], 1):.2f}")
print(f"\nPeak RSS with 1,000,000 SHA-256 signatures loaded: {d['rss_million'][1] / 1024:.0f} MiB "
      f"(without: {d['rss_base'][1] / 1024:.0f} MiB; load + tiny scan {d['rss_million'][0]:.2f} s)")
PY
