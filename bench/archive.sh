#!/usr/bin/env bash
# Scanner-depth benchmarks, each against a reference measured in the same run:
#
# 1. Rescan with the scan cache: an unchanged tree scanned a second time,
#    against the first (cold cache) scan of the same tree. Target: >= 20x.
# 2. Archives: vitrine against ClamAV's clamscan on the same generated
#    archives (zip, tar.gz, tar.bz2, tar.xz, nested zips), with the same
#    MD5 hash signatures (.hdb) and the same YARA rule (clamscan loads
#    .yar files without `import`). Both must report the same infected
#    archives.
#
#   bench/archive.sh
#   VITRINE=path/to/release/vitrine bench/archive.sh
#
# Needs: clamav (apt-get install clamav), GNU time, python3.
# Writes bench/out/archive-results.md; copy the table into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
RUNS=${RUNS:-3}
THREADS=${THREADS:-$(nproc)}
ARCHIVES=${ARCHIVES:-240}
TREE_FILES=${TREE_FILES:-20000}
mkdir -p "$OUT"

for tool in clamscan /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install clamav time python3" >&2; exit 1; }
done
if [ -z "${VITRINE:-}" ]; then
  echo "== building vitrine (release)"
  cargo build --release --locked -p vitrine >/dev/null
  VITRINE=${CARGO_TARGET_DIR:-$ROOT/target}/release/vitrine
fi

. "$ROOT/bench/lib.sh"

echo "== generating $ARCHIVES archives and a tree of $TREE_FILES files"
python3 - "$OUT/archives" "$OUT/tree" "$OUT/sigs" "$ARCHIVES" "$TREE_FILES" <<'PY'
import bz2, gzip, hashlib, io, lzma, os, random, shutil, sys, tarfile, zipfile
arch, tree, sigs, n, tree_n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
stamp = os.path.join(arch, ".complete")
params = f"v1 {n} {tree_n}\n"
if os.path.exists(stamp) and open(stamp).read() == params:
    print("up to date"); sys.exit(0)
for d in (arch, tree, sigs):
    shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
rng = random.Random(20261128)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(5000)]
POOL = b" ".join(rng.choices(words, k=1_500_000)).replace(b"e a", b"e\na")
def text(size):
    # A random slice of one pool of generated words: fast, compressible
    # like text.
    start = rng.randrange(0, len(POOL) - size)
    return POOL[start:start + size]
def binary(size):
    return rng.randbytes(size)
planted_hash = []      # (md5, size) of members found by hash
infected = []
marker = b"VITRINE-BENCH-ARCHIVE-MARKER"
for i in range(n):
    members = []
    for j in range(rng.randint(5, 20)):
        size = rng.randint(4 << 10, 256 << 10)
        members.append((f"m{j:02d}.{'txt' if j % 2 else 'bin'}", text(size) if j % 2 else binary(size)))
    kind = i % 5
    if i % 8 == 3:     # a member with the YARA marker
        members.append(("payload.bin", binary(5000) + marker + binary(5000))); infected.append(i)
    elif i % 8 == 6:   # a member known by its MD5
        data = b"planted member %d " % i + binary(20000)
        planted_hash.append((hashlib.md5(data).hexdigest(), len(data)))
        members.append(("known.bin", data)); infected.append(i)
    if kind == 0 or kind == 4:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members:
                z.writestr(name, data)
        data = buf.getvalue()
        if kind == 4:  # nested: the zip inside another zip
            outer = io.BytesIO()
            with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("readme.txt", text(2000))
                z.writestr("inner.zip", data)
            data = outer.getvalue()
        ext = "zip"
    else:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
            for name, data in members:
                ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
        raw = buf.getvalue()
        data, ext = [(gzip.compress(raw, mtime=0), "tar.gz"), (bz2.compress(raw), "tar.bz2"), (lzma.compress(raw), "tar.xz")][kind - 1]
    open(os.path.join(arch, f"a{i:04d}.{ext}"), "wb").write(data)
with open(os.path.join(sigs, "bench.hdb"), "w") as f:
    for k, (md5, size) in enumerate(planted_hash):
        f.write(f"{md5}:{size}:Vitrine.Bench.Member.{k}\n")
with open(os.path.join(sigs, "bench.yar"), "w") as f:
    f.write('rule Vitrine_Bench_Archive_Marker\n{\n    strings:\n        $m = "%s"\n    condition:\n        $m\n}\n' % marker.decode())
open(os.path.join(sigs, "expected"), "w").write("%d\n" % len(infected))
# The rescan tree: many small and some larger files.
for k in range(tree_n):
    d = os.path.join(tree, f"d{k // 500:03d}")
    os.makedirs(d, exist_ok=True)
    size = rng.choice([200, 2000, 20000, 100000]) if k % 50 else 2 << 20
    open(os.path.join(d, f"f{k:05d}"), "wb").write(text(size) if k % 3 else binary(size))
open(stamp, "w").write(params)
PY
# The cache trusts no timestamp younger than a second.
sleep 2
cat $(find "$OUT/archives" "$OUT/tree" -type f) > /dev/null 2>&1 || true

echo "== 1. rescan of an unchanged tree"
TREE_BYTES=$(du -sb "$OUT/tree" | cut -f1)
STATE=$OUT/state-rescan
FIRST=() SECOND=()
for i in $(seq "$RUNS"); do
  rm -rf "$STATE"
  s=$(date +%s.%N); "$VITRINE" scan --no-progress -j "$THREADS" --state "$STATE" "$OUT/tree" > "$OUT/stdout.first"; e=$(date +%s.%N)
  FIRST+=("$(echo "$e - $s" | bc -l)")
  s=$(date +%s.%N); "$VITRINE" scan --no-progress -j "$THREADS" --state "$STATE" "$OUT/tree" > "$OUT/stdout.second"; e=$(date +%s.%N)
  SECOND+=("$(echo "$e - $s" | bc -l)")
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
T1=$(median "${FIRST[@]}"); T2=$(median "${SECOND[@]}")
CACHED=$(sed -n 's/^Unchanged since a clean scan (cache): //p' "$OUT/stdout.second")
echo "first scan $T1 s, rescan $T2 s, $CACHED files from the cache"

echo "== 2. archives: vitrine vs clamscan"
SIGS=$OUT/sigs
EXPECTED=$(cat "$SIGS/expected")
ARCH_BYTES=$(du -sb "$OUT/archives" | cut -f1)
R_V=$(measure vitrine_arch "$VITRINE" scan --no-progress --no-cache -j "$THREADS" --rules "$SIGS/bench.yar" --hashes "$SIGS/bench.hdb" "$OUT/archives")
R_V1=$(measure vitrine_arch_1t "$VITRINE" scan --no-progress --no-cache -j 1 --rules "$SIGS/bench.yar" --hashes "$SIGS/bench.hdb" "$OUT/archives")
R_C=$(measure clamscan_arch clamscan --no-summary --infected -r -d "$SIGS" "$OUT/archives")
V_FOUND=$(grep 'FOUND$' "$OUT/stdout.vitrine_arch" | sed 's/[!:].*//' | sort -u | wc -l)
C_FOUND=$(grep -c 'FOUND$' "$OUT/stdout.clamscan_arch" || true)
echo "infected archives: vitrine $V_FOUND, clamscan $C_FOUND, expected $EXPECTED"

python3 - "$OUT/archive-results.md" "$T1" "$T2" "$CACHED" "$TREE_BYTES" "$R_V" "$R_V1" "$R_C" "$ARCH_BYTES" "$V_FOUND" "$C_FOUND" "$EXPECTED" "$THREADS" "$($VITRINE --version)" "$(clamscan --version)" <<'PY'
import sys
(out, t1, t2, cached, tree_bytes, rv, rv1, rc, arch_bytes, vf, cf, exp, threads, vv, cv) = sys.argv[1:]
t1, t2 = float(t1), float(t2)
def parse(r):
    _, t, m = r.split(); return float(t), int(m)
(vt, vm), (v1t, v1m), (ct, cm) = parse(rv), parse(rv1), parse(rc)
mb = int(arch_bytes) / 2**20
lines = [
    f"Tools: {vv}; {cv}. Median of runs; {threads} threads for vitrine unless noted (clamscan is single-threaded).",
    "",
    "| measure | vitrine | reference | ratio |",
    "|---|---|---|---|",
    f"| rescan of an unchanged tree ({int(tree_bytes) / 2**20:.0f} MiB, {cached} files from cache) | {t2:.3f} s | first scan {t1:.3f} s | **{t1 / t2:.1f}x faster** |",
    f"| archives ({mb:.0f} MiB compressed), wall time | {vt:.2f} s | clamscan {ct:.2f} s | **{ct / vt:.2f}x** |",
    f"| archives, vitrine on 1 thread | {v1t:.2f} s | clamscan {ct:.2f} s | {ct / v1t:.2f}x |",
    f"| archives, peak RSS | {vm / 1024:.0f} MiB | clamscan {cm / 1024:.0f} MiB | {vm / cm:.2f}x |",
    f"| infected archives found (expected {exp}) | {vf} | clamscan {cf} | |",
]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
