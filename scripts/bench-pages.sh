#!/usr/bin/env bash
# Pages at scale (issue 17): signed-in pages served by a release build on
# the report benchmark's one-million-row SQLite database (10,000 servers
# missing 100 patches each, from `bench_report --keep`), loaded with `wrk`
# at C concurrent connections for S seconds each, as an admin and as an
# owner of 200 of the servers. Prints pages/s, median and p99 latency, and
# any answer that was not 200 or a socket error. Usage:
#   scripts/bench-pages.sh [connections] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-200}; secs=${2:-15}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 is missing: apt-get install sqlite3" >&2; exit 1; }
export LEPTOS_OUTPUT_NAME=patchport
# One build for both: built apart, their features differ and each
# rebuilds the portal.
cargo build --release -q -p patchport --bins --example bench_report
target=${CARGO_TARGET_DIR:-target}/release
data=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
pid=
echo "generating one million server-patch rows (takes a few minutes)"
"$target/examples/bench_report" --keep "$data/bench.db" --runs 1 >"$data/generate.log"
export DATABASE_URL="sqlite:$data/bench.db" PATCHPORT_DATA_DIR="$data" PATCHPORT_BIND=127.0.0.1:3420 \
  PATCHPORT_LOG=warn PATCHPORT_SCHEDULER_SECONDS=3600
password="bench-pages-$$-password"
printf '%s' "$password" | "$target/patchport" user add --username benchadmin --admin --password-stdin >/dev/null
printf '%s' "$password" | "$target/patchport" user add --username benchowner --password-stdin >/dev/null
# The owner takes over the 200 servers of the generator's first owner.
sqlite3 "$data/bench.db" "update server set owner_id = (select id from account where username = 'benchowner')
  where owner_id = (select id from account where username = 'owner1')"
own=$(sqlite3 "$data/bench.db" "select min(id) from server where owner_id = (select id from account where username = 'benchowner')")
"$target/patchport" serve >"$data/log" 2>&1 &
pid=$!
base=http://127.0.0.1:3420
for _ in $(seq 1 100); do curl -fsS "$base/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
cookie() {
  curl -s -i -X POST --data-urlencode "username=$1" --data-urlencode "password=$password" -d 'next=/' "$base/api/login" |
    sed -n 's/^set-cookie: patchport_session=\([^;]*\).*/\1/ip'
}
# The scheduler's first pass starts with the portal and, on a database
# this size, keeps the writer busy for a while (rollouts for every covered
# patch, the dashboard snapshot): wait until the dashboard answers within
# a second twice in a row, so the load measures pages, not that pass.
admin=$(cookie benchadmin); owner=$(cookie benchowner)
fast=0
for _ in $(seq 1 300); do
  t=$(curl -s -o /dev/null -w '%{time_total}' -H "cookie: patchport_session=$admin" "$base/")
  if awk -v t="$t" 'BEGIN { exit !(t < 1) }'; then fast=$((fast + 1)); else fast=0; fi
  [[ $fast -ge 2 ]] && break
  sleep 1
done
[[ -n $admin && -n $owner ]] || { echo "could not sign in" >&2; exit 1; }
printf '| page | as | pages/s | p50 ms | p99 ms | not 200 / errors |\n|---|---|---|---|---|---|\n'
load() {
  local who=$1 session=$2 path=$3 out
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency --timeout 10s -H "cookie: patchport_session=$session" "$base$path")
  awk -v page="$path" -v who="$who" '
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
    /Non-2xx/ { bad = $NF } /Socket errors/ { err = $0; sub(/.*Socket errors: /, "", err) }
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    END { printf "| `%s` | %s | %.0f | %.1f | %.1f | %s / %s |\n", page, who, rps, ms(p50), ms(p99), bad ? bad : 0, err ? err : "none" }' <<<"$out"
}
for path in / /report "/report?view=server" /servers "/servers/$own" /rollouts; do load admin "$admin" "$path"; done
for path in / /servers "/servers/$own"; do load owner "$owner" "$path"; done
