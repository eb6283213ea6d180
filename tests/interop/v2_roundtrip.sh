#!/usr/bin/env bash
# Two rvpeers (libroomvpn, P_DATA_V2) in two network namespaces: for every
# cipher, ICMP echo through their TUNs both ways; a re-key (SIGUSR2) in the
# middle of a ping run loses at most one packet and changes the key-id on the
# wire; duplicated packets are dropped as replays; and the TLS-over-TCP
# transport (cipher none inside).
# Usage: v2_roundtrip.sh PATH/TO/rvpeer   (as root)
set -uo pipefail
RV_TEST=v2_roundtrip
. "$(dirname "$0")/lib.sh"

RVPEER=${1:-${RVPEER:-}}
[ -x "$RVPEER" ] || fail "usage: $0 PATH/TO/rvpeer"
need_root ping ip python3 openvpn openssl tshark
PORT=45001

rv_two_ns
openvpn --genkey secret "$RV_TMP/k1" >/dev/null 2>&1 || fail "openvpn --genkey"
openvpn --genkey secret "$RV_TMP/k2" >/dev/null 2>&1 || fail "openvpn --genkey"
n=0

# start_pair CIPHER KEY-ID ARGS-A -- ARGS-B: peers a (ns A) and b (ns B), TUN
# addresses 10.78.0.1 <-> 10.78.0.2; pids in PID_A, PID_B.
start_pair() {
	local cipher=$1 kid=$2
	shift 2
	local a=() b=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do a+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	b=("$@")
	n=$((n + 1))
	TUN_A=tun${RV_TAG}${n}a
	TUN_B=tun${RV_TAG}${n}b
	rv_peer "$NS_A" a "$TUN_A" --mode v2 --cipher "$cipher" --key "$RV_TMP/k1" \
		--key-direction 0 --peer-id 0x000a01 --key-id "$kid" "${a[@]}"
	PID_A=$LAST_PID
	rv_peer "$NS_B" b "$TUN_B" --mode v2 --cipher "$cipher" --key "$RV_TMP/k1" \
		--key-direction 1 --peer-id 0x000a01 --key-id "$kid" "${b[@]}"
	PID_B=$LAST_PID
	rv_tun_up "$NS_A" "$TUN_A" 10.78.0.1 10.78.0.2
	rv_tun_up "$NS_B" "$TUN_B" 10.78.0.2 10.78.0.1
}

stop_pair() {
	rv_stop "$PID_A"
	rv_stop "$PID_B"
	rv_expect_clean a
	rv_expect_clean b
}

# ping_both NAME: 5 pings each way, none lost, and the peers saw them.
ping_both() {
	log "$1: ping a -> b"
	ping_ok "$NS_A" 10.78.0.2 5 || fail "$1: pings a -> b lost"
	log "$1: ping b -> a"
	ping_ok "$NS_B" 10.78.0.1 5 || fail "$1: pings b -> a lost"
	ip netns exec "$NS_A" ping -n -q -c 3 -i 0.2 -W 2 -s 1300 10.78.0.2 >/dev/null ||
		fail "$1: 1300-byte pings a -> b lost"
}

for cipher in AES-256-GCM CHACHA20-POLY1305 AES-256-CBC; do
	start_pair "$cipher" 1 --local 10.99.0.1:$PORT --remote 10.99.0.2:$PORT -- \
		--local 10.99.0.2:$PORT --remote 10.99.0.1:$PORT
	ping_both "$cipher"
	stop_pair
	for p in a b; do
		[ "$(rv_stat "$RV_TMP/$p.json" tun_out)" -ge 13 ] || fail "$cipher: $p: too few packets to its TUN"
		[ "$(rv_stat "$RV_TMP/$p.json" mode)" = "$cipher" ] || fail "$cipher: $p: wrong mode"
	done
done

# Replay: a sends every 2nd packet twice; b must drop each copy as a replay
# (ping would print "DUP!" for a copy that got through).
log "replay: a sends every 2nd packet twice"
start_pair AES-256-GCM 1 --local 10.99.0.1:$PORT --remote 10.99.0.2:$PORT \
	--duplicate-every 2 -- --local 10.99.0.2:$PORT --remote 10.99.0.1:$PORT
out=$(ip netns exec "$NS_A" ping -n -c 10 -i 0.1 -W 2 10.78.0.2 2>&1) || fail "replay: pings lost"
echo "$out" | grep -q "DUP!" && fail "replay: a duplicated packet got through: $out"
rv_stop "$PID_A"
rv_stop "$PID_B"
dups=$(rv_stat "$RV_TMP/a.json" duplicates_out)
replays=$(rv_stat "$RV_TMP/b.json" drops.replay)
log "replay: a sent $dups copies, b dropped $replays as replays"
[ "$dups" -ge 5 ] && [ "$replays" -ge 1 ] && [ "$replays" -le "$dups" ] ||
	fail "replay: expected b to drop a's copies as replays (copies $dups, replay drops $replays)"
[ "$(rv_stat "$RV_TMP/b.json" drops.auth)" = 0 ] || fail "replay: b counted auth drops"
[ "$(rv_stat "$RV_TMP/b.json" tun_out)" -ge 10 ] || fail "replay: b delivered too few packets"

# Re-key: key-id 7 -> 1 (the next key-id skips 0). Only a gets SIGUSR2; b
# switches when the first packet with the new key authenticates. tshark
# decodes the key-id of every packet on the wire as it passes.
log "re-key: AES-256-GCM, key-id 7 -> 1 in the middle of 50 pings"
CAP=$RV_TMP/rekey.txt
rv_capture "$NS_A" "$VETH_A" $PORT "$CAP" ip.src openvpn.keyid
start_pair AES-256-GCM 7 --local 10.99.0.1:$PORT --remote 10.99.0.2:$PORT \
	--next-key "$RV_TMP/k2" -- --local 10.99.0.2:$PORT --remote 10.99.0.1:$PORT \
	--next-key "$RV_TMP/k2"
ip netns exec "$NS_A" ping -n -c 50 -i 0.1 -W 2 10.78.0.2 >"$RV_TMP/rekey-ping.txt" 2>&1 &
PING_PID=$!
RV_PIDS+=("$PING_PID")
wait_for 20 "5 packets with key-id 7 each way" \
	eval 'rv_lines_from "$CAP" 10.99.0.1 5 2 7 && rv_lines_from "$CAP" 10.99.0.2 5 2 7'
kill -USR2 "$PID_A"
wait "$PING_PID"
tail -3 "$RV_TMP/rekey-ping.txt" | sed 's/^/    /'
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$RV_TMP/rekey-ping.txt")
if [ -z "$received" ] || [ "$received" -lt 49 ]; then
	fail "re-key: more than 1 of 50 pings lost"
fi
wait_for 20 "packets with key-id 1 each way" \
	eval 'rv_lines_from "$CAP" 10.99.0.1 1 2 1 && rv_lines_from "$CAP" 10.99.0.2 1 2 1'
rv_stop "$PID_A"
rv_stop "$PID_B"
rv_capture_stop
for p in a b; do
	[ "$(rv_stat "$RV_TMP/$p.json" key_id)" = 1 ] || fail "re-key: $p still seals with key-id $(rv_stat "$RV_TMP/$p.json" key_id)"
	[ "$(rv_stat "$RV_TMP/$p.json" rekeys)" = 1 ] || fail "re-key: $p did not count one re-key"
done
rv_expect_clean a
rv_expect_clean b
for src in 10.99.0.1 10.99.0.2; do
	ids=$(awk -v s=$src '$1 == s { print $2 }' "$CAP" | uniq | tr '\n' ' ')
	log "re-key: key-ids on the wire from $src, in order: $ids"
	[ "$ids" = "7 1 " ] || fail "re-key: expected key-id 7 then 1 from $src, got: $ids"
done

# TLS over TCP: a listens, b connects; the data channel inside uses cipher none.
log "TLS over TCP (cipher none inside)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=rvpeer-test -keyout "$RV_TMP/tls.key" -out "$RV_TMP/tls.crt" >/dev/null 2>&1 ||
	fail "openssl req (test certificate)"
start_pair none 1 --tcp-listen --local 10.99.0.1:$PORT --cert "$RV_TMP/tls.crt" \
	--cert-key "$RV_TMP/tls.key" -- --tcp --remote 10.99.0.1:$PORT --ca "$RV_TMP/tls.crt"
ping_both "tcp"
stop_pair
for p in a b; do
	[ "$(rv_stat "$RV_TMP/$p.json" tcp_connects)" -ge 1 ] || fail "tcp: $p never connected"
	[ "$(rv_stat "$RV_TMP/$p.json" tun_out)" -ge 13 ] || fail "tcp: $p: too few packets to its TUN"
done
log "PASS"
