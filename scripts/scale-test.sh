#!/usr/bin/env bash
# Several portal instances, for real (issue 17): three `patchport serve` on
# one PostgreSQL database behind haproxy, driven through the balancer by
# the fleet simulator (agents checking in on a steady pace, running the
# jobs they get) and by an admin in Chromium (pages round and round,
# deployments, invitations). Halfway, one instance is killed (SIGKILL).
# Then it checks:
#   - the session survived moving between instances (never sent back to
#     the sign-in page, pages served by several instances);
#   - the scheduler took one turn per interval across the instances, and
#     a survivor took the turns after the kill;
#   - every mail went out exactly once (one delivery per sent mail, no
#     Message-ID twice) and every job was run once (none handed out again
#     after its result was recorded, none left unfinished);
#   - no check-in was lost (the agents' retries landed).
# Needs PATCHPORT_TEST_POSTGRES, haproxy, Chromium, and the debug build
# (`cargo leptos build && cargo build -p patchport-agent --bins`).
# Usage: scripts/scale-test.sh [seconds] [agents]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}; agents=${2:-40}
interval=5            # the scheduler's (the smallest it accepts)
pace=5                # seconds between one agent's check-ins
bin="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug"
say() { printf '[scale] %s\n' "$*"; }
fail() { printf '[scale] FAILED: %s\n' "$*" >&2; status=1; }
[[ -n "${PATCHPORT_TEST_POSTGRES:-}" ]] || { say "PATCHPORT_TEST_POSTGRES is not set: nothing to run"; exit 1; }
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
[[ -x $haproxy ]] || { say "haproxy is missing (scripts/setup.sh --test installs it)"; exit 1; }

work=$(mktemp -d)
db="patchport_scale_$$"
url="${PATCHPORT_TEST_POSTGRES%/*}/$db"
psql "$PATCHPORT_TEST_POSTGRES" -qc "create database $db" >/dev/null
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  exec 3>&- 2>/dev/null || true
  wait 2>/dev/null || true
  psql "$PATCHPORT_TEST_POSTGRES" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
  [[ ${status:-0} -eq 0 ]] && rm -rf "$work" || say "logs kept in $work"
}
trap cleanup EXIT
q() { psql "$url" -Atc "$1"; }

export DATABASE_URL="$url" PATCHPORT_LOG_FORMAT=json PATCHPORT_LOG="info,patchport::scheduler=debug"
"$bin/patchport" migrate >/dev/null
password="scale-admin-$$-password"
printf '%s' "$password" | "$bin/patchport" user add --username admin --admin --display-name 'Scale Admin' \
  --email admin@scale.invalid --password-stdin >/dev/null
token=$("$bin/patchport" token create --uses "$agents" --label scale)

# A real SMTP server that keeps every delivery.
mkdir -p "$work/smtp"
exec 3> >(/usr/bin/python3 server/tests/fixtures/smtp_sink.py 3325 "$work/smtp" >"$work/smtp.log" 2>&1)

# Three instances on the one database; every background task on, fast.
front=3330
for i in 1 2 3; do
  mkdir -p "$work/p$i"
  SMTP_URL="smtp://127.0.0.1:3325" PATCHPORT_MAIL_SECONDS=1 PATCHPORT_SCHEDULER_SECONDS=$interval \
  PATCHPORT_DATA_DIR="$work/p$i" PATCHPORT_BIND="127.0.0.1:$((front + i))" PATCHPORT_SITE_ROOT=target/site \
  PATCHPORT_PUBLIC_URL="http://127.0.0.1:$front" PATCHPORT_TRUSTED_PROXIES=127.0.0.1 \
    "$bin/patchport" serve >"$work/p$i.log" 2>&1 &
  pids+=($!); eval "instance$i=$!"
done
cat >"$work/haproxy.cfg" <<CFG
global
  maxconn 2000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  # A request that found an instance dead (refused, or closed without an
  # answer) is tried on another one; haproxy retries only what is safe to
  # repeat (an idempotent GET, or a request never sent).
  retries 3
  option redispatch
  retry-on conn-failure empty-response response-timeout
frontend portal
  bind 127.0.0.1:$front
  option forwardfor
  default_backend instances
backend instances
  balance roundrobin
  option httpchk GET /healthz
  http-response set-header X-Served-By %[srv_name]
  server p1 127.0.0.1:$((front + 1)) check inter 500ms fall 2 rise 2
  server p2 127.0.0.1:$((front + 2)) check inter 500ms fall 2 rise 2
  server p3 127.0.0.1:$((front + 3)) check inter 500ms fall 2 rise 2
CFG
"$haproxy" -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
  up=0
  for i in 1 2 3; do curl -fsS "http://127.0.0.1:$((front + i))/healthz" >/dev/null 2>&1 && up=$((up + 1)); done
  [[ $up -eq 3 ]] && curl -fsS "http://127.0.0.1:$front/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
[[ $up -eq 3 ]] || { cat "$work"/p*.log | tail -20; say "the instances did not start"; exit 1; }
say "3 instances on $db behind haproxy at 127.0.0.1:$front; $agents agents every ${pace} s and an admin in Chromium for ${seconds} s"

started=$(date +%s)
"$bin/patchport-fleet" --url "http://127.0.0.1:$front" --token "$token" --agents "$agents" --packages 300 \
  --updates 8 --concurrency 4 --rounds 0 --interval "$pace" --pace-seconds "$seconds" \
  --summary "$work/fleet.json" >"$work/fleet.log" 2>&1 &
fleet=$!; pids+=($fleet)
(cd end2end && PATCHPORT_E2E_URL="http://127.0.0.1:$front" node scale/sessions.mjs --seconds "$((seconds + 10))" \
  --agents "$agents" --password "$password" --out "$work/sessions.json") >"$work/sessions.log" 2>&1 &
browser=$!; pids+=($browser)

# Halfway, the instance that holds the scheduler's turn is killed: the
# others must take the turns over, and the people and agents on it move.
sleep "$((seconds / 2 + 5))"
holder=$(q "select holder from scheduler_turn where name = 'scheduler'")
victim=0
for i in 1 2 3; do [[ $holder == *":$((front + i))" ]] && victim=$i; done
[[ $victim -ne 0 ]] || { say "no instance holds the scheduler's turn ('$holder')"; exit 1; }
kill -9 "$(eval echo "\$instance$victim")"
killed_at=$(date +%s%3N)
say "killed instance $victim, which held the scheduler's turn, with SIGKILL at +$((killed_at / 1000 - started)) s"

status=0
wait "$fleet" || fail "the fleet lost check-ins or job results, or was handed a job twice (see below)"
cat "$work/fleet.log"
wait "$browser" || fail "the admin's session was lost"
cat "$work/sessions.log"
# Let the last mails and job results settle: no queued mail, no unfinished job.
for _ in $(seq 1 60); do
  [[ $(q "select count(*) from mail where state = 'queued'") == 0 ]] && break
  sleep 1
done

/usr/bin/python3 - "$work" "$killed_at" "$interval" "$victim" <<'PY' || status=1
import glob, json, os, subprocess, sys
from datetime import datetime
work, killed_at, interval, victim = sys.argv[1], int(sys.argv[2]) / 1000, int(sys.argv[3]), int(sys.argv[4])
url = os.environ["DATABASE_URL"]
def q(sql):
    return subprocess.run(["psql", url, "-Atc", sql], check=True, capture_output=True, text=True).stdout.split()
failed = []
def check(ok, what):
    print(("[scale] ok: " if ok else "[scale] FAILED: ") + what)
    if not ok:
        failed.append(what)

# Sessions: several instances served the one session, before and after the kill.
s = json.load(open(f"{work}/sessions.json"))
check(not s["signedOut"], f"the session was never sent to the sign-in page ({s['pages']} pages)")
def tally(pages):
    out = {}
    for p in pages:
        out[p["by"]] = out.get(p["by"], 0) + 1
    return out
# The balancer notices a dead instance within a second (two failed checks
# 500 ms apart); pages from the second after the kill count as after it.
before = tally(p for p in s["served"] if p["at"] / 1000 < killed_at)
after = tally(p for p in s["served"] if p["at"] / 1000 > killed_at + 2)
check(len(before) == 3, f"pages before the kill came from all three instances: {before}")
check(f"p{victim}" not in after and len(after) == 2, f"after the kill the two survivors served: {after}")
check(not s["errors"], f"no errors in the browser: {s['errors'][:3]}")
check(len(s["failed"]) <= 2, f"at most two page loads failed (a request in flight on the killed instance): {s['failed'][:3]}")

# The scheduler: one turn per interval across instances.
turns = []
for i in (1, 2, 3):
    for line in open(f"{work}/p{i}.log"):
        if "scheduler turn taken" in line:
            t = json.loads(line)["timestamp"]
            turns.append((datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp(), i))
turns.sort()
gaps = [b[0] - a[0] for a, b in zip(turns, turns[1:])]
check(len({i for _, i in turns}) >= 2, f"turns were taken by more than one instance: {[i for _, i in turns]}")
check(gaps and min(gaps) >= interval - 2.0,
      f"no two turns closer than the interval allows (interval {interval} s, closest {min(gaps) if gaps else 0:.2f} s)")
later = [i for t, i in turns if t > killed_at]
check(later and victim not in later and len(later) >= 2,
      f"survivors took the turns after instance {victim} was killed: {later}")

# Mail: every sent mail delivered once, no Message-ID twice.
ids = []
for path in glob.glob(f"{work}/smtp/*.json"):
    raw = json.load(open(path))["data"]
    for line in raw.splitlines():
        if line.lower().startswith("message-id:"):
            ids.append(line.split(":", 1)[1].strip())
sent = int(q("select count(*) from mail where state = 'sent'")[0])
queued = int(q("select count(*) from mail where state <> 'sent'")[0])
check(len(ids) == len(set(ids)), f"no Message-ID delivered twice ({len(ids)} deliveries)")
check(sent == len(ids) and sent >= len(s["invited"]) > 0,
      f"{sent} mails sent, {len(ids)} delivered, {len(s['invited'])} invitations made, {queued} not sent")

# Jobs: each run once and finished.
f = json.load(open(f"{work}/fleet.json"))
run = f["jobs_run"]
check(len(run) == len(set(run)) and not f["jobs_twice"], f"no job run twice ({len(run)} jobs run)")
jobs = int(q("select count(*) from job")[0])
unfinished = q("select id || ':' || state from job where state in ('queued', 'running', 'rebooting')")
check(jobs == len(set(run)) >= len(s["deployments"]) > 0 and not unfinished,
      f"{jobs} jobs made for {len(s['deployments'])} deployments, {len(set(run))} run, unfinished: {unfinished}")

# Check-ins: none lost; every agent kept checking in to the end.
check(not f["lost"] and f["check_ins"] > 0, f"{f['check_ins']} check-ins landed ({f['retries']} retried), lost: {f['lost'][:3]}")
stale = int(q(f"select count(*) from server where last_check_in < {int(killed_at)}")[0])
check(stale == 0, f"every server checked in after the kill ({stale} did not)")
sys.exit(1 if failed else 0)
PY
if [[ $status -ne 0 ]]; then
  for i in 1 2 3; do echo "--- instance $i"; grep '^{' "$work/p$i.log" | grep -v '"DEBUG"' | tail -15; done
  exit 1
fi
say "passed"
