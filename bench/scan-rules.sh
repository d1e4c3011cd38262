#!/usr/bin/env bash
# Real rule sets: `yr` (yara-x's CLI), `yara` (C) and `vitrine scan` on the
# same rules and tree in one run, wall time, throughput and peak RSS (GNU
# time), page cache warm, 2 threads. Rows: the Elastic and ReversingLabs
# rules in corpora/, the built-in starter rules, one literal string.
# Every tool walks the whole tree (`yr scan -r`: without it `yr` scans
# only the files directly in TREE). Vitrine cold (no caches: rules
# compiled, every file read), rules cached (compiled rules from
# STATE/rules-cache, every file read) and warm (both caches: a rescan of
# the unchanged tree). The last column is each row's speed against `yr`'s
# in the same run (rules cached: against `yr scan -C` with rules compiled
# by `yr compile`); for a rescan, against vitrine's own cold first scan.
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
SETS=${SETS:-elastic reversinglabs starter literal}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in yr yara /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 2; }
done
cat $(find "$TREE" -type f 2>/dev/null) > /dev/null 2>&1 || true
tree_mib=$(( $(find "$TREE" -type f -printf '%s\n' 2>/dev/null | awk '{s+=$1} END {print s}') / 1048576 ))

mkdir -p "$work/starter" "$work/literal"
cp "$ROOT"/crates/vitrine-scan/rules/*.yar "$work/starter/"
printf 'rule Literal { strings: $a = "vitrine-bench-literal-string" condition: $a }\n' > "$work/literal/literal.yar"

# measure NAME BASE CMD...: prints "| NAME | wall_s | MiB/s | peak_MiB | BASE/wall x |"
# and leaves the wall time in $wall.
measure() {
  local name=$1 base=$2; shift 2
  /usr/bin/time -f "%e %M" -o "$work/t" "$@" > /dev/null 2> "$work/err" || true
  read -r wall kb < <(tail -1 "$work/t")
  local ratio=1.00
  [ "$base" = - ] || ratio=$(awk -v b="$base" -v w="$wall" 'BEGIN { printf "%.2f", b / (w > 0 ? w : 0.005) }')
  printf '| %s | %s | %s | %d | %s× |\n' "$name" "$wall" \
    "$(awk -v m="$tree_mib" -v w="$wall" 'BEGIN { printf "%.0f", m / (w > 0 ? w : 0.005) }')" \
    $((kb / 1024)) "$ratio"
}

echo "tree: $TREE ($tree_mib MiB, $(find "$TREE" -type f | wc -l) files), $THREADS threads"
echo "yr: $(yr --version 2>&1 | head -1); yara: $(yara --version)"
echo
echo "| rules / tool | wall s | MiB/s | peak RSS MiB | speed |"
echo "|---|---:|---:|---:|---:|"
for set in $SETS; do
  case $set in
    elastic) dir=$ROOT/corpora/elastic-yara/rules ;;
    reversinglabs) dir=$ROOT/corpora/reversinglabs-yara ;;
    *) dir=$work/$set ;;
  esac
  measure "$set: yr scan -r" - yr scan -r -p "$THREADS" "$dir" "$TREE"
  yr_wall=$wall
  # yr with the rules compiled beforehand (`yr compile`, then `-C`): the
  # reference for vitrine with its compiled rules cached.
  yr compile -o "$work/$set.yarc" "$dir" > /dev/null 2>&1
  measure "$set: yr scan -r -C (compiled rules)" - yr scan -r -C -p "$THREADS" "$work/$set.yarc" "$TREE"
  yrc_wall=$wall
  # yara cannot compile the Elastic set.
  if [ "$set" != elastic ]; then
    mapfile -t files < <(find "$dir" -name '*.yar' -o -name '*.yara' | sort)
    measure "$set: yara -r" "$yr_wall" yara -r -p "$THREADS" "${files[@]}" "$TREE"
  fi
  state=$work/state-$set
  measure "$set: vitrine cold" "$yr_wall" "$VITRINE" scan --threads "$THREADS" --state "$state" --no-cache --no-rules-cache --rules "$dir" "$TREE"
  cold=$wall
  "$VITRINE" scan --threads "$THREADS" --state "$state" --rules "$dir" "$TREE" > /dev/null 2>&1 || true
  measure "$set: vitrine, rules cached (vs yr -C)" "$yrc_wall" "$VITRINE" scan --threads "$THREADS" --state "$state" --no-cache --rules "$dir" "$TREE"
  measure "$set: vitrine warm (rescan; vs cold)" "$cold" "$VITRINE" scan --threads "$THREADS" --state "$state" --rules "$dir" "$TREE"
done
