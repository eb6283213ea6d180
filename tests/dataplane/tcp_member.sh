#!/usr/bin/env bash
# A member attached over the TCP fallback (TLS) pings a member attached over
# UDP, through roomvpn-dataplane in network namespaces; then it moves back to
# UDP with one authenticated packet. The UDP member pings the room's server
# address (subnet + 1), which the data plane answers.
#
#   ns dp: dp0 driven by the data plane (net_af_packet, 10.99.0.1, UDP 1194)
#          k0 10.99.0.2: kernel address of the TCP fallback (TLS, port 8443)
#   ns m1: rvpeer over UDP, TUN 10.77.0.11 (the kernel answers the pings)
#   ns m2: agent_tcp_member.py over TLS/TCP as 10.77.0.12
#
# usage: tcp_member.sh BUILD_DIR
set -uo pipefail
BIN=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
RUN=$(mktemp -d /tmp/rv-tcp-member.XXXXXX)
SFX=h6$$
. "$HERE/relay_lib.sh"
trap rv_cleanup EXIT
PY=/usr/bin/python3
TCP_IP=10.99.0.2
TCP_PORT=8443

# The data plane with the TCP fallback on; its kernel address is on k0.
start_dataplane() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj /CN=rv-dataplane -keyout "$RUN/tls.key" -out "$RUN/tls.crt" >/dev/null 2>&1 ||
		return 1
	ip link add k0 netns "$NS_DP" type veth peer name p-k0 netns "$NS_SW"
	ip -n "$NS_SW" link set p-k0 master br0 up
	ip -n "$NS_DP" addr add $TCP_IP/24 dev k0
	ip -n "$NS_DP" link set k0 up
	rv_dataplane rss 1 --set tcp=true --set tcp-listen=$TCP_IP:$TCP_PORT \
		--set tcp-cert="$RUN/tls.crt" --set tcp-key="$RUN/tls.key"
}

session_field() { # PEER FIELD
	dpctl --json sessions | $PY -c '
import json, sys
s = {x["peer_id"]: x for x in json.load(sys.stdin)["sessions"]}
print(s[int(sys.argv[1])][sys.argv[2]])' "$1" "$2"
}

# wait_field PEER FIELD VALUE: until the session shows it (at most 10 s).
wait_field() {
	local i
	for i in $(seq 50); do
		[ "$(session_field "$1" "$2")" = "$3" ] && return 0
		sleep 0.2
	done
	return 1
}

rv_topology
rv_member 1
rv_member 2
start_dataplane || exit 1
dpctl room add 1 --subnet 10.77.0.0/24 >/dev/null || exit 1
dpctl session add --peer-id 1 --room 1 --vip 10.77.0.11 --cipher AES-256-GCM \
	--key "$(rv_key k1)" >/dev/null || exit 1
dpctl session add --peer-id 2 --room 1 --vip 10.77.0.12 --cipher AES-256-GCM \
	--key "$(rv_key k2)" >/dev/null || exit 1
rv_peer 1 1 10.77.0.11 k1 --ping 1
# member 1's first ping authenticates: then its UDP address is known
wait_field 1 transport udp || fail "member 1 never reached the data plane over UDP"

# The room's server address (subnet + 1, advertised to clients) answers ping.
if in_ns 1 ping -c 3 -i 0.2 -W 3 10.77.0.1 >"$RUN/ping-server.log" 2>&1; then
	pass "member 1 pings the room's server address 10.77.0.1 ($(grep -o '[0-9]* received' "$RUN/ping-server.log"))"
else
	fail "ping 10.77.0.1 (the room's server address): $(tail -2 "$RUN/ping-server.log")"
fi
srv=$(dpctl --json stats | $PY -c 'import json,sys; print(sum(l.get("server_ip_replies", 0) for l in json.load(sys.stdin)["lcores"]))' 2>&1)
[ "${srv:-0}" -ge 1 ] 2>/dev/null && pass "server_ip_replies: $srv" || fail "server_ip_replies: $srv"

if in_ns 2 $PY "$HERE/agent_tcp_member.py" --server $TCP_IP:$TCP_PORT --ca "$RUN/tls.crt" \
	--key "$(rv_key k2)" --peer-id 2 --vip 10.77.0.12 --target 10.77.0.11 \
	--count 5 --need 3 >"$RUN/member2.log" 2>&1; then
	pass "member over TCP pings a member over UDP ($(tail -1 "$RUN/member2.log"))"
else
	fail "TCP member -> UDP member"
	cat "$RUN/member2.log"
fi
[ "$(session_field 2 transport)" = tcp ] && pass "session 2 is attached over TCP" ||
	fail "session 2 transport: $(session_field 2 transport)"
tcp=$(dpctl --json stats | $PY -c 'import json,sys; t=json.load(sys.stdin)["tcp"]; print(t["frames_in"], t["frames_out"])')
read -r fin fout <<<"$tcp"
[ "$fin" -ge 4 ] && [ "$fout" -ge 3 ] && pass "TCP frames in/out: $fin/$fout" ||
	fail "TCP frames in/out: $fin/$fout"

# Move back to UDP: one authenticated packet from member 2 over UDP.
in_ns 2 $PY "$HERE/agent_tcp_member.py" --server $TCP_IP:$TCP_PORT --ca "$RUN/tls.crt" \
	--key "$(rv_key k2)" --peer-id 2 --vip 10.77.0.12 --target 10.77.0.11 \
	--count 1 --need 0 --pid-start 1000 --then-udp $DP_IP:$DP_PORT >"$RUN/member2b.log" 2>&1
wait_field 2 transport udp && pass "session 2 moved back to UDP" ||
	fail "session 2 transport after a UDP packet: $(session_field 2 transport)"

# Unbound: "none" frames on a connection that never authenticated are dropped
# (anyone can open a TLS connection and claim a peer-id).
auth0=$(drop_count auth)
if in_ns 2 $PY "$HERE/agent_tcp_member.py" --server $TCP_IP:$TCP_PORT --ca "$RUN/tls.crt" \
	--key "$(rv_key k2)" --peer-id 2 --vip 10.77.0.12 --target 10.77.0.11 \
	--count 3 --pid-start 2000 --no-bind >"$RUN/member2c.log" 2>&1; then
	pass "an unbound TCP connection gets nothing through ($(tail -1 "$RUN/member2c.log"))"
else
	fail "unbound TCP connection: $(tail -1 "$RUN/member2c.log")"
fi
auth1=$(drop_count auth)
[ "$auth1" -ge $((auth0 + 3)) ] && [ "$(session_field 2 transport)" = udp ] &&
	pass "its frames were dropped as auth ($auth0 -> $auth1); session 2 stays on UDP" ||
	fail "auth drops $auth0 -> $auth1, transport $(session_field 2 transport)"

if [ "$FAILS" -ne 0 ]; then
	echo "--- data plane log"
	tail -20 "$RUN/dp.log"
	dpctl stats
	echo "$FAILS check(s) failed"
	exit 1
fi
echo "TCP member test passed"
