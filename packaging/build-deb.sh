#!/usr/bin/env bash
# Builds the Debian package with dpkg-deb: the vitrine binary (a stripped
# release build, or --binary PATH, as the packaging test passes its debug
# build), man pages and bash completions generated from that binary, and
# the systemd unit. Prints the .deb's path.
#
#   packaging/build-deb.sh [--binary PATH] [--out DIR] [--compress xz|gzip|none]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="" out="packaging/out" compress="xz"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) bin="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --compress) compress="$2"; shift 2 ;;
    *) echo "usage: $0 [--binary PATH] [--out DIR] [--compress xz|gzip|none]" >&2; exit 2 ;;
  esac
done
command -v dpkg-deb >/dev/null || { echo "needs dpkg-deb (Debian package dpkg)" >&2; exit 2; }
if [ -z "$bin" ]; then
  cargo build --release --locked -p vitrine >&2
  bin="${CARGO_TARGET_DIR:-target}/release/vitrine"
fi
[ -x "$bin" ] || { echo "$bin: not an executable" >&2; exit 2; }
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/vitrine"
install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/vitrine" \
  "$root/usr/share/man/man1" "$root/usr/share/bash-completion/completions" \
  "$root/usr/share/doc/vitrine"
install -m 755 "$bin" "$root/usr/bin/vitrine"
# Installed binaries carry no symbol tables (a release build has none already).
if command -v strip >/dev/null; then strip --strip-unneeded "$root/usr/bin/vitrine"; fi
"$root/usr/bin/vitrine" man --out "$root/usr/share/man/man1" 2>/dev/null
gzip -9n "$root"/usr/share/man/man1/*.1
"$root/usr/bin/vitrine" completions bash > "$root/usr/share/bash-completion/completions/vitrine"
install -m 644 packaging/vitrine-daemon.service "$root/lib/systemd/system/vitrine-daemon.service"
# The system configuration, all comments: dpkg keeps the owner's edits on
# upgrade (a conffile).
install -m 644 packaging/vitrine.toml "$root/etc/vitrine/vitrine.toml"
echo /etc/vitrine/vitrine.toml > "$root/DEBIAN/conffiles"
printf 'Vitrine\nLicense: Apache-2.0 (/usr/share/common-licenses/Apache-2.0)\n' \
  > "$root/usr/share/doc/vitrine/copyright"
chmod 644 "$root/usr/share/doc/vitrine/copyright" "$root/usr/share/bash-completion/completions/vitrine"
# The newest glibc symbol version the binary needs.
glibc=$(objdump -T "$bin" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1 || true)
depends="libc6${glibc:+ (>= $glibc)}, libgcc-s1"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: vitrine
Version: $version
Architecture: $arch
Maintainer: Vitrine developers
Section: utils
Priority: optional
Installed-Size: $size
Depends: $depends
Description: antivirus whose rules everyone can see
 YARA and hash-signature scanning, a clamd-compatible daemon with on-access
 scanning, and rule updates installed only when they are in a public,
 witnessed transparency log.
CONTROL
mkdir -p "$out"
deb="$out/vitrine_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"$compress" --build "$root" "$deb" >/dev/null
echo "$deb"
