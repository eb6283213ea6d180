#!/usr/bin/env bash
# Runs roomvpn-dataplane (memif server, 1 worker) and roomvpn-loadgen against
# it on this machine: NDR/PDR for 64, 512, 1400 B and IMIX with 1 flow (2
# sessions) and with 1,000 sessions. Writes JSON and plots into OUT.
# Usage: bench/loadgen/run_bench.sh BUILD_DIR OUT_DIR [extra loadgen options]
set -euo pipefail
build=$(realpath "$1")
out=$(realpath -m "$2")
shift 2
mkdir -p "$out"
tmp=$(mktemp -d /tmp/rv-loadgen-bench.XXXXXX)
tag="lgb$$"
dp_pid=""
cleanup() {
	[ -n "$dp_pid" ] && kill "$dp_pid" 2>/dev/null && wait "$dp_pid" 2>/dev/null
	rm -rf "$tmp" "/var/run/dpdk/${tag}dp" "/var/run/dpdk/${tag}lg"
}
trap cleanup EXIT
EAL=(--no-huge -m 256 --no-pci --log-level=lib.eal:error --log-level=pmd.net.memif:error)

"$build/dataplane/roomvpn-dataplane" "${EAL[@]}" -l 0,1 --file-prefix "${tag}dp" \
	--vdev "net_memif0,role=server,socket=$tmp/memif.sock" -- \
	--set ip=198.19.255.1/24 --set gateway=198.19.255.254 --set agent-socket="$tmp/agent.sock" \
	--set idle-sleep-us=20 >"$tmp/dp.log" 2>&1 &
dp_pid=$!
for _ in $(seq 100); do [ -S "$tmp/agent.sock" ] && break; sleep 0.1; done

run() { # NAME loadgen-options...
	local name=$1
	shift
	"$build/bench/loadgen/roomvpn-loadgen" "${EAL[@]}" -l 0 --file-prefix "${tag}lg" \
		--vdev "net_memif0,role=client,socket=$tmp/memif.sock" -- \
		--agent "$tmp/agent.sock" --dp 198.19.255.1:1194 --gateway 198.19.255.254 \
		--sizes 64,512,1400,imix --trial-time 2 --max-trials 8 --resolution 2 \
		--max-rate 600000 --label "$name" --json-out "$out/$name.json" \
		--plot-out "$out/$name.png" "$@"
	# The memif server of DPDK 22.11 does not survive many client reconnects:
	# one data plane run per loadgen run.
}
run "${LG_NAME:-loadgen}" "$@"
