# Shared by the benchmark scripts (bench-checkins.sh, bench-import.sh,
# fleet-steady.sh): a release build, a portal started on a database, and
# a run on SQLite and then, when PATCHPORT_TEST_POSTGRES is set, on a
# scratch PostgreSQL database. Source it from the repository's root.

export LEPTOS_OUTPUT_NAME=patchport

# Builds the portal and the agent's binaries (with the fleet simulator)
# in release mode and sets `target` to where they are.
bench_build() {
  cargo build --release -q -p patchport -p patchport-agent
  target=${CARGO_TARGET_DIR:-target}/release
}

# Migrates DATABASE_URL, creates an enrolment token for `uses` agents
# (printed into the variable `token`), starts `patchport serve` on
# 127.0.0.1:port with its log in `log` and waits until it answers; its
# process id goes into `portal`. The caller exports DATABASE_URL,
# PATCHPORT_DATA_DIR and any other settings first.
bench_portal() {
  local port=$1 uses=$2 log=$3
  export PATCHPORT_BIND=127.0.0.1:$port PATCHPORT_LOG=${PATCHPORT_LOG:-warn}
  "$target/patchport" migrate >/dev/null
  token=$("$target/patchport" token create --uses "$uses" --label bench)
  "$target/patchport" serve >"$log" 2>&1 &
  portal=$!
  for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "the portal did not start; its log:" >&2; cat "$log" >&2; return 1
}

# Runs `fn LABEL URL` on a new SQLite file, then on a scratch PostgreSQL
# database (created and dropped here) when PATCHPORT_TEST_POSTGRES is set.
on_both_backends() {
  local fn=$1 name=$2
  "$fn" "SQLite" "sqlite:$(mktemp -d)/$name.db"
  if [[ -n "${PATCHPORT_TEST_POSTGRES:-}" ]]; then
    local db="patchport_${name}_$$"
    psql "$PATCHPORT_TEST_POSTGRES" -qc "create database $db" >/dev/null
    "$fn" "PostgreSQL" "${PATCHPORT_TEST_POSTGRES%/*}/$db"
    psql "$PATCHPORT_TEST_POSTGRES" -qc "drop database $db" >/dev/null
  fi
}
