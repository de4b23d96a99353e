#!/usr/bin/env bash
# Loads signed-in pages concurrently against a running demo portal and fails
# if any load does not answer 200 within 15 s. Concurrent server rendering
# once deadlocked Leptos's reactive graph (see app/src/ui.rs, `Pager`); this
# catches that class of bug on the real binary. Usage:
#   scripts/stress-pages.sh http://127.0.0.1:3000 [rounds] [parallel]
set -euo pipefail
base=${1:-http://127.0.0.1:3000}; rounds=${2:-3}; parallel=${3:-20}
cookie=$(curl -s -i -X POST -d 'username=admin&password=patchport-demo&next=/' "$base/api/login" |
  sed -n 's/^set-cookie: patchport_session=\([^;]*\).*/\1/ip')
[[ -n "$cookie" ]] || { echo "stress: could not sign in as the demo admin" >&2; exit 1; }
pages=(/admin/audit /admin/users / /account /servers /servers/3 /report)
results=$(for _ in $(seq 1 "$rounds"); do
  for _ in $(seq 1 "$parallel"); do
    for p in "${pages[@]}"; do
      (timeout 15 curl -s -o /dev/null -w "%{http_code} $p\n" -H "cookie: patchport_session=$cookie" "$base$p" || echo "TIMEOUT $p") &
    done
  done
  wait
done | sort | uniq -c)
echo "$results"
if grep -qv ' 200 ' <<<"$results"; then echo "stress: some page loads failed or hung" >&2; exit 1; fi
echo "stress: $((rounds * parallel * ${#pages[@]})) concurrent page loads, all 200"
