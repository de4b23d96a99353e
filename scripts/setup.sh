#!/usr/bin/env bash
# Installs what building (and, with --test, testing) Patchport needs, and
# nothing that is already there. Safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=false
want_release=false
want_packages=false
[[ "${1:-}" == "--test" ]] && want_tests=true
[[ "${1:-}" == "--release" ]] && want_release=true
[[ "${1:-}" == "--packages" ]] && want_packages=true

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

command -v cargo >/dev/null || { echo "Rust is required: https://rustup.rs" >&2; exit 1; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# cargo-leptos 0.3.5 is the newest that builds on Rust 1.95.
if ! cargo leptos --version 2>/dev/null | grep -q '0\.3\.5'; then
  say "installing cargo-leptos 0.3.5 (takes a few minutes, once)"
  cargo install cargo-leptos@0.3.5 --locked
fi

# wasm-bindgen must match the version in Cargo.lock exactly.
wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $wb_version"; then
  say "installing wasm-bindgen-cli $wb_version (takes a few minutes, once)"
  cargo install wasm-bindgen-cli --version "$wb_version" --force
fi

# The release build shrinks the WASM with wasm-opt, Binaryen 123 as
# cargo-leptos 0.3.5 expects, from npm (Debian's Binaryen 108 produced a
# WASM that fails in the browser); cargo-leptos takes it from PATH
# (scripts/release.sh puts this directory first), as it cannot download.
tools="${PATCHPORT_TOOLS:-$HOME/.cache/patchport-tools}"
if $want_release && ! "$tools/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q 'version 123'; then
  command -v npm >/dev/null || { echo "Node.js and npm are required for the release build (wasm-opt)" >&2; exit 1; }
  say "installing Binaryen 123 (wasm-opt) from npm into $tools"
  mkdir -p "$tools"
  (cd "$tools" && npm install --no-audit --no-fund --no-save binaryen@123.0.0)
fi

if $want_tests; then
  if ! command -v cargo-audit >/dev/null; then
    say "installing cargo-audit for the dependency audit (takes a few minutes, once)"
    cargo install cargo-audit --locked
  fi
  if [[ ! -d end2end/node_modules/playwright-core ]] || [[ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]]; then
    command -v npm >/dev/null || { echo "Node.js and npm are required for the end-to-end tests" >&2; exit 1; }
    say "installing end-to-end test packages"
    (cd end2end && npm ci --no-audit --no-fund)
  fi
  # A real SMTP server for the mail tests (server/tests/fixtures/smtp_sink.py).
  if ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
    say "installing aiosmtpd from Debian for the mail tests"
    as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-aiosmtpd \
      || { echo "could not install python3-aiosmtpd: install Debian's 'python3-aiosmtpd' package" >&2; exit 1; }
  fi
  # rpm's own version comparison for the advisory ground truth
  # (scripts/ground_truth.py); dpkg's comes with Debian.
  if ! /usr/bin/python3 -c 'import rpm' 2>/dev/null; then
    say "installing python3-rpm from Debian for the advisory ground truth"
    as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-rpm \
      || { echo "could not install python3-rpm: install Debian's 'python3-rpm' package" >&2; exit 1; }
  fi
  # The load balancer of the multi-instance test (scripts/scale-test.sh).
  if ! command -v haproxy >/dev/null && ! [[ -x /usr/sbin/haproxy ]]; then
    say "installing haproxy from Debian for the multi-instance test"
    as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy \
      || { echo "could not install haproxy: install Debian's 'haproxy' package" >&2; exit 1; }
  fi
  # Debian's own rpm (rpmbuild), dnf and createrepo_c/modifyrepo_c for the
  # agent's real dnf test on a separate root (agent/tests/install_rpm.rs).
  if ! command -v dnf >/dev/null || ! command -v rpmbuild >/dev/null || ! command -v createrepo_c >/dev/null; then
    say "installing dnf, rpm and createrepo-c from Debian for the agent's dnf test"
    as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q dnf rpm createrepo-c \
      || { echo "could not install dnf, rpm, createrepo-c: install Debian's 'dnf', 'rpm' and 'createrepo-c' packages" >&2; exit 1; }
  fi
  if ! command -v chromium >/dev/null; then
    say "installing Chromium from Debian for the end-to-end tests"
    as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
      || { echo "could not install chromium: install Debian's 'chromium' package" >&2; exit 1; }
  fi
fi
# The agent's .deb and .rpm (scripts/agent-packages.sh): a static musl
# binary (ring compiles C, hence musl-gcc), packed by cargo-deb 3.8.0 and
# cargo-generate-rpm 0.21.1, the newest releases; both build on Rust 1.95.
if $want_packages; then
  if ! rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
    say "adding the x86_64-unknown-linux-musl target (the agent's static binary)"
    rustup target add x86_64-unknown-linux-musl
  fi
  if ! command -v musl-gcc >/dev/null; then
    say "installing musl-tools from Debian for the agent's static binary"
    as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q musl-tools \
      || { echo "could not install musl-tools: install Debian's 'musl-tools' package" >&2; exit 1; }
  fi
  if ! cargo deb --version 2>/dev/null | grep -qx 'cargo-deb 3\.8\.0'; then
    say "installing cargo-deb 3.8.0 (takes a few minutes, once)"
    cargo install cargo-deb --version 3.8.0 --locked
  fi
  if ! cargo generate-rpm --version 2>/dev/null | grep -qx 'cargo-generate-rpm 0\.21\.1'; then
    say "installing cargo-generate-rpm 0.21.1 (takes a few minutes, once)"
    cargo install cargo-generate-rpm --version 0.21.1 --locked
  fi
fi
say "ready"
