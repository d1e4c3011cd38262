#!/usr/bin/env bash
# `vault open` with three keyholders (2 of 3) on 127.0.0.1 against the
# same operation without them (log the access, prove it, check the proof),
# measured in one process, alternating, N runs each (default 200).
# Usage: N=200 bench/vault.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --workspace --locked --bench vault
