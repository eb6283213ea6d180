#!/usr/bin/env bash
# Inner IPv6 through the real data plane, in network namespaces:
# roomvpn-dataplane on net_af_packet (2 workers), rvpeer members with
# dual-stack TUNs, rooms and sessions (prefix6, vip6) through roomvpn-dpctl.
#
# usage: relay6_netns.sh BUILD_DIR
#
# Room 1 (10.77.0.0/24, fd00:77::/64): members 1 (fd00:77::11), 2 (::12),
# 4 (::14). Room 2, the SAME prefixes: member 3 (::13). Checks: ping6
# between members and to the room's server address (prefix6::1), room
# isolation (v6_no_route), a spoofed IPv6 source
# (v6_spoofed), ping6 to ff02::1 reaching every other member of the room
# and no one else, and dpctl's listings of prefix6 and vip6.
set -uo pipefail
BIN=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
RUN=$(mktemp -d /tmp/rv-dp6-test.XXXXXX)
SFX=v6$$
. "$HERE/relay_lib.sh"
trap rv_cleanup EXIT

setup() {
	rv_topology
	local n room
	for n in 1 2 3 4; do rv_member $n; done
	rv_dataplane rss 2 || exit 1
	dpctl room add 1 --subnet 10.77.0.0/24 --prefix6 fd00:77::/64 >/dev/null || exit 1
	dpctl room add 2 --subnet 10.77.0.0/24 --prefix6 fd00:77::/64 >/dev/null || exit 1
	for n in 1 2 3 4; do
		room=1
		[ $n = 3 ] && room=2
		dpctl session add --peer-id $n --room $room --vip 10.77.0.$((10 + n)) \
			--vip6 fd00:77::$((10 + n)) --cipher AES-256-GCM --key "$(rv_key k$n)" \
			>/dev/null || exit 1
		rv_peer $n $n 10.77.0.$((10 + n)) k$n --ping 1
		# as the client configures its TUN: no link-local address (the data
		# plane cannot verify one: dropped as v6_spoofed), the vip6 alone
		in_ns $n ip -6 addr flush dev tun0 scope link
		in_ns $n ip -6 addr add fd00:77::$((10 + n))/64 dev tun0 nodad || exit 1
	done
}

t_listing() {
	if dpctl rooms | grep -q "fd00:77::/64" && dpctl sessions | grep -q "fd00:77::12" &&
		dpctl --json sessions | /usr/bin/python3 -c '
import json, sys
s = {x["peer_id"]: x for x in json.load(sys.stdin)["sessions"]}
assert s[2]["vip6"] == "fd00:77::12" and s[3]["vip6"] == "fd00:77::13", s'; then
		pass "dpctl lists prefix6 and vip6"
	else
		fail "dpctl listings: $(dpctl rooms; dpctl sessions)"
	fi
}

t_ping6() {
	local out
	out=$(in_ns 1 ping -n -c 3 -i 0.2 -W 2 fd00:77::12 2>&1)
	if grep -q " 3 received" <<<"$out" &&
		in_ns 4 ping -n -q -c 2 -i 0.2 -W 2 -s 1300 fd00:77::11 >/dev/null 2>&1; then
		pass "ping6 between members of room 1 (64 and 1300 B)"
	else
		fail "ping6 1 -> 2: $out"
	fi
	out=$(in_ns 2 ping -n -c 2 -i 0.2 -W 2 fd00:77::1 2>&1)
	grep -q " 2 received" <<<"$out" && pass "the room's server address fd00:77::1 answers ping6" ||
		fail "ping6 fd00:77::1: $out"
}

t_isolation6() {
	local before grew
	before=$(drop_count v6_no_route)
	in_ns 3 ping -n -c 3 -i 0.2 -W 1 fd00:77::11 >/dev/null 2>&1 &&
		fail "room 2's member reached room 1 over IPv6"
	grew=$(wait_drops v6_no_route "$before" 3)
	[ "$grew" -ge 3 ] && pass "room isolation over IPv6 ($grew v6_no_route)" ||
		fail "isolation: v6_no_route +$grew (want +3)"
}

t_spoof6() {
	local before grew
	before=$(drop_count v6_spoofed)
	in_ns 1 ip -6 addr add fd00:77::99/128 dev tun0 nodad
	in_ns 1 ping -n -c 3 -i 0.2 -W 1 -I fd00:77::99 fd00:77::12 >/dev/null 2>&1 &&
		fail "spoofed IPv6 source got an answer"
	in_ns 1 ip -6 addr del fd00:77::99/128 dev tun0
	grew=$(wait_drops v6_spoofed "$before" 3)
	[ "$grew" -ge 3 ] && pass "spoofed IPv6 source dropped and counted ($grew)" ||
		fail "v6_spoofed +$grew (want +3)"
}

t_multicast6() {
	local b2 b3 b4 out
	b2=$(peer_stat 2 tun_out)
	b3=$(peer_stat 3 tun_out)
	b4=$(peer_stat 4 tun_out)
	# (ping stops once it has 4 replies: two echoes answered by both)
	out=$(in_ns 1 ping -n -c 4 -i 0.3 -W 2 -I tun0 ff02::1 2>&1)
	local a2 a3 a4 i
	for i in $(seq 10); do # the members' counters, until both moved
		a2=$(peer_stat 2 tun_out)
		a4=$(peer_stat 4 tun_out)
		[ $((a2 - b2)) -ge 1 ] && [ $((a4 - b4)) -ge 1 ] && break
	done
	a3=$(peer_stat 3 tun_out)
	if [ $((a2 - b2)) -ge 1 ] && [ $((a4 - b4)) -ge 1 ] && [ "$a3" = "$b3" ] &&
		grep -q "from fd00:77::12" <<<"$out" && grep -q "from fd00:77::14" <<<"$out"; then
		pass "ping6 ff02::1 reached members 2 and 4 and they answered; none in room 2"
	else
		fail "ff02::1: member 2 got $((a2 - b2)), member 4 $((a4 - b4)), room 2 $((a3 - b3)): $out"
	fi
}

setup
log "data plane: rss, 2 workers, dual-stack rooms"
for t in listing ping6 isolation6 spoof6 multicast6; do
	t_$t
done
if [ $FAILS -ne 0 ]; then
	echo "--- data plane log"
	tail -20 "$RUN/dp.log"
	dpctl stats
	echo "relay6_netns: $FAILS failure(s)"
	exit 1
fi
echo "relay6_netns: all passed"
