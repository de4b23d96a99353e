#!/usr/bin/env bash
# Runs the end-to-end tests: the built portal in demo mode on a fresh SQLite
# database, driven in real Chromium, with the real agent enrolling this
# machine. Expects `cargo leptos build` and `cargo build -p patchport-agent`.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PATCHPORT_E2E_PORT:-3100}
data=$(mktemp -d)
log="$data/portal.log"
# A real SMTP server on loopback that keeps each mail as a JSON file.
smtp_port=${PATCHPORT_E2E_SMTP_PORT:-3125}
mkdir -p "$data/smtp"
exec 3> >(/usr/bin/python3 server/tests/fixtures/smtp_sink.py "$smtp_port" "$data/smtp" >"$data/smtp.log" 2>&1)
smtp_pid=$!
# Booking mails wait 5 s for the booking to rest (not the default 2 min),
# so the tests see them soon.
SMTP_URL="smtp://127.0.0.1:$smtp_port" PATCHPORT_MAIL_SECONDS=1 PATCHPORT_BOOKING_MAIL_QUIET_SECONDS=5 \
PATCHPORT_DEMO_FLEET_INTERVAL=2 PATCHPORT_DATA_DIR="$data" PATCHPORT_BIND="127.0.0.1:$port" PATCHPORT_SITE_ROOT=target/site \
  "${CARGO_TARGET_DIR:-target}/debug/patchport" demo >"$log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  exec 3>&-; kill "$smtp_pid" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "portal exited" >&2; exit 1; }
  sleep 0.5
done
status=0
agent_bin="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/patchport-agent"
(cd end2end && PATCHPORT_E2E_URL="http://127.0.0.1:$port" PATCHPORT_AGENT_BIN="$agent_bin" PATCHPORT_E2E_MAIL_DIR="$data/smtp" npm test) || status=$?
if [[ $status -eq 0 ]]; then scripts/stress-pages.sh "http://127.0.0.1:$port" 3 20 || status=$?; fi
if [[ $status -ne 0 ]]; then echo "--- portal log ---"; tail -50 "$log"; fi
exit $status
