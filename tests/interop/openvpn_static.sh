#!/usr/bin/env bash
# Interop: stock openvpn (static-key mode, AES-256-CBC + HMAC-SHA256) in one
# network namespace, rvpeer (libroomvpn) in another; ICMP echo both ways
# through the tunnel, with each key-direction on each side; openvpn's log
# must show no authentication or replay errors and rvpeer's counters no
# auth/replay drops. A last round with mismatched key-directions checks that
# both detectors do see errors. The tunnel is dual-stack (openvpn's
# --ifconfig-ipv6, the same addresses on rvpeer's TUN): the first round also
# pings over IPv6 inside it, both ways.
# Usage: openvpn_static.sh PATH/TO/rvpeer   (as root)
set -uo pipefail
RV_TEST=openvpn_static
. "$(dirname "$0")/lib.sh"

RVPEER=${1:-${RVPEER:-}}
[ -x "$RVPEER" ] || fail "usage: $0 PATH/TO/rvpeer"
need_root openvpn ping ip python3
PORT=41194
OVPN_ERRORS="Authenticate/Decrypt packet error|PID_ERR|bad packet ID|[Rr]eplay attack|backtrack|HMAC authentication failed|cipher final failed"

rv_two_ns
KEY=$RV_TMP/static.key
openvpn --genkey secret "$KEY" >/dev/null 2>&1 || fail "openvpn --genkey secret"
round=0

# start_both OVPN-DIR PEER-DIR: openvpn in ns A (10.77.0.1, fd00:77::1), rvpeer
# in ns B (10.77.0.2, fd00:77::2); sets OVPN_PID, PEER_PID, OVPN_LOG, STATS.
start_both() {
	round=$((round + 1))
	local tun_a=tun${RV_TAG}${round}a tun_b=tun${RV_TAG}${round}b
	OVPN_LOG=$RV_TMP/openvpn$round.log
	STATS=$RV_TMP/rvpeer.json
	log "round $round: openvpn (key-direction $1) in $NS_A, rvpeer (key-direction $2) in $NS_B"
	rv_bg "$NS_A" "$RV_TMP/openvpn$round.out" openvpn --dev "$tun_a" --dev-type tun \
		--secret "$KEY" "$1" --cipher AES-256-CBC --auth SHA256 --proto udp \
		--local 10.99.0.1 --lport $PORT --remote 10.99.0.2 --rport $PORT \
		--ifconfig 10.77.0.1 10.77.0.2 --ifconfig-ipv6 fd00:77::1/64 fd00:77::2 \
		--tun-mtu 1400 --ping 1 --verb 4 --log "$OVPN_LOG"
	OVPN_PID=$LAST_PID
	rv_peer "$NS_B" rvpeer "$tun_b" --mode static --secret "$KEY" --key-direction "$2" \
		--local 10.99.0.2:$PORT --remote 10.99.0.1:$PORT --ping 1
	PEER_PID=$LAST_PID
	rv_tun_up "$NS_B" "$tun_b" 10.77.0.2 10.77.0.1
	ip -n "$NS_B" -6 addr add fd00:77::2 peer fd00:77::1 dev "$tun_b" nodad ||
		fail "IPv6 address on $tun_b"
}

# pings_seen: openvpn's keepalive pings (--ping 1, sent once the link is
# idle) have reached rvpeer.
pings_seen() {
	rv_counters "$PEER_PID" rvpeer && [ "$(rv_stat "$STATS" pings_in)" -ge 1 ]
}

# good_round OVPN-DIR PEER-DIR [ipv6]
good_round() {
	start_both "$1" "$2"
	# openvpn completes its start-up once a packet from the peer
	# authenticates (rvpeer's keepalive ping, --ping 1).
	wait_for 10 "openvpn initialization" grep -q "Initialization Sequence Completed" "$OVPN_LOG"
	log "ping openvpn -> rvpeer"
	ping_ok "$NS_A" 10.77.0.2 5 || fail "ping from the openvpn side to rvpeer lost packets"
	log "ping rvpeer -> openvpn"
	ping_ok "$NS_B" 10.77.0.1 5 || fail "ping from the rvpeer side to openvpn lost packets"
	log "larger packets (1300 B payload, many CBC blocks) both ways"
	ip netns exec "$NS_A" ping -n -q -c 3 -i 0.2 -W 2 -s 1300 10.77.0.2 >/dev/null ||
		fail "1300-byte pings openvpn -> rvpeer"
	ip netns exec "$NS_B" ping -n -q -c 3 -i 0.2 -W 2 -s 1300 10.77.0.1 >/dev/null ||
		fail "1300-byte pings rvpeer -> openvpn"
	if [ "${3:-}" = ipv6 ]; then
		log "IPv6 inside the tunnel: ping6 both ways (1300 B too)"
		ping_ok "$NS_A" fd00:77::2 3 || fail "ping6 from the openvpn side to rvpeer lost packets"
		ping_ok "$NS_B" fd00:77::1 3 || fail "ping6 from the rvpeer side to openvpn lost packets"
		ip netns exec "$NS_B" ping -n -q -c 2 -i 0.2 -W 2 -s 1300 fd00:77::1 >/dev/null ||
			fail "1300-byte ping6 rvpeer -> openvpn"
	fi
	log "openvpn's keepalive pings reach rvpeer"
	wait_for 10 "a keepalive ping from openvpn" pings_seen

	rv_stop "$PEER_PID"
	kill -0 "$OVPN_PID" 2>/dev/null || fail "openvpn exited early (see $OVPN_LOG)"
	rv_stop "$OVPN_PID"
	cat "$STATS"
	grep -E "$OVPN_ERRORS" "$OVPN_LOG" && fail "openvpn logged authentication/replay errors (above)"
	rv_expect_clean rvpeer
	[ "$(rv_stat "$STATS" packets_in)" -ge 16 ] || fail "rvpeer received too few packets"
	[ "$(rv_stat "$STATS" tun_out)" -ge 16 ] || fail "rvpeer wrote too few packets to its TUN"
	[ "$(rv_stat "$STATS" packets_out)" -ge 16 ] || fail "rvpeer sent too few packets"
}

good_round 0 1 ipv6
good_round 1 0

# Negative control: both sides send with the same key slice, so neither can
# authenticate the other; both must notice.
start_both 0 0
ip netns exec "$NS_B" ping -n -q -c 3 -i 0.2 -W 1 10.77.0.1 >/dev/null 2>&1 &&
	fail "negative control: ping passed with mismatched key-directions"
auth_drops() {
	rv_counters "$PEER_PID" rvpeer && [ "$(rv_stat "$STATS" drops.auth)" -ge 1 ]
}
wait_for 10 "rvpeer to count openvpn's packets as auth drops" auth_drops
wait_for 10 "openvpn to log authentication errors" grep -qE "$OVPN_ERRORS" "$OVPN_LOG"
log "negative control: mismatched keys are detected on both sides"
log "PASS"
