#!/bin/sh
# Runs the command in a network namespace of its own with only loopback up: the agents reach the
# gateway and the simulators on 127.0.0.1 and nothing else, whatever they try to phone home to.
# Needs root or unprivileged user namespaces (unshare -rn); says so plainly when neither works.
set -eu
if [ "${AGENTS_IN_NETNS:-}" = "1" ]; then
  ip link set lo up 2>/dev/null || true
  exec "$@"
fi
if [ "$(id -u)" = "0" ] && unshare -n true 2>/dev/null; then
  exec unshare -n env AGENTS_IN_NETNS=1 "$0" "$@"
fi
if unshare -rn true 2>/dev/null; then
  exec unshare -rn env AGENTS_IN_NETNS=1 "$0" "$@"
fi
echo "agents: cannot make a network namespace here (unshare -n needs root or user namespaces); the agents are not run outside one." >&2
exit 1
