# patchport-agent %post ($1: 1 on install, 2 on upgrade): creates the
# agent's private directories and starts nothing. The service needs
# /etc/patchport/agent.json, which only `patchport-agent enroll` writes;
# the admin then runs `systemctl enable --now patchport-agent`.
# The configuration holds the server's credential and the state directory
# its package list: root only.
mkdir -p /etc/patchport /var/lib/patchport-agent
chown 0:0 /etc/patchport /var/lib/patchport-agent
chmod 0700 /etc/patchport /var/lib/patchport-agent
# Only with systemd running (not in a container or chroot): load the new
# unit, and on upgrade restart an agent that was running so the new binary
# runs. A stopped or never enrolled agent stays as it was.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
	if [ "$1" -gt 1 ]; then
		systemctl try-restart patchport-agent.service >/dev/null 2>&1 || :
	fi
fi
exit 0
