#!/usr/bin/env bash
# Interop: stock openvpn (static-key mode, AES-256-CBC + HMAC-SHA256) in one
# network namespace, rvpeer (libroomvpn) in another; ICMP echo both ways
# through the tunnel; openvpn's log must show no authentication or replay
# errors and rvpeer's counters no auth/replay drops.
# Usage: openvpn_static.sh PATH/TO/rvpeer   (as root)
set -uo pipefail
RV_TEST=openvpn_static
. "$(dirname "$0")/lib.sh"

RVPEER=${1:-${RVPEER:-}}
[ -x "$RVPEER" ] || fail "usage: $0 PATH/TO/rvpeer"
need_root openvpn ping ip python3
PORT=41194

rv_two_ns
KEY=$RV_TMP/static.key
openvpn --genkey secret "$KEY" >/dev/null 2>&1 || fail "openvpn --genkey secret"
TUN_A=tun${RV_TAG}a
TUN_B=tun${RV_TAG}b
OVPN_LOG=$RV_TMP/openvpn.log
PEER_LOG=$RV_TMP/rvpeer.log
STATS=$RV_TMP/rvpeer.json

log "openvpn in $NS_A (10.99.0.1:$PORT, tunnel 10.77.0.1), key-direction 0"
rv_bg "$NS_A" "$RV_TMP/openvpn.out" openvpn --dev "$TUN_A" --dev-type tun \
	--secret "$KEY" 0 --cipher AES-256-CBC --auth SHA256 --proto udp \
	--local 10.99.0.1 --lport $PORT --remote 10.99.0.2 --rport $PORT \
	--ifconfig 10.77.0.1 10.77.0.2 --tun-mtu 1400 --ping 1 --verb 4 --log "$OVPN_LOG"
OVPN_PID=$LAST_PID

log "rvpeer in $NS_B (10.99.0.2:$PORT, tunnel 10.77.0.2), key-direction 1"
rv_bg "$NS_B" "$PEER_LOG" "$RVPEER" --tun "$TUN_B" --mode static --secret "$KEY" \
	--key-direction 1 --local 10.99.0.2:$PORT --remote 10.99.0.1:$PORT --ping 1 \
	--stats-file "$STATS"
PEER_PID=$LAST_PID

wait_for 10 "rvpeer's TUN $TUN_B" ip -n "$NS_B" link show "$TUN_B"
rv_tun_up "$NS_B" "$TUN_B" 10.77.0.2 10.77.0.1
# openvpn completes its start-up once a packet from the peer authenticates
# (rvpeer's keepalive ping, --ping 1).
wait_for 10 "openvpn initialization" grep -q "Initialization Sequence Completed" "$OVPN_LOG"

log "ping openvpn -> rvpeer"
ping_ok "$NS_A" 10.77.0.2 5 || fail "ping from the openvpn side to rvpeer lost packets"
log "ping rvpeer -> openvpn"
ping_ok "$NS_B" 10.77.0.1 5 || fail "ping from the rvpeer side to openvpn lost packets"
log "larger packets (1300 B payload, several CBC blocks) both ways"
ip netns exec "$NS_A" ping -n -q -c 3 -i 0.2 -W 2 -s 1300 10.77.0.2 >/dev/null ||
	fail "1300-byte pings openvpn -> rvpeer"
ip netns exec "$NS_B" ping -n -q -c 3 -i 0.2 -W 2 -s 1300 10.77.0.1 >/dev/null ||
	fail "1300-byte pings rvpeer -> openvpn"

log "openvpn's keepalive pings (--ping 1) reach rvpeer once the link is idle"
pings_seen() {
	kill -USR1 "$PEER_PID" && sleep 0.2 && [ "$(rv_stat "$STATS" pings_in)" -ge 1 ]
}
wait_for 10 "a keepalive ping from openvpn" pings_seen

rv_stop "$PEER_PID"
kill -0 "$OVPN_PID" 2>/dev/null || fail "openvpn exited early (see $OVPN_LOG)"
cat "$STATS"
grep -E "Authenticate/Decrypt packet error|PID_ERR|bad packet ID|[Rr]eplay attack|backtrack|HMAC authentication failed|cipher final failed" \
	"$OVPN_LOG" && fail "openvpn logged authentication/replay errors (above)"
for k in drops.auth drops.replay drops.malformed; do
	[ "$(rv_stat "$STATS" "$k")" = 0 ] || fail "rvpeer counted $k = $(rv_stat "$STATS" "$k")"
done
[ "$(rv_stat "$STATS" packets_in)" -ge 16 ] || fail "rvpeer received too few packets"
[ "$(rv_stat "$STATS" tun_out)" -ge 16 ] || fail "rvpeer wrote too few packets to its TUN"
[ "$(rv_stat "$STATS" packets_out)" -ge 16 ] || fail "rvpeer sent too few packets"
log "PASS"
