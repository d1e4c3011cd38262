#!/usr/bin/env bash
# Monitor throughput: `vitrine audit`'s library over a long log of rule
# bundle versions (default 240; BUNDLES=N for more), each the linter's
# malware corpus (31 rules) with one rule changed per version and a review
# statement between bundles. Reports bundles/s and rules/s for a cold audit
# (whole log) and for incremental passes of 10 new versions, from a log
# served from memory (the monitor's own work: tree verification, Ed25519
# checks, bundle hashing and parsing, linting, diffs, fsynced state), then
# cold over loopback HTTP from a real vitrine-log + vitrine-server.
#
#   bench/audit.sh
#   BUNDLES=1000 bench/audit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --locked -q -p vitrine-audit --example audit_bench
