#!/usr/bin/env bash
# IPv6 outside the tunnel, in network namespaces (topology from
# relay_lib.sh): roomvpn-dataplane with ip = 10.99.0.1/24 and
# ip6 = fd00:99::1/64 on net_af_packet, rvpeer members, IPv4 inside.
#   members 1, 2: links with ONLY IPv6 addresses (fd00:99::11, ::12):
#     (a) they ping each other through the data plane (neighbour discovery
#         both ways, IPv6/UDP with checksums), their sessions show the
#         IPv6 endpoints;
#     (c) tshark decodes an IPv6 outer packet as OpenVPN P_DATA_V2 with the
#         member's peer-id;
#   member 3: dual-stack link, starts on IPv4 (10.99.0.13), then moves to
#     IPv6 (rvpeer --move-to, same keys and packet-ids):
#     (b) ping answers before and after, the session shows the new endpoint
#         (moved only by an authenticated packet);
#   the TCP fallback listens on IPv6 too (tcp-listen6): a TLS handshake
#   over IPv6 to it succeeds.
# usage: outer6_netns.sh BUILD_DIR
set -uo pipefail
BIN=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
RUN=$(mktemp -d /tmp/rv-outer6.XXXXXX)
SFX=o6$$
. "$HERE/relay_lib.sh"
trap rv_cleanup EXIT
PY=/usr/bin/python3
TCP_IP6=fd00:99::2

# session_outer PEER_ID: the session's outer endpoint as dpctl shows it.
session_outer() {
	dpctl --json sessions | $PY -c '
import json, sys
d = json.load(sys.stdin)
rows = d["sessions"] if isinstance(d, dict) else d
print([r for r in rows if r["peer_id"] == int(sys.argv[1])][0].get("outer", "-"))' "$1"
}

# wait_outer PEER_ID WANT: poll (up to 10 s) until the session shows WANT.
wait_outer() {
	local i
	for i in $(seq 50); do
		[ "$(session_outer "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}

setup() {
	rv_topology
	# no MLD snooping: the data plane joins no group, its solicited-node
	# group must still reach it
	ip -n "$NS_SW" link set br0 type bridge mcast_snooping 0
	rv_member6 1
	rv_member6 2
	rv_member6 3 dual
	rv_dp_kernel_if
	ip netns exec "$NS_DP" sysctl -qw net.ipv6.conf.k0.disable_ipv6=0
	ip -n "$NS_DP" addr add $TCP_IP6/64 dev k0 nodad
	rv_dataplane rss 1 --set ip6=$DP_IP6/64 --set tcp=true --set tcp-listen=$DP_TCP_IP:443 \
		--set "tcp-listen6=[$TCP_IP6]:443" --set tcp-cert="$RUN/tcp-cert.pem" \
		--set tcp-key="$RUN/tcp-key.pem" || exit 1
	dpctl room add 1 --subnet 10.77.0.0/24 >/dev/null || exit 1
	local n
	for n in 1 2 3; do
		dpctl session add --peer-id $n --room 1 --vip 10.77.0.$((10 + n)) \
			--cipher AES-256-GCM --key "$(rv_key k$n)" >/dev/null || exit 1
	done
	rv_peer 1 1 10.77.0.11 k1 --local "[fd00:99::11]:5000" --remote "[$DP_IP6]:$DP_PORT" --ping 1
	rv_peer 2 2 10.77.0.12 k2 --local "[fd00:99::12]:5000" --remote "[$DP_IP6]:$DP_PORT" --ping 1
	rv_peer 3 3 10.77.0.13 k3 --move-to "[$DP_IP6]:$DP_PORT" --ping 1
}

t_ipv6_only() {
	if in_ns 1 ping -c 3 -i 0.2 -W 2 10.77.0.12 >"$RUN/ping12.log" 2>&1 &&
		in_ns 2 ping -c 3 -i 0.2 -W 2 10.77.0.11 >>"$RUN/ping12.log" 2>&1; then
		pass "IPv6-only outer links, IPv4 inside: members 1 <-> 2"
	else
		fail "members 1 <-> 2 over IPv6 outside"
		cat "$RUN/ping12.log" "$RUN/peer1.log"
	fi
	local o1 o2
	o1=$(session_outer 1)
	o2=$(session_outer 2)
	if [ "$o1" = "[fd00:99::11]:5000" ] && [ "$o2" = "[fd00:99::12]:5000" ]; then
		pass "sessions show the IPv6 endpoints ($o1, $o2)"
	else
		fail "session endpoints: '$o1' '$o2' (want [fd00:99::11]:5000, [fd00:99::12]:5000)"
	fi
}

t_move() {
	if in_ns 3 ping -c 2 -i 0.2 -W 2 10.77.0.11 >"$RUN/ping3.log" 2>&1 &&
		wait_outer 3 10.99.0.13:5000; then
		pass "member 3 on IPv4 outside ($(session_outer 3))"
	else
		fail "member 3 before the move: $(session_outer 3)"
		cat "$RUN/ping3.log"
	fi
	local port
	kill -s RTMIN "$PEER_PID_3"
	# the new socket's port is the kernel's choice: read it in member 3's netns
	for _ in $(seq 50); do
		port=$(in_ns 3 ss -Hnul -6 2>/dev/null | awk '{print $4}' | sed 's/.*://' | head -1)
		[ -n "$port" ] && break
		sleep 0.1
	done
	# ping carries the move: its packets authenticate from the new address
	if in_ns 3 ping -c 3 -i 0.2 -W 2 10.77.0.11 >>"$RUN/ping3.log" 2>&1 &&
		in_ns 1 ping -c 2 -i 0.2 -W 2 10.77.0.13 >>"$RUN/ping3.log" 2>&1; then
		pass "after moving to IPv6 outside, member 3 <-> member 1 still answers"
	else
		fail "member 3 after the move"
		cat "$RUN/ping3.log" "$RUN/peer3.log"
	fi
	if wait_outer 3 "[fd00:99::13]:$port"; then
		pass "session 3 moved to its IPv6 endpoint ([fd00:99::13]:$port)"
	else
		fail "session 3 endpoint after the move: $(session_outer 3) (want [fd00:99::13]:$port)"
	fi
}

t_tshark() {
	if ! command -v tshark >/dev/null; then
		fail "tshark is not installed"
		return
	fi
	local cap=$RUN/cap.txt
	in_ns 1 tshark -n -l -i eth0 -f "ip6 and udp port $DP_PORT" -c 6 -a duration:20 \
		-d "udp.port==$DP_PORT,openvpn" -T fields -e ipv6.src -e openvpn.opcode \
		-e openvpn.peerid >"$cap" 2>"$cap.err" &
	local cap_pid=$!
	PIDS+=("$cap_pid")
	for _ in $(seq 100); do
		grep -q "Capturing on" "$cap.err" && break
		sleep 0.1
	done
	in_ns 1 ping -c 3 -i 0.2 -W 2 10.77.0.12 >/dev/null 2>&1
	wait "$cap_pid"
	# member 1 -> data plane: P_DATA_V2 (9) with peer-id 1
	if awk -F'\t' '$1 == "fd00:99::11" && ($2 == "0x09" || $2 == "9") && $3 == "1" { n++ } END { exit !(n >= 1) }' "$cap"; then
		pass "tshark decodes the IPv6 outer packets as OpenVPN P_DATA_V2, peer-id 1"
	else
		fail "tshark decode of IPv6 outer packets:"
		cat "$cap" "$cap.err"
	fi
}

t_tcp6() {
	if in_ns 1 timeout 10 openssl s_client -connect "[$TCP_IP6]:443" -brief </dev/null \
		>"$RUN/tls6.log" 2>&1 && grep -q "CONNECTION ESTABLISHED" "$RUN/tls6.log"; then
		pass "TCP fallback: TLS over IPv6 to [$TCP_IP6]:443"
	else
		fail "TCP fallback over IPv6"
		cat "$RUN/tls6.log"
	fi
}

t_drops() {
	local junk
	junk=$(drop_count nd_not_for_us)
	log "drops: nd_not_for_us $junk (router solicitations, MLD reports from the members' kernels)," \
		"outer6_no_checksum $(drop_count outer6_no_checksum)"
}

setup
t_ipv6_only
t_move
t_tshark
t_tcp6
t_drops
if [ "$FAILS" -ne 0 ]; then
	echo "--- data plane"
	dpctl stats 2>&1 | head -40
	tail -20 "$RUN/dp.log"
	echo "$FAILS check(s) failed"
	exit 1
fi
echo "all outer IPv6 checks passed"
