#!/usr/bin/env bash
# IPv4 outer against IPv6 outer through the same roomvpn-dataplane (memif
# server, 1 worker, ip and ip6 set, clients behind gateway and gateway6): per
# round one data plane and two NDR searches with the same sessions count,
# sizes and trials, one with --dp (IPv4/UDP outside) and one with --outer6
# (IPv6/UDP outside), the order swapped every round. Writes
# OUT/outer4-N.json and OUT/outer6-N.json.
# Usage: bench/loadgen/outer6_bench.sh BUILD_DIR OUT_DIR [ROUNDS [extra loadgen options]]
# then: bench/loadgen/results_md.py OUT_DIR/*.json
set -euo pipefail
build=$(realpath "$1")
out=$(realpath -m "$2")
rounds=${3:-1}
shift $(($# < 3 ? $# : 3))
mkdir -p "$out"
tmp=$(mktemp -d /tmp/rv-loadgen-outer6.XXXXXX)
tag="lgo$$"
dp_pid=""
stop_dp() {
	[ -n "$dp_pid" ] && kill "$dp_pid" 2>/dev/null && wait "$dp_pid" 2>/dev/null
	dp_pid=""
	rm -rf "/var/run/dpdk/${tag}dp" "$tmp/agent.sock" "$tmp/memif.sock"
}
cleanup() {
	stop_dp || true
	rm -rf "$tmp" "/var/run/dpdk/${tag}lg"
}
trap cleanup EXIT
EAL=(--no-huge -m 256 --no-pci --log-level=lib.eal:error --log-level=pmd.net.memif:error)

start_dp() {
	"$build/dataplane/roomvpn-dataplane" "${EAL[@]}" -l 0,1 --file-prefix "${tag}dp" \
		--vdev "net_memif0,role=server,socket=$tmp/memif.sock" -- \
		--set ip=198.19.255.1/24 --set gateway=198.19.255.254 \
		--set ip6=2001:2:ff::1/64 --set gateway6=2001:2:ff::fe \
		--set agent-socket="$tmp/agent.sock" --set idle-sleep-us=20 >"$tmp/dp.log" 2>&1 &
	dp_pid=$!
	for _ in $(seq 100); do [ -S "$tmp/agent.sock" ] && return 0; sleep 0.1; done
	echo "the data plane did not start:" >&2
	cat "$tmp/dp.log" >&2
	return 1
}

run() { # FAMILY ROUND extra-options...
	local fam=$1 round=$2 addr
	shift 2
	if [ "$fam" = 4 ]; then
		addr=(--dp 198.19.255.1:1194 --gateway 198.19.255.254)
	else
		addr=(--outer6 --dp6 [2001:2:ff::1]:1194 --gateway6 2001:2:ff::fe)
	fi
	"$build/bench/loadgen/roomvpn-loadgen" "${EAL[@]}" -l 0 --file-prefix "${tag}lg" \
		--vdev "net_memif0,role=client,socket=$tmp/memif.sock" -- \
		--agent "$tmp/agent.sock" "${addr[@]}" --sizes 64,1400 --trial-time 1 \
		--max-trials 8 --resolution 2 --max-rate 600000 --label "loadgen-outer$fam" \
		--json-out "$out/outer$fam-$round.json" "$@"
}
# The memif server of DPDK 22.11 does not survive many client reconnects:
# two loadgen runs per data plane.
for r in $(seq "$rounds"); do
	start_dp
	if [ $((r % 2)) = 1 ]; then order=(4 6); else order=(6 4); fi
	for fam in "${order[@]}"; do run "$fam" "$r" "$@"; done
	stop_dp
done
