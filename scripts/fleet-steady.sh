#!/usr/bin/env bash
# The steady state of a big fleet (issue 17): N simulated servers send
# their first full reports, then check in once every INTERVAL seconds,
# spread evenly, as agents do; while they do, the portal's CPU (user +
# system time over the steady phase, as a share of one core) and its
# resident memory (sampled every second: largest and last) are measured.
# Runs a release build on SQLite, and on PostgreSQL too when
# PATCHPORT_TEST_POSTGRES is set (then the database server's own CPU is
# not counted: it is another process). Usage:
#   scripts/fleet-steady.sh [servers] [interval-seconds] [measured-seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
servers=${1:-10000}; interval=${2:-900}; seconds=${3:-300}
source scripts/lib/bench.sh
bench_build
ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
steady() {
  local label=$1 url=$2 data
  data=$(mktemp -d)
  export PATCHPORT_DATA_DIR="$data" DATABASE_URL="$url"
  local token portal; bench_portal 3410 "$servers" "$data/log"
  local pid=$portal
  echo "== $label: $servers servers, one check-in each every $interval s, measured over $seconds s"
  "$target/patchport-fleet" --url http://127.0.0.1:3410 --token "$token" --agents "$servers" --rounds 0 \
    --interval "$interval" --pace-seconds "$seconds" --concurrency 8 >"$data/fleet" 2>&1 &
  local fleet=$!
  # The steady phase starts when the fleet says so.
  until grep -q '^pace:' "$data/fleet" 2>/dev/null; do
    kill -0 "$fleet" 2>/dev/null || { cat "$data/fleet"; echo "fleet stopped before its steady phase" >&2; kill "$pid"; return 1; }
    sleep 1
  done
  grep -E '^(enrolled|full reports)' "$data/fleet"
  local t0 c0 max=0 rss=0
  t0=$(date +%s.%N); c0=$(cpu_ticks "$pid")
  while kill -0 "$fleet" 2>/dev/null; do
    rss=$(rss_kib "$pid"); (( rss > max )) && max=$rss
    sleep 1
  done
  local c1 t1; c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
  grep '^pace:' "$data/fleet" | tail -1
  awk -v c=$((c1 - c0)) -v hz="$ticks" -v t0="$t0" -v t1="$t1" -v max="$max" -v rss="$rss" 'BEGIN {
    printf "portal: CPU %.1f %% of one core over %.0f s; RSS max %.0f MiB, at the end %.0f MiB\n",
      100 * c / hz / (t1 - t0), t1 - t0, max / 1024, rss / 1024 }'
  grep -E '^(lost|job)' "$data/fleet" | head -5 || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}
on_both_backends steady steady
