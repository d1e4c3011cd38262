#!/usr/bin/env python3
"""INSTREAM load against a clamd-protocol socket: N requests of SIZE bytes
from C concurrent clients; prints one JSON line with throughput and
latency percentiles. Every reply is checked (EICAR FOUND for infected
payloads, OK for clean ones): a wrong answer fails the run."""
import json, os, socket, struct, sys, threading, time

sock_path, size, clients, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
eicar = bytes.fromhex(sys.argv[5])
clean = (b"benign bytes, nothing to see " * (size // 29 + 1))[:size]
infected = eicar  # EICAR must be the whole file for its rules

def ask(payload):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    msg = bytearray(b"zINSTREAM\0")
    for i in range(0, len(payload), 1 << 20):
        chunk = payload[i:i + (1 << 20)]
        msg += struct.pack(">I", len(chunk)) + chunk
    msg += struct.pack(">I", 0)
    s.sendall(msg)
    out = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        out += d
    s.close()
    return out

lat, errors, lock = [], [], threading.Lock()
per = total // clients

def worker(i):
    mine = []
    for n in range(per):
        bad = (n % 10 == 0)
        t0 = time.perf_counter()
        r = ask(infected if bad else clean)
        mine.append(time.perf_counter() - t0)
        ok = r.endswith(b" FOUND\0") if bad else r == b"stream: OK\0"
        if not ok:
            with lock:
                errors.append(r[:100])
    with lock:
        lat.extend(mine)

t0 = time.perf_counter()
ts = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
[t.start() for t in ts]
[t.join() for t in ts]
wall = time.perf_counter() - t0
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
print(json.dumps({
    "size": size, "clients": clients, "requests": len(lat),
    "req_per_s": round(len(lat) / wall, 1),
    "mb_per_s": round(len(lat) * size / wall / 1e6, 1),
    "p50_ms": round(pct(0.50), 2), "p99_ms": round(pct(0.99), 2),
    "wrong_answers": len(errors),
}))
sys.exit(1 if errors else 0)
