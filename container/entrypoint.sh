#!/bin/sh
# The image's commands: `gateway` (the default), or its options alone (--config FILE, --help), start
# the gateway; `sim` starts the simulators; anything else runs as given (sh, node). exec, so that
# the stop signal reaches node itself, whose handler drains.
set -e
case "${1:-gateway}" in
  gateway) [ "$#" -gt 0 ] && shift; exec node /app/dist/src/main.js "$@" ;;
  -*) exec node /app/dist/src/main.js "$@" ;;
  sim) shift; exec node /app/dist/sim/main.js "$@" ;;
esac
exec "$@"
