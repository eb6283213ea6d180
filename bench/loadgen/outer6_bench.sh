#!/usr/bin/env bash
# IPv4 outer against IPv6 outer through one roomvpn-dataplane (memif server,
# 1 worker, ip and ip6 set, clients behind gateway and gateway6): the
# loadgen's NDR search alternating --dp (IPv4/UDP outside) and --outer6
# (IPv6/UDP outside), same sessions count, sizes and trials. Writes
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
cleanup() {
	[ -n "$dp_pid" ] && kill "$dp_pid" 2>/dev/null && wait "$dp_pid" 2>/dev/null
	rm -rf "$tmp" "/var/run/dpdk/${tag}dp" "/var/run/dpdk/${tag}lg"
}
trap cleanup EXIT
EAL=(--no-huge -m 256 --no-pci --log-level=lib.eal:error --log-level=pmd.net.memif:error)

"$build/dataplane/roomvpn-dataplane" "${EAL[@]}" -l 0,1 --file-prefix "${tag}dp" \
	--vdev "net_memif0,role=server,socket=$tmp/memif.sock" -- \
	--set ip=198.19.255.1/24 --set gateway=198.19.255.254 \
	--set ip6=2001:2:ff::1/64 --set gateway6=2001:2:ff::fe \
	--set agent-socket="$tmp/agent.sock" --set idle-sleep-us=20 >"$tmp/dp.log" 2>&1 &
dp_pid=$!
for _ in $(seq 100); do [ -S "$tmp/agent.sock" ] && break; sleep 0.1; done

run() { # LABEL FILE loadgen-options...
	local name=$1 file=$2
	shift 2
	"$build/bench/loadgen/roomvpn-loadgen" "${EAL[@]}" -l 0 --file-prefix "${tag}lg" \
		--vdev "net_memif0,role=client,socket=$tmp/memif.sock" -- \
		--agent "$tmp/agent.sock" --sizes 64,1400 --trial-time 1 --max-trials 8 \
		--resolution 2 --max-rate 600000 --label "$name" --json-out "$out/$file.json" "$@"
}
for r in $(seq "$rounds"); do
	run loadgen-outer4 "outer4-$r" --dp 198.19.255.1:1194 --gateway 198.19.255.254 "$@"
	run loadgen-outer6 "outer6-$r" --outer6 --dp6 [2001:2:ff::1]:1194 --gateway6 2001:2:ff::fe "$@"
done
