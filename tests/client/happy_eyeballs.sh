#!/usr/bin/env bash
# The client's data channel with a data plane reachable over IPv6 and IPv4
# (RFC 8305 flavour, client/chan_udp.c): rv_dc_tool (the client's channel
# with a TUN) is given both endpoints, [fd00:99::1]:1194 and 10.99.0.1:1194,
# of a real roomvpn-dataplane (ip + ip6, topology of
# tests/dataplane/relay_lib.sh). Two dual-stack members, each with one
# family silently broken (a neighbour entry pointing at a MAC nobody has:
# packets vanish, no error comes back):
#   member 1: IPv4 broken -> keeps the IPv6 endpoint;
#   member 2: IPv6 broken -> after the race delay it tries IPv4 as well and
#             keeps it;
# each channel's status shows the endpoint in use, the data plane's session
# the member's address of that family, and the two members ping each other
# (one over IPv6 outside, the other over IPv4). No timing is asserted: the
# broken family never answers, whatever the delays.
# usage: happy_eyeballs.sh BUILD_DIR
set -uo pipefail
BIN=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
RUN=$(mktemp -d /tmp/rv-he.XXXXXX)
SFX=he$$
# shellcheck source=../dataplane/relay_lib.sh
. "$SRC/tests/dataplane/relay_lib.sh"
trap rv_cleanup EXIT
PY=/usr/bin/python3
NOWHERE=02:00:00:00:00:99

# status N EXPR: Python expression over member N's channel status (as s).
status() {
	$PY -c 'import json,sys; s=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$RUN/dc$1.json" "$2" 2>/dev/null
}
wait_status() { # wait_status N EXPR: up to 15 s
	for _ in $(seq 150); do
		[ "$(status "$1" "$2")" = True ] && return 0
		sleep 0.1
	done
	return 1
}
session_outer() {
	dpctl --json sessions | $PY -c '
import json, sys
d = json.load(sys.stdin)
rows = d["sessions"] if isinstance(d, dict) else d
print([r for r in rows if r["peer_id"] == int(sys.argv[1])][0].get("outer", "-"))' "$1"
}

# dc N: the client's data channel in member N with both endpoints.
dc() {
	ip netns exec "$(mns "$1")" "$BIN/tests/client/rv_dc_tool" --tun rvc0 --addr 10.77.0.$((10 + $1))/24 \
		--mtu 1380 --udp "[$DP_IP6]:$DP_PORT" --udp-alt "$DP_IP:$DP_PORT" \
		--key "$(rv_key k$1)" --cipher AES-256-GCM --peer-id "$1" --probe-ms 300 \
		--status "$RUN/dc$1.json" >"$RUN/dc$1.out" 2>"$RUN/dc$1.err" &
	PIDS+=("$!") # the tool itself (not a subshell): cleanup stops it
	DC_PID[$1]=$!
}
declare -A DC_PID

rv_topology
ip -n "$NS_SW" link set br0 type bridge mcast_snooping 0
rv_member6 1 dual
rv_member6 2 dual
rv_dataplane rss 1 --set ip6=$DP_IP6/64 || exit 1
dpctl room add 1 --subnet 10.77.0.0/24 >/dev/null || exit 1
for n in 1 2; do
	dpctl session add --peer-id $n --room 1 --vip 10.77.0.$((10 + n)) --cipher AES-256-GCM \
		--key "$(rv_key k$n)" >/dev/null || exit 1
done
in_ns 1 ip neigh replace $DP_IP lladdr $NOWHERE dev eth0 nud permanent
in_ns 2 ip -6 neigh replace $DP_IP6 lladdr $NOWHERE dev eth0 nud permanent
dc 1
dc 2

if wait_status 1 's["echo_rx"] > 0' && [ "$(status 1 's["endpoint"]')" = "udp [$DP_IP6]:$DP_PORT" ]; then
	pass "member 1 (IPv4 broken) keeps the IPv6 endpoint: $(status 1 's["endpoint"]')"
else
	fail "member 1: endpoint '$(status 1 's["endpoint"]')', echo_rx $(status 1 's["echo_rx"]')"
	cat "$RUN/dc1.err"
fi
if wait_status 2 's["echo_rx"] > 0' && [ "$(status 2 's["endpoint"]')" = "udp $DP_IP:$DP_PORT" ]; then
	pass "member 2 (IPv6 broken) falls back to and keeps IPv4: $(status 2 's["endpoint"]')"
else
	fail "member 2: endpoint '$(status 2 's["endpoint"]')', echo_rx $(status 2 's["echo_rx"]')"
	cat "$RUN/dc2.err"
fi
o1=$(session_outer 1)
o2=$(session_outer 2)
case "$o1/$o2" in
"[fd00:99::11]:"*/10.99.0.12:*) pass "data plane sessions: $o1, $o2" ;;
*) fail "data plane sessions: '$o1' '$o2' (want [fd00:99::11]:*, 10.99.0.12:*)" ;;
esac
if in_ns 1 ping -c 3 -i 0.2 -W 2 10.77.0.12 >"$RUN/ping.log" 2>&1; then
	pass "member 1 (IPv6 outside) <-> member 2 (IPv4 outside)"
else
	fail "ping member 1 -> member 2"
	cat "$RUN/ping.log"
fi
# The network goes away under a member that has chosen its endpoint: its
# sends fail (ENETUNREACH); the channel must go on idling and stop at
# SIGTERM (a failed send once retried itself for ever, at 100% CPU, deaf
# to signals).
ip -n "$(mns 2)" link set eth0 down
sleep 1 # a few probes (every 300 ms) meet the dead link
kill -TERM "${DC_PID[2]}"
for _ in $(seq 30); do kill -0 "${DC_PID[2]}" 2>/dev/null || break; sleep 0.1; done
if kill -0 "${DC_PID[2]}" 2>/dev/null; then
	fail "member 2's channel did not stop at SIGTERM with its network gone: $(ps -o pcpu=,stat= -p "${DC_PID[2]}")"
else
	pass "network gone under a chosen endpoint: the channel idles and stops at SIGTERM"
fi

if [ "$FAILS" -ne 0 ]; then
	dpctl stats 2>&1 | head -40
	echo "$FAILS check(s) failed"
	exit 1
fi
echo "all happy-eyeballs checks passed"
