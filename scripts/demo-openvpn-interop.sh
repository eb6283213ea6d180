#!/usr/bin/env bash
# Interop demo: build roomvpn, then show a live tunnel between a
# stock OpenVPN (static-key mode, AES-256-CBC + HMAC-SHA256) and rvpeer, the
# test peer built on libroomvpn, each in its own network namespace, with
# ping both ways through it. Everything is torn down at the end.
# Usage: scripts/demo-openvpn-interop.sh [--no-build]   (as root, Debian 12)
# RV_BUILD_DIR=dir picks another build directory than build/ (with --no-build).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
RV_TEST=demo-openvpn-interop

build=1
for a in "$@"; do
	case "$a" in
	--no-build) build=0 ;;
	-h | --help)
		sed -n '2,7p' "$0"
		exit 0
		;;
	*)
		echo "$RV_TEST: unknown option $a (try --help)" >&2
		exit 2
		;;
	esac
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ $build = 1 ]; then
	say "Installing dependencies and building (scripts/setup.sh --no-asan --no-fuzz)"
	./scripts/setup.sh --no-asan --no-fuzz || { echo "$RV_TEST: build failed" >&2; exit 1; }
fi
RVPEER=$ROOT/${RV_BUILD_DIR:-build}/tests/peer/rvpeer
[ -x "$RVPEER" ] || { echo "$RV_TEST: $RVPEER not built (run without --no-build)" >&2; exit 1; }

# Namespaces, veth, process clean-up on any exit: tests/interop/lib.sh.
. "$ROOT/tests/interop/lib.sh"
need_root openvpn ping ip python3
PORT=41194

say "Two network namespaces joined by a veth (the 'internet' of this demo)"
rv_two_ns
echo "  $NS_A: $VETH_A 10.99.0.1/24   <-->   $NS_B: $VETH_B 10.99.0.2/24"

say "A fresh OpenVPN static key (openvpn --genkey secret)"
KEY=$RV_TMP/static.key
openvpn --genkey secret "$KEY" >/dev/null 2>&1 || fail "openvpn --genkey secret"
grep -m1 -A2 BEGIN "$KEY" | sed 's/^/  /'
echo "  ... (256 bytes of key material: two directions x (cipher 64 + HMAC 64))"

say "Stock openvpn $(openvpn --version | head -1 | cut -d' ' -f2) in $NS_A: tunnel address 10.77.0.1, key-direction 0"
TUN_A=tun${RV_TAG}a
TUN_B=tun${RV_TAG}b
OVPN_LOG=$RV_TMP/openvpn.log
set -- openvpn --dev "$TUN_A" --dev-type tun --secret "$KEY" 0 --cipher AES-256-CBC \
	--auth SHA256 --proto udp --local 10.99.0.1 --lport $PORT --remote 10.99.0.2 \
	--rport $PORT --ifconfig 10.77.0.1 10.77.0.2 --tun-mtu 1400 --ping 1 --verb 4 \
	--log "$OVPN_LOG"
echo "  \$ $*"
rv_bg "$NS_A" "$RV_TMP/openvpn.out" "$@"
OVPN_PID=$LAST_PID

say "rvpeer (libroomvpn + TUN + UDP) in $NS_B: tunnel address 10.77.0.2, key-direction 1"
STATS=$RV_TMP/rvpeer.json
set -- "$RVPEER" --tun "$TUN_B" --mode static --secret "$KEY" --key-direction 1 \
	--local 10.99.0.2:$PORT --remote 10.99.0.1:$PORT --ping 1 --stats-file "$STATS"
echo "  \$ ${*#"$ROOT/"}"
rv_bg "$NS_B" "$RV_TMP/rvpeer.log" "$@"
PEER_PID=$LAST_PID
wait_for 10 "rvpeer's TUN device" ip -n "$NS_B" link show "$TUN_B"
rv_tun_up "$NS_B" "$TUN_B" 10.77.0.2 10.77.0.1
echo "  \$ ip addr add 10.77.0.2 peer 10.77.0.1 dev $TUN_B; ip link set $TUN_B mtu 1400 up"
wait_for 10 "openvpn to accept rvpeer's first packet" \
	grep -q "Initialization Sequence Completed" "$OVPN_LOG"
grep -E "Static Key Encryption|Peer Connection Initiated|Initialization Sequence Completed" \
	"$OVPN_LOG" | sed 's/^[0-9-]* [0-9:]* us=[0-9]* /  openvpn: /'

say "ping from the OpenVPN side (10.77.0.1) to rvpeer (10.77.0.2)"
ping_ok "$NS_A" 10.77.0.2 5 || fail "ping openvpn -> rvpeer lost packets"

say "ping from the rvpeer side (10.77.0.2) to OpenVPN (10.77.0.1)"
ping_ok "$NS_B" 10.77.0.1 5 || fail "ping rvpeer -> openvpn lost packets"

say "rvpeer's counters (SIGUSR1): packets in/out and every drop reason"
rv_counters "$PEER_PID" rvpeer
python3 -m json.tool "$STATS" | sed 's/^/  /'
rv_expect_clean rvpeer

say "openvpn's log: authentication or replay errors?"
if grep -E "Authenticate/Decrypt packet error|PID_ERR|bad packet ID|[Rr]eplay attack|HMAC authentication failed" \
	"$OVPN_LOG"; then
	fail "openvpn reported errors (above)"
fi
echo "  none (openvpn --verb 4 log: $(wc -l <"$OVPN_LOG") lines)"

say "Tearing down (processes, TUN devices, namespaces)"
rv_stop "$PEER_PID"
rv_stop "$OVPN_PID"
echo "  done: stock OpenVPN and libroomvpn exchanged ICMP both ways, no errors."
