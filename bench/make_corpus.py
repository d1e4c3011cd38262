#!/usr/bin/env python3
"""Builds the deterministic scan-benchmark corpus.

make_corpus.py DIR SIZE_MB OUT_DIR

- real binaries and libraries copied from the system (sorted, so the same
  machine gives the same set), up to about 45% of the size;
- generated text (words from a fixed seed) and data (pseudo-random bytes);
- planted hits: EICAR files (assembled here, never stored) and files whose
  SHA-256/MD5 go into OUT_DIR/planted.hdb.

Nothing is rebuilt if DIR/.complete records the same parameters.
"""
import hashlib
import os
import random
import shutil
import sys

dest, size_mb, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stamp = os.path.join(dest, ".complete")
params = f"v2 {size_mb}\n"
planted_keep = dest.rstrip("/") + ".planted.hdb"
os.makedirs(out, exist_ok=True)
if os.path.exists(stamp) and open(stamp).read() == params and os.path.exists(planted_keep):
    shutil.copy(planted_keep, os.path.join(out, "planted.hdb"))
    print("corpus up to date")
    sys.exit(0)
shutil.rmtree(dest, ignore_errors=True)
os.makedirs(dest)
target = size_mb * 2**20
total = 0
rng = random.Random(20261127)

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def write(rel, data):
    global total
    path = os.path.join(dest, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    total += len(data)


# 1. Real executables and libraries.
bin_budget = target * 45 // 100
sources = []
for root in ["/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu", "/usr/libexec"]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            p = os.path.join(dirpath, fn)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            try:
                sz = os.path.getsize(p)
            except OSError:
                continue
            if 0 < sz <= 64 * 2**20:
                sources.append(p)
copied = 0
for i, p in enumerate(sources):
    if copied >= bin_budget:
        break
    try:
        data = open(p, "rb").read()
    except OSError:
        continue
    write(f"bin/{i // 200:03d}/{os.path.basename(p)}", data)
    copied += len(data)

# 2. Text files: words, config-like and code-like lines.
WORDS = ("the quick brown fox jumps over lazy dog transparency log witness "
         "checkpoint merkle tree signature rule bundle scanner endpoint policy "
         "function return value error config server client request response").split()
n = 0
while total < target * 75 // 100:
    lines = []
    for _ in range(rng.randint(200, 4000)):
        lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))))
    write(f"text/{n // 500:03d}/doc{n}.txt", ("\n".join(lines) + "\n").encode())
    n += 1

# 3. Data files: pseudo-random bytes of varied sizes.
n = 0
while total < target:
    sz = rng.choice([4096, 65536, 1 << 20, 4 << 20, 16 << 20])
    write(f"data/{n // 200:03d}/blob{n}.bin", rng.randbytes(sz))
    n += 1

# 4. Planted hits.
for i in range(10):
    write(f"text/{i:03d}/eicar{i}.com", EICAR)
planted = []
for i in range(10):
    data = rng.randbytes(1000 + i * 777)
    write(f"data/{i:03d}/planted{i}.bin", data)
    h = hashlib.sha256(data).hexdigest() if i % 2 else hashlib.md5(data).hexdigest()
    planted.append(f"{h}:{len(data)}:Vitrine.Bench.Planted.{i}\n")
with open(planted_keep, "w") as f:
    f.writelines(planted)
shutil.copy(planted_keep, os.path.join(out, "planted.hdb"))

with open(stamp, "w") as f:
    f.write(params)
print(f"corpus: {total / 2**20:.0f} MiB written")
