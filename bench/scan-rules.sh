#!/usr/bin/env bash
# Real rule sets: `yr` (yara-x's CLI), `yara` (C) and `vitrine scan` on the
# same rules and tree in one run, wall time and peak RSS (GNU time), page
# cache warm, 2 threads. Rows: the Elastic rules in corpora/, the built-in
# starter rules, one literal string. Vitrine cold (no caches: rules
# compiled, every file read), rules cached (compiled rules from
# STATE/rules-cache, every file read) and warm (both caches: a rescan).
#
#   VITRINE=path/to/release/vitrine TREE=/usr/lib/x86_64-linux-gnu bench/scan-rules.sh
#
# Needs: yr (cargo install --locked yara-x-cli), yara, GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TREE=${TREE:-/usr/lib/x86_64-linux-gnu}
VITRINE=${VITRINE:-$ROOT/target/release/vitrine}
THREADS=${THREADS:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in yr yara /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 2; }
done
cat $(find "$TREE" -type f 2>/dev/null) > /dev/null 2>&1 || true

mkdir -p "$work/starter" "$work/literal"
cp "$ROOT"/crates/vitrine-scan/rules/*.yar "$work/starter/"
printf 'rule Literal { strings: $a = "vitrine-bench-literal-string" condition: $a }\n' > "$work/literal/literal.yar"

# measure NAME CMD...: prints "NAME  wall_s  peak_MiB"
measure() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/t" "$@" > /dev/null 2> "$work/err" || true
  read -r wall kb < <(tail -1 "$work/t")
  printf '| %s | %s | %d |\n' "$name" "$wall" $((kb / 1024))
}

echo "tree: $TREE ($(du -sh "$TREE" 2>/dev/null | cut -f1), $(find "$TREE" -type f | wc -l) files), $THREADS threads"
echo "yr: $(yr --version 2>&1 | head -1); yara: $(yara --version)"
echo
echo "| rules / tool | wall s | peak RSS MiB |"
echo "|---|---:|---:|"
for set in elastic starter literal; do
  case $set in
    elastic) dir=$ROOT/corpora/elastic-yara/rules ;;
    *) dir=$work/$set ;;
  esac
  measure "$set: yr scan" yr scan -p "$THREADS" "$dir" "$TREE"
  if [ "$set" != elastic ]; then
    measure "$set: yara -r" yara -r -p "$THREADS" "$dir"/*.yar "$TREE"
  fi
  state=$work/state-$set
  measure "$set: vitrine cold" "$VITRINE" scan --threads "$THREADS" --state "$state" --no-cache --no-rules-cache --rules "$dir" "$TREE"
  "$VITRINE" scan --threads "$THREADS" --state "$state" --rules "$dir" "$TREE" > /dev/null 2>&1 || true
  measure "$set: vitrine, rules cached" "$VITRINE" scan --threads "$THREADS" --state "$state" --no-cache --rules "$dir" "$TREE"
  measure "$set: vitrine warm (rescan)" "$VITRINE" scan --threads "$THREADS" --state "$state" --rules "$dir" "$TREE"
done
