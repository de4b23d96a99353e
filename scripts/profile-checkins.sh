#!/usr/bin/env bash
# Where a full report's time goes (issue 17): a release build (with line
# tables) takes `agents` full reports (1,500 packages, 50 updates) from
# patchport-fleet while `perf record` samples the portal, and, on
# PostgreSQL, the database's server processes too; prints the top entries
# of each profile by self time. SQLite, and PostgreSQL when
# PATCHPORT_TEST_POSTGRES is set (a local server: its backends are
# sampled system-wide). Needs perf (Debian's linux-perf). Usage:
#   scripts/profile-checkins.sh [agents] [entries]
set -euo pipefail
cd "$(dirname "$0")/.."
agents=${1:-300}; entries=${2:-25}
command -v perf >/dev/null || { echo "perf is missing: apt-get install linux-perf" >&2; exit 1; }
export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
source scripts/lib/bench.sh
bench_build
profile() {
  local label=$1 url=$2 data
  data=$(mktemp -d)
  export PATCHPORT_DATA_DIR="$data" DATABASE_URL="$url" PATCHPORT_SCHEDULER_SECONDS=3600
  local token portal; bench_portal 3430 "$agents" "$data/log"
  # Enrol first (argon2-free, but not what is measured), then profile the
  # full reports alone: the fleet enrols, sends them and stops.
  local who=(-p "$portal")
  [[ $label == PostgreSQL ]] && who=(-a)
  perf record -F 499 -g -o "$data/perf.data" "${who[@]}" -- sleep 3600 >/dev/null 2>&1 &
  local perf=$!
  sleep 1
  "$target/patchport-fleet" --url http://127.0.0.1:3430 --token "$token" --agents "$agents" --concurrency 8 \
    --rounds 0 | grep -E '^full reports'
  kill -INT "$perf"; wait "$perf" 2>/dev/null || true
  echo "== $label: top $entries by self time (portal$([[ $label == PostgreSQL ]] && echo ' and postgres'))"
  perf report -i "$data/perf.data" --no-children --sort comm,dso,symbol --percent-limit 0.5 --stdio 2>/dev/null |
    grep -E '^ +[0-9.]+%' | sed -E 's/ +/ /g; s/ - - *$//' | head -n "$entries" || true
  kill "$portal"; wait "$portal" 2>/dev/null || true
  rm -rf "$data"
}
on_both_backends profile profile
