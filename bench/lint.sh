#!/usr/bin/env bash
# Lint throughput (static part): the release build of the vitrine-lint
# example `lint_paths` (the library without the yara-x binary) over the
# public Elastic rule set (3,021 rules), both public sets (4,225 rules) and
# the Elastic set twice in one process (6,042 rules, the issue's 6,000-rule
# target: under 2 s). Median wall time of RUNS (default 5), peak RSS.
#
#   bench/lint.sh
#   RUNS=9 bench/lint.sh
#
# Then the canary scan (crate vitrine-canary): compile the same sets with
# yara-x and scan one seeded corpus, with the example `canary_scan` in the
# dev profile (the workspace builds dependencies, yara-x among them, at
# opt-level 2; a release build of yara-x takes too long on this machine).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
. bench/lib.sh

cargo build --release --locked -q -p vitrine-lint --example lint_paths
BIN=${CARGO_TARGET_DIR:-target}/release/examples/lint_paths
E=corpora/elastic-yara
R=corpora/reversinglabs-yara

rules() { grep -Eh ': [0-9]+ rules, ' "$OUT/stdout.$1" | awk '{s += $2} END {print s}'; }

printf '%-22s %8s %8s %10s %10s\n' set rules wall_s rules/s peak_MiB
for run in "elastic:$E" "both:$E $R" "elastic_x2:$E $E"; do
  name=${run%%:*}
  # shellcheck disable=SC2086
  read -r _ t kib < <(measure "$name" "$BIN" ${run#*:})
  n=$(rules "$name")
  printf '%-22s %8d %8.2f %10.0f %10.1f\n' "$name" "$n" "$t" "$(echo "$n / $t" | bc -l)" "$(echo "$kib / 1024" | bc -l)"
done

cargo build --locked -q -p vitrine-canary --example canary_scan
CANARY=${CARGO_TARGET_DIR:-target}/debug/examples/canary_scan
printf '\n%-22s %8s %8s %10s\n' canary_scan files wall_s peak_MiB
for run in "elastic:$E" "elastic_x2:$E $E"; do
  name=canary_${run%%:*}
  # shellcheck disable=SC2086
  read -r _ t kib < <(measure "$name" "$CANARY" ${run#*:})
  n=$(grep -Eo '^[0-9]+ files' "$OUT/stdout.$name" | cut -d' ' -f1)
  printf '%-22s %8d %8.2f %10.1f\n' "$name" "$n" "$t" "$(echo "$kib / 1024" | bc -l)"
  tail -n1 "$OUT/stdout.$name"
done
