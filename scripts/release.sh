#!/usr/bin/env bash
# Builds Patchport for production: the portal and the agent in release
# mode, the browser's WASM optimised by wasm-opt, and says how big the
# WASM is (raw and gzip, what a browser downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --release
export LEPTOS_OUTPUT_NAME=patchport
# Binaryen 123's wasm-opt from setup, ahead of any other on PATH.
export PATH="${PATCHPORT_TOOLS:-$HOME/.cache/patchport-tools}/node_modules/.bin:$PATH"
cargo leptos build --release
cargo build --release -p patchport-agent --bins
target_dir="${CARGO_TARGET_DIR:-target}"
wasm=target/site/pkg/patchport.wasm
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "[release] $wasm: $((raw / 1024)) KiB, $((gz / 1024)) KiB gzip"
echo "[release] portal: $target_dir/release/patchport (serve with PATCHPORT_SITE_ROOT=$PWD/target/site)"
echo "[release] agent:  $target_dir/release/patchport-agent"
