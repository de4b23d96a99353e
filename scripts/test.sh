#!/usr/bin/env bash
# Sets up and runs every test: unit, integration on SQLite, integration on
# PostgreSQL when PATCHPORT_TEST_POSTGRES is set, and end-to-end in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
# Same value cargo-leptos sets, so tests and the site build share artifacts.
export LEPTOS_OUTPUT_NAME=patchport

if [[ -n "${PATCHPORT_TEST_POSTGRES:-}" ]]; then
  echo "[test] PostgreSQL: ${PATCHPORT_TEST_POSTGRES%%\?*}"
  # Drop databases left behind by earlier runs.
  if command -v psql >/dev/null; then
    psql "$PATCHPORT_TEST_POSTGRES" -Atc "select datname from pg_database where datname like 'patchport\_test\_%'" 2>/dev/null |
      while read -r db; do psql "$PATCHPORT_TEST_POSTGRES" -qc "drop database if exists \"$db\"" >/dev/null 2>&1 || true; done
  fi
else
  echo "[test] PATCHPORT_TEST_POSTGRES is not set: integration tests run on SQLite only"
fi

# The ground truth's expected answers follow from dpkg's and rpm's own
# version comparison (checked independently of the Rust code).
/usr/bin/python3 scripts/ground_truth.py --check core/tests/fixtures/ground_truth.json
# Known vulnerabilities in the locked dependencies (RustSec).
scripts/audit.sh
cargo test --workspace
cargo leptos build
cargo build -p patchport-agent --bins
scripts/e2e.sh
# Three instances on PostgreSQL behind haproxy, one killed halfway.
if [[ -n "${PATCHPORT_TEST_POSTGRES:-}" ]]; then
  scripts/scale-test.sh
else
  echo "[test] the multi-instance test (scripts/scale-test.sh) needs PATCHPORT_TEST_POSTGRES: not run"
fi
