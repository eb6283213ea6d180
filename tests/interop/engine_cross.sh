#!/usr/bin/env bash
# A crypto engine on the wire against OpenSSL: rvpeer a on ENGINE, rvpeer b
# on openssl (P_DATA_V2), for each AEAD cipher: ICMP echo both ways and
# 1300-byte pings (many AES/ChaCha blocks); each side's counters must show
# the engine it was given (so the test never passes on openssl alone) and
# no authentication or replay drops. The CBC suites (and OpenVPN's static-key
# mode, tests/interop/openvpn_static.sh) always run on OpenSSL: no engine
# takes them, so they are not repeated here.
# Usage: engine_cross.sh PATH/TO/rvpeer ENGINE   (as root; exit 77 = ENGINE
# absent in this build or on this CPU, with the reason)
set -uo pipefail
RV_TEST=engine_cross
. "$(dirname "$0")/lib.sh"

RVPEER=${1:-${RVPEER:-}}
ENGINE=${2:-ipsec-mb}
[ -x "$RVPEER" ] || fail "usage: $0 PATH/TO/rvpeer ENGINE"
need_root ping ip python3 openvpn
PORT=45101

# An absent engine is a skip, not a failure: rvpeer says why and exits 77.
why=$("$RVPEER" --engine "$ENGINE" --help 2>&1 >/dev/null)
rc=$?
if [ $rc = 77 ]; then
	log "SKIP: $why"
	exit 77
fi

rv_two_ns
openvpn --genkey secret "$RV_TMP/k" >/dev/null 2>&1 || fail "openvpn --genkey"
n=0
for cipher in AES-256-GCM CHACHA20-POLY1305; do
	n=$((n + 1))
	ta=tun${RV_TAG}${n}a tb=tun${RV_TAG}${n}b
	rv_peer "$NS_A" a "$ta" --mode v2 --cipher "$cipher" --key "$RV_TMP/k" --key-direction 0 \
		--peer-id 0x000b01 --engine "$ENGINE" --local 10.99.0.1:$PORT --remote 10.99.0.2:$PORT
	PID_A=$LAST_PID
	rv_peer "$NS_B" b "$tb" --mode v2 --cipher "$cipher" --key "$RV_TMP/k" --key-direction 1 \
		--peer-id 0x000b01 --engine openssl --local 10.99.0.2:$PORT --remote 10.99.0.1:$PORT
	PID_B=$LAST_PID
	rv_tun_up "$NS_A" "$ta" 10.79.0.1 10.79.0.2
	rv_tun_up "$NS_B" "$tb" 10.79.0.2 10.79.0.1
	log "$cipher: $ENGINE (a) <-> openssl (b): ping both ways"
	ping_ok "$NS_A" 10.79.0.2 5 || fail "$cipher: pings a -> b lost"
	ping_ok "$NS_B" 10.79.0.1 5 || fail "$cipher: pings b -> a lost"
	ip netns exec "$NS_A" ping -n -q -c 3 -i 0.2 -W 2 -s 1300 10.79.0.2 >/dev/null ||
		fail "$cipher: 1300-byte pings a -> b lost"
	ip netns exec "$NS_B" ping -n -q -c 3 -i 0.2 -W 2 -s 1300 10.79.0.1 >/dev/null ||
		fail "$cipher: 1300-byte pings b -> a lost"
	rv_stop "$PID_A"
	rv_stop "$PID_B"
	rv_expect_clean a
	rv_expect_clean b
	got=$(rv_stat "$RV_TMP/a.json" engine)
	[ "$got" = "$ENGINE" ] || fail "$cipher: a sealed on engine '$got', not $ENGINE"
	got=$(rv_stat "$RV_TMP/b.json" engine)
	[ "$got" = openssl ] || fail "$cipher: b sealed on engine '$got', not openssl"
	for p in a b; do
		[ "$(rv_stat "$RV_TMP/$p.json" tun_out)" -ge 13 ] || fail "$cipher: $p: too few packets to its TUN"
	done
done
log "PASS"
