#!/usr/bin/env bash
# Imports a whole OSV corpus into a running, release-built portal while a
# simulated AlmaLinux 9 fleet checks in and someone signs in every half
# second, and reports what the import cost and whether any request failed:
# import time and peak memory (of the `patchport advisories import`
# process), check-in latencies during the import, failed check-ins and
# sign-ins. On SQLite, and on PostgreSQL when PATCHPORT_TEST_POSTGRES is
# set. Usage:
#   scripts/bench-import.sh OSV_DIR [agents] [load seconds]
# OSV_DIR is e.g. a checkout of AlmaLinux/osv-database (its advisories/).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=$(realpath "$1"); agents=${2:-300}; seconds=${3:-180}
source scripts/lib/bench.sh
bench_build
bench() {
  local label=$1 url=$2 data port=3410
  data=$(mktemp -d)
  export PATCHPORT_DATA_DIR="$data" DATABASE_URL="$url" PATCHPORT_SCHEDULER_SECONDS=30
  local token portal; bench_portal "$port" "$agents" "$data/portal.log"
  echo 'bench-password-1' | "$target/patchport" user add --admin --username bench --password-stdin >/dev/null
  echo "== $label: $agents AlmaLinux 9 servers, importing $corpus"
  "$target/patchport-fleet" --url "http://127.0.0.1:$port" --token "$token" --agents "$agents" \
    --os almalinux --catalog "$corpus" --rounds 1 --concurrency 8 --load-seconds "$seconds" \
    --latency-log "$data/latency" >"$data/fleet.log" 2>&1 &
  local fleet=$!
  # Let enrolment and the first reports finish before the import starts.
  until grep -q '^load:' "$data/fleet.log" 2>/dev/null; do sleep 1; done
  # Sign-ins every half second; the portal's memory every second.
  ( while kill -0 "$fleet" 2>/dev/null; do
      code=$(curl -s -o /dev/null -w '%{http_code}' -d 'username=bench&password=bench-password-1&next=/' \
        "http://127.0.0.1:$port/api/login")
      echo "$code" >>"$data/signins"; sleep 0.5
    done ) &
  local signins=$!
  ( while kill -0 "$portal" 2>/dev/null; do ps -o rss= -p "$portal" >>"$data/portal-rss"; sleep 1; done ) &
  local rss=$!
  sleep 5
  local from; from=$(date +%s%3N)
  /usr/bin/time -f 'import: %e s wall, %M KB peak memory (import process)' \
    "$target/patchport" advisories import "$corpus" 2>&1 | tail -3
  local to; to=$(date +%s%3N)
  wait "$fleet" || true
  kill "$signins" "$rss" 2>/dev/null || true
  grep -E '^(catalog|enrolled|full reports|load)' "$data/fleet.log" || true
  grep -E '^failed' "$data/fleet.log" | head -5 || true
  echo "sign-ins: $(grep -c '^200$' "$data/signins" || true) answered 200, $(grep -vc '^200$' "$data/signins" || true) otherwise"
  echo "portal peak memory: $(sort -n "$data/portal-rss" | tail -1) KB"
  echo "portal warnings: $(grep -ci 'warn\|error' "$data/portal.log" || true) (log: $data/portal.log)"
  grep -iE 'warn|error' "$data/portal.log" | cut -c1-240 | head -5 || true
  # Check-ins that started while the import ran, on their own.
  awk -v from="$from" -v to="$to" '$1 >= from && $1 <= to { print $2, $3 }' "$data/latency" | sort -n |
    awk '{ ms[NR] = $1; if ($2 != "ok") bad++ }
         END { if (NR == 0) { print "during the import: no check-ins"; exit }
               printf "during the import: %d check-ins, %d failed; latency ms p50 %.1f, p95 %.1f, max %.1f\n",
                 NR, bad, ms[int((NR - 1) * 0.5) + 1], ms[int((NR - 1) * 0.95) + 1], ms[NR] }'
  kill "$portal"; wait "$portal" 2>/dev/null || true
}
on_both_backends bench bench
