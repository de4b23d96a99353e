#!/usr/bin/env bash
# Builds the agent's packages: a .deb (cargo-deb) and an .rpm
# (cargo-generate-rpm) of one static x86_64 musl binary, so both run on old
# and new distributions alike. Metadata and maintainer scripts are in
# agent/Cargo.toml and agent/packaging/; only patchport-agent is packaged,
# not patchport-fleet. Prints the packages' paths and sizes; the last two
# lines are the paths, for scripts (scripts/agent-packages-test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-musl
target_dir="${CARGO_TARGET_DIR:-target}"
out="$target_dir/packages"
say() { printf '\033[1;34m[packages]\033[0m %s\n' "$*" >&2; }

# The musl target, musl-gcc, cargo-deb and cargo-generate-rpm (once).
scripts/setup.sh --packages >&2

for tool in deb generate-rpm; do
  cargo "$tool" --version >/dev/null 2>&1 \
    || { echo "cargo-$tool is missing: run scripts/setup.sh --packages" >&2; exit 1; }
done
rustup target list --installed | grep -qx "$target" \
  || { echo "the $target target is missing: run scripts/setup.sh --packages" >&2; exit 1; }
# ring (rustls) compiles C, so the musl target needs a musl C compiler.
command -v musl-gcc >/dev/null \
  || { echo "musl-gcc is missing: install Debian's 'musl-tools'" >&2; exit 1; }

# Stripped here, so that both packages carry the very same small binary
# (cargo-generate-rpm does not strip, cargo-deb would strip a bit more).
say "building patchport-agent for $target (release)"
CARGO_PROFILE_RELEASE_STRIP=symbols \
  cargo build --locked --release -p patchport-agent --bin patchport-agent --target "$target" >&2

mkdir -p "$out"
say "packaging"
deb=$(cargo deb --no-build --no-strip -p patchport-agent --target "$target" --output "$out" | tail -n 1)
# cargo-generate-rpm does not say what it wrote: into an empty directory.
rpm_dir=$(mktemp -d "$out/rpm.XXXXXX")
trap 'rm -rf "$rpm_dir"' EXIT
cargo generate-rpm -p agent --target "$target" --target-dir "$target_dir" --output "$rpm_dir/" >&2
built=("$rpm_dir"/*.rpm)
rpm="$out/$(basename "${built[0]}")"
mv "${built[0]}" "$rpm"

for f in "$deb" "$rpm"; do
  [[ -f "$f" ]] || { echo "expected package $f was not built" >&2; exit 1; }
  say "$f: $(( $(stat -c %s "$f") / 1024 )) KiB"
done
printf '%s\n%s\n' "$deb" "$rpm"
