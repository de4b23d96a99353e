# patchport-agent %preun ($1: 0 on erase, 1 on upgrade). On erase the
# agent stops and is disabled; /etc/patchport/agent.json (the server's
# credential) and the directories %post made are not the package's files,
# so rpm leaves them in place.
if [ "$1" -eq 0 ]; then
	if [ -d /run/systemd/system ]; then
		systemctl stop patchport-agent.service >/dev/null 2>&1 || :
	fi
	# Works without a running systemd too: it only removes the symlinks.
	if command -v systemctl >/dev/null 2>&1; then
		systemctl --no-reload disable patchport-agent.service >/dev/null 2>&1 || :
	fi
fi
exit 0
