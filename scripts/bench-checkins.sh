#!/usr/bin/env bash
# Measures how many full reports (1,500 packages, 50 updates) and unchanged
# check-ins per second a release-built portal absorbs, on SQLite and, when
# PATCHPORT_TEST_POSTGRES is set, on PostgreSQL; every agent sends its full
# report `rounds` times (the same report: the database must not grow from
# repeats), and the database's size is printed after. Usage:
#   scripts/bench-checkins.sh [agents] [concurrency] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
agents=${1:-500}; concurrency=${2:-8}; rounds=${3:-3}
source scripts/lib/bench.sh
bench_build
# The database's size on disk: the SQLite file with its WAL, or what
# PostgreSQL reports for the database.
size() {
  local mib
  if [[ $1 == sqlite:* ]]; then
    mib=$(du -cm "${1#sqlite:}"* | tail -1 | cut -f1)
  else
    mib=$(( $(psql "$1" -Atc 'select pg_database_size(current_database())') / 1048576 ))
  fi
  echo "database: $mib MiB after $rounds rounds of full reports"
  # The largest tables with their indexes, per server: the capacity model
  # in docs/scaling.md multiplies these.
  if [[ $1 == sqlite:* ]]; then
    sqlite3 "${1#sqlite:}" "select name, count(*), sum(pgsize) from dbstat group by name order by 3 desc limit 6" 2>/dev/null |
      awk -F'|' -v n="$agents" '{ printf "  %-40s %6.1f KiB per server\n", $1, $3 / 1024 / n }' || true
  else
    psql "$1" -At -F' ' -c "select relname, pg_total_relation_size(oid) from pg_class where relkind = 'r' and relnamespace = 'public'::regnamespace order by 2 desc limit 6" |
      awk -v n="$agents" '{ printf "  %-40s %6.1f KiB per server (with indexes)\n", $1, $2 / 1024 / n }'
  fi
}
bench() {
  local label=$1 url=$2 data
  data=$(mktemp -d)
  export PATCHPORT_DATA_DIR="$data" DATABASE_URL="$url"
  local token portal; bench_portal 3400 "$agents" "$data/log"
  echo "== $label"
  "$target/patchport-fleet" --url http://127.0.0.1:3400 --token "$token" --agents "$agents" --concurrency "$concurrency" \
    --full-rounds "$rounds" || true
  size "$url"
  kill "$portal"; wait "$portal" 2>/dev/null || true
  rm -rf "$data"
}
on_both_backends bench bench
