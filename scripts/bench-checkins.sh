#!/usr/bin/env bash
# Measures how many full reports (1,500 packages, 50 updates) and unchanged
# check-ins per second a release-built portal absorbs, on SQLite and, when
# PATCHPORT_TEST_POSTGRES is set, on PostgreSQL. Usage:
#   scripts/bench-checkins.sh [agents] [concurrency]
set -euo pipefail
cd "$(dirname "$0")/.."
agents=${1:-500}; concurrency=${2:-8}
export LEPTOS_OUTPUT_NAME=patchport
cargo build --release -q -p patchport -p patchport-agent
target=${CARGO_TARGET_DIR:-target}/release
bench() {
  local label=$1 url=$2 data
  data=$(mktemp -d)
  export PATCHPORT_DATA_DIR="$data" PATCHPORT_BIND=127.0.0.1:3400 DATABASE_URL="$url" PATCHPORT_LOG=warn
  "$target/patchport" migrate >/dev/null
  local token; token=$("$target/patchport" token create --uses "$agents" --label bench)
  "$target/patchport" serve >"$data/log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 50); do curl -fsS http://127.0.0.1:3400/healthz >/dev/null 2>&1 && break; sleep 0.2; done
  echo "== $label"
  "$target/patchport-fleet" --url http://127.0.0.1:3400 --token "$token" --agents "$agents" --concurrency "$concurrency" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}
bench "SQLite" "sqlite:$(mktemp -d)/bench.db"
if [[ -n "${PATCHPORT_TEST_POSTGRES:-}" ]]; then
  db="patchport_bench_$$"
  psql "$PATCHPORT_TEST_POSTGRES" -qc "create database $db" >/dev/null
  bench "PostgreSQL" "${PATCHPORT_TEST_POSTGRES%/*}/$db"
  psql "$PATCHPORT_TEST_POSTGRES" -qc "drop database $db" >/dev/null
fi
