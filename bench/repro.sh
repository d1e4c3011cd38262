#!/usr/bin/env bash
# Reproducible build check: builds the release `vitrine` binary twice from
# clean clones of one commit, in two different directories with different
# CARGO_HOME and CARGO_TARGET_DIR (and HOME, USER), at two different times,
# and compares the SHA-256 of the two binaries. Exit 0 if they are the same
# bytes, 1 if not.
#
#   bench/repro.sh [COMMIT]          (default: HEAD of this checkout)
#   REPRO_USER=builder bench/repro.sh   second build as another Unix user
#                                       (who must be able to run cargo)
#   REPRO_EXPECT=SHA256 bench/repro.sh  one build only, compared with the
#                                       SHA-256 an earlier run printed
#
# What makes the bytes depend only on the commit (docs/review.md,
# "Reproducible builds"): the toolchain pinned by rust-toolchain.toml and
# the dependencies by Cargo.lock (--locked, --offline: both builds read the
# same crates, copied from this machine's registry cache); source, registry
# and target paths remapped (--remap-path-prefix for rustc, which Cargo
# keeps out of -C metadata, and -ffile-prefix-map for C code built by the
# cc crate); SOURCE_DATE_EPOCH set to the commit's time; symbols stripped
# (profile.release strip = "symbols"); TZ and locale fixed.
#
# Two cold release builds take about 2 x 13 minutes on a 2-core machine:
# this is not part of .ci/run.
set -euo pipefail
# A failing build inside $(build ...) must stop the script too.
shopt -s inherit_errexit
REPO=$(cd "$(dirname "$0")/.." && pwd)
COMMIT=$(git -C "$REPO" rev-parse "${1:-HEAD}")
WORK=$(mktemp -d)
# KEEP=1 keeps both trees (to compare the binaries after a mismatch).
[ -n "${KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
REGISTRY=${CARGO_HOME:-$HOME/.cargo}/registry

build() { # NAME SRC_DIR [USER]
  local name=$1 src=$2 user=${3:-}
  local base
  base=$(dirname "$src")
  mkdir -p "$base"
  git clone -q --no-hardlinks "$REPO" "$src"
  git -C "$src" checkout -q "$COMMIT"
  local home="$base/home" cargo_home="$base/cargo-home" target="$base/target"
  mkdir -p "$home" "$cargo_home/registry"
  # The same crates for both builds, without the network: the index and
  # the downloaded .crate files (unpacked sources are rebuilt per home).
  cp -r "$REGISTRY/index" "$REGISTRY/cache" "$cargo_home/registry/"
  local maps="--remap-path-prefix=$src=/vitrine --remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$target=/target"
  local cmaps="-ffile-prefix-map=$src=/vitrine -ffile-prefix-map=$cargo_home=/cargo -ffile-prefix-map=$target=/target"
  local epoch
  epoch=$(git -C "$src" log -1 --format=%ct)
  local run=()
  if [ -n "$user" ]; then
    # The other user needs to reach its tree inside our temporary directory.
    chmod o+x "$WORK"
    chown -R "$user" "$base"
    run=(runuser -u "$user" --)
  fi
  local start=$SECONDS
  (
    cd "$src"
    env HOME="$home" USER="${user:-$name}" LOGNAME="${user:-$name}" \
      CARGO_HOME="$cargo_home" CARGO_TARGET_DIR="$target" \
      RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" PATH="$PATH" \
      SOURCE_DATE_EPOCH="$epoch" TZ=UTC LC_ALL=C \
      RUSTFLAGS="$maps" CFLAGS="$cmaps" CXXFLAGS="$cmaps" \
      "${run[@]}" cargo build --release --locked --offline --bin vitrine -q
  )
  echo "$name: built in $((SECONDS - start)) s in $src" >&2
  sha256sum "$target/release/vitrine" | cut -d' ' -f1
}

echo "commit $COMMIT; toolchain $(cd "$REPO" && rustc --version)" >&2
if [ -n "${REPRO_EXPECT:-}" ]; then
  a=$REPRO_EXPECT
else
  a=$(build one "$WORK/one/vitrine")
fi
b=$(build two "$WORK/two/elsewhere/src" "${REPRO_USER:-}")
echo "one: $a"
echo "two: $b"
if [ "$a" = "$b" ]; then
  echo "REPRODUCIBLE: the same bytes from two directories, homes and target directories"
else
  echo "NOT REPRODUCIBLE: the binaries differ (compare them with diffoscope)"
  exit 1
fi
