#!/usr/bin/env bash
# Sets up, builds and serves the portal in demo mode on http://127.0.0.1:3000
# with an embedded SQLite database in ./data/demo.db and simulated servers
# (patchport-fleet) that check in and run the jobs they are given.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export LEPTOS_OUTPUT_NAME=patchport
cargo leptos build
cargo build -p patchport-agent --bins
exec "${CARGO_TARGET_DIR:-target}/debug/patchport" demo
