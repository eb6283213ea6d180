#!/usr/bin/env bash
# Runs roomvpn-dataplane for the agent tests: one worker on a net_ring port
# (no traffic; idle lcores sleep), agent socket as the last argument.
# usage: agent_run_dataplane.sh DATAPLANE_BIN SOCKET_PATH
set -eu
DP=$1
SOCK=$2
exec "$DP" -l 0-1 --no-huge -m 256 --no-pci --file-prefix "rv-h6-agent-$$" \
	--vdev net_ring0 --log-level=lib.eal:error -- \
	--set ip=10.99.0.1/24 --set agent-socket="$SOCK" --set idle-sleep-us=1000
