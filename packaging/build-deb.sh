#!/usr/bin/env bash
# Builds the Debian package: release binary (stripped), man pages and bash
# completions generated from it, the systemd unit. Needs cargo-deb
# (`cargo install --locked cargo-deb`). Prints the .deb's path.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked -p vitrine
bin="$target/release/vitrine"
rm -rf packaging/out && mkdir -p packaging/out
"$bin" man --out packaging/out/man 2>/dev/null
"$bin" completions bash > packaging/out/vitrine.bash
cargo deb --locked -p vitrine --no-build --no-strip
