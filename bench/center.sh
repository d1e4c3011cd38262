#!/usr/bin/env bash
# The transparency center's pages with a big history: a rules log of 1,000
# bundle versions and a custody log of 100,000 statements, both real logs
# on 127.0.0.1, verified and indexed by the center's monitors; then every
# kind of page is fetched ROUNDS times and the server's own time for it
# (its Server-Timing header) is reported. Target: every page under 200 ms.
#
#   bench/center.sh                      # 1000 versions, 100000 statements, 20 rounds
#   VERSIONS=300 STATEMENTS=20000 bench/center.sh
#   PROFILE=dev bench/center.sh          # without a release build (slower pages)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSIONS=${VERSIONS:-1000}
STATEMENTS=${STATEMENTS:-100000}
ROUNDS=${ROUNDS:-20}
PROFILE=${PROFILE:-release}
OUT=${OUT:-$(mktemp -d)}
echo "== building the benchmark ($PROFILE)" >&2
# --workspace: the same features as every other build, so a warm target
# directory is reused (-p alone would build yara-x again).
cargo build --locked --profile "$PROFILE" --workspace --example center_bench >&2
dir=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
bin="${CARGO_TARGET_DIR:-target}/$dir/examples/center_bench"
echo "== $VERSIONS bundle versions, $STATEMENTS custody statements, $ROUNDS rounds per page" >&2
"$bin" "$VERSIONS" "$STATEMENTS" "$ROUNDS" | tee "$OUT/center.ndjson"
python3 - "$OUT/center.ndjson" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
pages = [r for r in rows if "page" in r]
summary = [r for r in rows if r.get("summary")][0]
print()
print(f"{'page':62} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'KiB':>7}")
for r in pages:
    print(f"{r['page'][:62]:62} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['max_ms']:8.1f} {r['bytes']/1024:7.1f}")
verdict = "PASS" if summary["pass"] else "FAIL"
print(f"\n{verdict}: the slowest page took {summary['worst_ms']:.1f} ms (target {summary['target_ms']} ms)")
sys.exit(0 if summary["pass"] else 1)
PY
