#!/usr/bin/env bash
# Checks Cargo.lock against the RustSec advisory database with cargo-audit.
# The database is a git snapshot kept in a cache directory: updated when
# github.com can be reached, used as it is when not (its date is printed),
# and the check is skipped with a visible message when there is none.
set -euo pipefail
cd "$(dirname "$0")/.."
db="${PATCHPORT_ADVISORY_DB:-$HOME/.cache/patchport-ci/advisory-db}"
say() { printf '\033[1;34m[audit]\033[0m %s\n' "$*"; }

if ! command -v cargo-audit >/dev/null; then
  say "SKIPPED: cargo-audit is not installed (scripts/setup.sh --test installs it)"
  exit 0
fi
if [[ -d "$db/.git" ]]; then
  if ! timeout 60 git -C "$db" pull -q --ff-only >/dev/null 2>&1; then
    say "could not update $db: using its snapshot as it is"
  fi
elif ! timeout 120 git clone -q --depth 1 https://github.com/rustsec/advisory-db "$db" >/dev/null 2>&1; then
  rm -rf "$db"
  say "SKIPPED: no RustSec advisory database at $db and github.com cannot be reached"
  exit 0
fi
say "RustSec advisory database of $(git -C "$db" log -1 --format=%cs) ($(git -C "$db" rev-parse --short HEAD))"

# RUSTSEC-2023-0071 (rsa, the Marvin timing attack, no fixed release):
# Cargo.lock lists every optional dependency of sqlx, so it names
# sqlx-mysql and its rsa although no MySQL driver is built (`cargo tree -i
# rsa` finds nothing). Nothing else is ignored.
cargo audit --db "$db" --no-fetch --ignore RUSTSEC-2023-0071
