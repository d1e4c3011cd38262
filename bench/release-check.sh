#!/usr/bin/env bash
# Logs a vitrine binary as a release in a throwaway log with one witness,
# then checks what `vitrine release verify` says of it and of its
# variations, using that very binary as the tool:
#
#   bench/release-check.sh BINARY      (e.g. the one bench/repro.sh built)
#
# Expected, and checked (exit 1 on any surprise):
#   - the logged binary before any review: NOT ENOUGH REVIEWS (exit 1)
#   - after a reviewer's logged approval: LOGGED RELEASE (exit 0), also
#     as `release verify --running` of the binary itself
#   - the same binary with one byte changed: NOT A LOGGED RELEASE
#   - a file never logged: NOT A LOGGED RELEASE
#   - a second logged artifact nobody reviewed: NOT ENOUGH REVIEWS
set -euo pipefail
BIN=$(realpath "${1:?usage: bench/release-check.sh BINARY}")
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$W"' EXIT
cd "$W"
v() { "$BIN" "$@"; }

# Starts `vitrine ARGS` in the background; sets URL to the URL it
# announces on standard error.
serve() {
  local log=$1; shift
  "$BIN" "$@" >/dev/null 2>"$log" &
  PIDS+=($!)
  for _ in $(seq 100); do
    URL=$(grep -Eo 'http://127\.0\.0\.1:[0-9]+' "$log" | head -1 || true)
    if [ -n "$URL" ]; then return; fi
    sleep 0.1
  done
  echo "no URL from $*: $(cat "$log")" >&2
  exit 1
}

v key generate publisher.example/p -o p.key >/dev/null
v key generate reviewer.example/r -o r.key >/dev/null
v log init --data log --origin log.example/releases >/dev/null
printf 'rules,release %s\nreview %s\n' "$(v key show p.key)" "$(v key show r.key)" > log/authorized
v witness init --data w1 --name witness.example/w1 >/dev/null
v witness add-log --data w1 "$(v key show log/log.key)" >/dev/null
serve w1.err witness serve --data w1 --addr 127.0.0.1:0
W1=$URL
printf 'witness w1 %s %s\nquorum w1\n' "$(v key show w1/witness.key)" "$W1" > witnesses
serve log.err log serve --data log --addr 127.0.0.1:0 --batch-wait-ms 10 --witnesses witnesses
LOG=$URL
v trust init -o policy --log-key "$(v key show log/log.key)" --log-url "$LOG" \
  --witness w1 "$(v key show w1/witness.key)" --quorum 1 \
  --publisher "$(v key show p.key)" --max-age 600 \
  --reviewer "$(v key show r.key)" --require-reviews 1 >/dev/null

head -c 4096 /dev/urandom > package.deb
git -C "$REPO" archive --format=tar HEAD > source.tar
v release publish --version 0.0.0-check --commit "$(git -C "$REPO" rev-parse HEAD)" \
  --artifact "x86_64-unknown-linux-gnu=$BIN" --artifact x86_64-unknown-linux-gnu.deb=package.deb \
  --source-archive source.tar --lockfile "$REPO/Cargo.lock" --recipe "$REPO/bench/repro.sh" \
  --key p.key --policy policy

fail=0
expect() { # EXIT_CODE TEXT -- COMMAND...
  local code=$1 text=$2; shift 3
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  if [ "$rc" = "$code" ] && grep -q "$text" <<<"$out"; then
    echo "ok: $text"
  else
    echo "UNEXPECTED (exit $rc, wanted $code and \"$text\"):"; echo "$out"; fail=1
  fi
}
expect 1 "NOT ENOUGH REVIEWS" -- v release verify "$BIN" --policy policy
echo "Rebuilt from the same commit: same SHA-256." > report.md
v review sign --key r.key --subject "$BIN" --verdict approve --report report.md -o bin.review >/dev/null
v review submit bin.review --report report.md --key r.key --policy policy >/dev/null
expect 0 "LOGGED RELEASE" -- v release verify "$BIN" --policy policy
expect 0 "LOGGED RELEASE" -- v release verify --running --policy policy
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[4096] ^= 1; open("changed", "wb").write(b)' "$BIN"
expect 1 "NOT A LOGGED RELEASE" -- v release verify changed --policy policy
expect 1 "NOT A LOGGED RELEASE" -- v release verify source.tar --policy policy
expect 1 "NOT ENOUGH REVIEWS" -- v release verify package.deb --policy policy
exit $fail
