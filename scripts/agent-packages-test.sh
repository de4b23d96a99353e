#!/usr/bin/env bash
# Tests the agent's packages (scripts/agent-packages.sh), as root on Debian:
#  - the .deb for real: dpkg -i on this machine; files, modes, owners; the
#    service neither enabled nor started before enrolment; the binary runs
#    from /usr/bin; dpkg -r stops and disables it and keeps
#    /etc/patchport/agent.json; dpkg --purge deletes it;
#  - the .rpm: contents, modes and scriptlets (rpm -qp), then rpm --root
#    into a scratch root: files and modes, install, erase (agent.json kept);
#  - the scripts of both with systemd "running": in a scratch root with a
#    systemctl that only logs, what they ask of systemd on install,
#    upgrade and removal.
# Usage: scripts/agent-packages-test.sh [DEB RPM]   (default: build them)
# Refuses to run on a machine that has any trace of the agent, and leaves
# none: the machine ends as it was.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $(id -u) -eq 0 ]] || { echo "run as root: the .deb is installed for real" >&2; exit 1; }
for tool in dpkg rpm file systemctl systemd-analyze chroot; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done

if [[ $# -eq 2 ]]; then
  deb=$1 rpm=$2
else
  built=$(scripts/agent-packages.sh)
  deb=$(tail -n 2 <<<"$built" | head -n 1) rpm=$(tail -n 1 <<<"$built")
fi
deb=$(realpath "$deb") rpm=$(realpath "$rpm")

unit=patchport-agent.service
traces=(/usr/bin/patchport-agent "/usr/lib/systemd/system/$unit" "/lib/systemd/system/$unit"
  "/etc/systemd/system/$unit" "/etc/systemd/system/multi-user.target.wants/$unit"
  /etc/patchport /var/lib/patchport-agent)
for path in "${traces[@]}"; do
  if [[ -e $path || -L $path ]]; then
    echo "refusing to run: $path exists (this machine has the agent)" >&2
    exit 1
  fi
done
if dpkg-query -W -f '${db:Status-Status}' patchport-agent 2>/dev/null | grep -qv '^not-installed$'; then
  echo "refusing to run: dpkg knows patchport-agent" >&2
  exit 1
fi

scratch=$(mktemp -d /tmp/agent-packages-test.XXXXXX)
packages_before=$(dpkg-query -W -f '${Package} ${Version} ${db:Status-Status}\n' | sort)
cleanup() {
  # Only what this test may have created: it refused to start otherwise.
  if dpkg-query -W -f '${db:Status-Status}' patchport-agent 2>/dev/null | grep -qv '^not-installed$'; then
    dpkg --purge patchport-agent >/dev/null 2>&1 || true
  fi
  rm -rf "${traces[@]}" "$scratch"
}
trap cleanup EXIT

failures=0
ok() { printf 'ok   %s\n' "$1"; }
fail() { printf 'FAIL %s\n' "$1"; failures=$((failures + 1)); }
# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what"; fi; }
# same DESCRIPTION GOT WANT
same() { if [[ $2 == "$3" ]]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi; }
# What stat says of PATH: type, mode, owner.
meta() { stat -c '%F %a %U:%G' "$1"; }
absent() { [[ ! -e $1 && ! -L $1 ]]; }
contains() { grep -qF -- "$2" <<<"$1"; }
lacks() { ! grep -qE -- "$2" <<<"$1"; }

echo "== .deb on this machine: $deb"
out=$(dpkg -i "$deb" 2>&1) || { echo "$out"; fail "dpkg -i"; exit 1; }
same "dpkg -i installs it" "$(dpkg-query -W -f '${db:Status-Abbrev}' patchport-agent)" "ii "
check "dpkg -i warns about nothing" lacks "$out" '[Ww]arning'
same "binary" "$(meta /usr/bin/patchport-agent)" "regular file 755 root:root"
same "unit" "$(meta /usr/lib/systemd/system/$unit)" "regular file 644 root:root"
same "configuration directory" "$(meta /etc/patchport)" "directory 700 root:root"
same "state directory" "$(meta /var/lib/patchport-agent)" "directory 700 root:root"
files=$(dpkg -L patchport-agent)
check "the fleet simulator is not packaged" lacks "$files" 'fleet'
check "the binary is static (runs on any glibc or none)" contains "$(file -L /usr/bin/patchport-agent)" 'static'
installed_unit=$(cat /usr/lib/systemd/system/$unit)
check "the unit runs /usr/bin/patchport-agent" contains "$installed_unit" 'ExecStart=/usr/bin/patchport-agent run'
check "the unit waits for enrolment" contains "$installed_unit" 'ConditionPathExists=/etc/patchport/agent.json'
check "systemd-analyze verify accepts the unit" systemd-analyze verify /usr/lib/systemd/system/$unit
same "not enabled before enrolment" "$(systemctl is-enabled $unit 2>&1 || true)" "disabled"
check "no symlink in any .wants directory" absent "$(find /etc/systemd/system -name $unit -print -quit)"
# Other agents (tests, a demo) may run from elsewhere: only this one counts.
runs_from_usr_bin() {
  local exe
  for exe in /proc/[0-9]*/exe; do
    [[ $(readlink "$exe" 2>/dev/null) == /usr/bin/patchport-agent ]] && return 0
  done
  return 1
}
if runs_from_usr_bin; then fail "not running"; else ok "not running"; fi
help=$(/usr/bin/patchport-agent --help 2>&1) || fail "patchport-agent --help exits 0"
check "patchport-agent --help runs from /usr/bin" contains "$help" 'enroll'
same "patchport-agent --version" "$(/usr/bin/patchport-agent --version)" \
  "patchport-agent $(dpkg-query -W -f '${Version}' patchport-agent | sed 's/-[^-]*$//')"

# What enrolment leaves, and an admin enabling the service.
printf '{"url":"https://patchport.example","server_id":1,"credential":"1.test"}\n' >/etc/patchport/agent.json
chmod 600 /etc/patchport/agent.json
config_sum=$(sha256sum </etc/patchport/agent.json)
systemctl enable $unit >/dev/null 2>&1
same "enabled by the admin (offline)" "$(systemctl is-enabled $unit 2>&1 || true)" "enabled"

out=$(dpkg -r patchport-agent 2>&1) || { echo "$out"; fail "dpkg -r"; }
same "dpkg -r removes it" "$(dpkg-query -W -f '${db:Status-Abbrev}' patchport-agent)" "rc "
check "dpkg -r removes the binary" absent /usr/bin/patchport-agent
check "dpkg -r removes the unit" absent /usr/lib/systemd/system/$unit
check "dpkg -r disables the service" absent /etc/systemd/system/multi-user.target.wants/$unit
same "dpkg -r keeps agent.json" "$(sha256sum </etc/patchport/agent.json 2>&1)" "$config_sum"
same "... with its mode" "$(meta /etc/patchport/agent.json)" "regular file 600 root:root"

dpkg -i "$deb" >/dev/null 2>&1 || fail "dpkg -i again"
same "reinstalling keeps agent.json" "$(sha256sum </etc/patchport/agent.json 2>&1)" "$config_sum"
same "reinstalling enables nothing" "$(systemctl is-enabled $unit 2>&1 || true)" "disabled"

# Purge deletes what the agent wrote, and only that.
printf 'a CA an admin put here\n' >/etc/patchport/ca.pem
mkdir -p /var/lib/patchport-agent/spool && touch /var/lib/patchport-agent/spool/report.json
out=$(dpkg --purge patchport-agent 2>&1) || { echo "$out"; fail "dpkg --purge"; }
same "dpkg --purge forgets it" "$(dpkg-query -W -f '${db:Status-Status}' patchport-agent 2>/dev/null || echo not-installed)" "not-installed"
check "dpkg --purge deletes agent.json" absent /etc/patchport/agent.json
check "dpkg --purge keeps other files in /etc/patchport" test -f /etc/patchport/ca.pem
check "dpkg --purge deletes the state directory" absent /var/lib/patchport-agent
rm /etc/patchport/ca.pem && rmdir /etc/patchport

echo "== .rpm contents: $rpm"
same "name, version, arch" "$(rpm -qp --qf '%{NAME} %{VERSION}-%{RELEASE} %{ARCH}' "$rpm" 2>/dev/null)" \
  "patchport-agent $(rpm -qp --qf '%{VERSION}' "$rpm" 2>/dev/null)-1 x86_64"
same "files, modes, owners" \
  "$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' "$rpm" 2>/dev/null | sort -k3)" \
  "-rwxr-xr-x root:root /usr/bin/patchport-agent
-rw-r--r-- root:root /usr/lib/systemd/system/patchport-agent.service"
requires=$(rpm -qpR "$rpm" 2>/dev/null)
check "requires no shared library (static binary)" lacks "$requires" '\.so'
scripts=$(rpm -qp --scripts "$rpm" 2>/dev/null)
for pair in "postinstall:post" "preuninstall:preun" "postuninstall:postun"; do
  tag=${pair%%:*} file=agent/packaging/rpm/${pair#*:}.sh
  got=$(awk -v tag="$tag" '/^[a-z]+ scriptlet/ { on = ($1 == tag); next } on' <<<"$scripts")
  same "the $tag scriptlet is $file" "$got" "$(cat "$file")"
done
check "%post enables and starts nothing" lacks \
  "$(awk '/^[a-z]+ scriptlet/ { on = ($1 == "postinstall"); next } on' <<<"$scripts" | grep -v '^[[:space:]]*#')" \
  '(^|[[:space:]])(enable|start)([[:space:]]|$)'

# A root where scripts can run: sh and what the .deb's scripts call, with
# their libraries; with LOGGING_SYSTEMCTL a systemctl that records its
# arguments, and /run/systemd/system as on a machine running systemd.
make_root() {
  local root=$1 tool lib
  mkdir -p "$root"/{bin,usr/bin,tmp,var/tmp,etc}
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  for tool in sh mkdir chown chmod rm rmdir; do
    cp -L "$(command -v $tool)" "$root/usr/bin/$tool"
    for lib in $(ldd "$(command -v $tool)" | grep -o '/[^ ]*'); do
      mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"
    done
  done
  ln -s ../usr/bin/sh "$root/bin/sh"
  mkdir -p "$root/dev" && mknod -m 666 "$root/dev/null" c 1 3
  if [[ ${2:-} == LOGGING_SYSTEMCTL ]]; then
    printf '#!/bin/sh\necho "$*" >>/systemctl.log\n' >"$root/usr/bin/systemctl"
    chmod 755 "$root/usr/bin/systemctl"
    mkdir -p "$root/run/systemd/system"
  fi
}
rpm_in() { local root=$1; shift; rpm --root "$root" --nodeps "$@" 2>&1; }

echo "== .rpm into a scratch root (no systemd)"
root=$scratch/rpm-root
make_root "$root"
rpm --root "$root" --initdb
out=$(rpm_in "$root" -i "$rpm") || { echo "$out"; fail "rpm -i"; }
check "rpm -i runs its scriptlets cleanly" lacks "$out" 'scriptlet|error|warning'
same "binary" "$(meta "$root/usr/bin/patchport-agent")" "regular file 755 root:root"
same "unit" "$(meta "$root/usr/lib/systemd/system/$unit")" "regular file 644 root:root"
same "configuration directory" "$(meta "$root/etc/patchport")" "directory 700 root:root"
same "state directory" "$(meta "$root/var/lib/patchport-agent")" "directory 700 root:root"
check "the binary runs from the root" contains "$(chroot "$root" /usr/bin/patchport-agent --help 2>&1)" 'enroll'
same "the binary is the .deb's" "$(sha256sum <"$root/usr/bin/patchport-agent")" \
  "$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/patchport-agent | sha256sum)"
printf '{}\n' >"$root/etc/patchport/agent.json"
out=$(rpm_in "$root" -e patchport-agent) || { echo "$out"; fail "rpm -e"; }
check "rpm -e removes the binary" absent "$root/usr/bin/patchport-agent"
check "rpm -e keeps agent.json" test -f "$root/etc/patchport/agent.json"

echo "== scripts with systemd running (a systemctl that logs)"
root=$scratch/systemd-root
make_root "$root" LOGGING_SYSTEMCTL
rpm --root "$root" --initdb
log() { paste -sd ';' "$root/systemctl.log" 2>/dev/null || true; : >"$root/systemctl.log"; }
rpm_in "$root" -i "$rpm" >/dev/null || fail "rpm -i"
same "rpm install: reload only" "$(log)" "daemon-reload"
rpm_in "$root" -U --replacepkgs "$rpm" >/dev/null || fail "rpm -U"
same "rpm upgrade: restart if running" "$(log)" "daemon-reload;try-restart patchport-agent.service;daemon-reload"
rpm_in "$root" -e patchport-agent >/dev/null || fail "rpm -e"
same "rpm erase: stop, disable, reload" "$(log)" \
  "stop patchport-agent.service;--no-reload disable patchport-agent.service;daemon-reload"
dpkg-deb -e "$deb" "$root/deb"
chroot "$root" /deb/postinst configure || fail "postinst configure"
same "deb install: reload only" "$(log)" "daemon-reload"
same "deb install: configuration directory" "$(meta "$root/etc/patchport")" "directory 700 root:root"
chroot "$root" /deb/postinst configure 0.0.1-1 || fail "postinst configure (upgrade)"
same "deb upgrade: restart if running" "$(log)" "daemon-reload;try-restart patchport-agent.service"
chroot "$root" /deb/prerm upgrade 0.2.0-1 || fail "prerm upgrade"
same "deb upgrade: the old prerm stops nothing" "$(log)" ""
chroot "$root" /deb/prerm remove || fail "prerm remove"
chroot "$root" /deb/postrm remove || fail "postrm remove"
same "deb remove: stop, disable, reload" "$(log)" \
  "stop patchport-agent.service;--no-reload disable patchport-agent.service;daemon-reload"

echo "== this machine as it was"
for path in "${traces[@]}"; do check "no $path" absent "$path"; done
same "the same Debian packages" "$(dpkg-query -W -f '${Package} ${Version} ${db:Status-Status}\n' | sort)" "$packages_before"

if ((failures)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
