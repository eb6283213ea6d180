#!/usr/bin/env bash
# The main job: build roomvpn, then run the whole system in network
# namespaces: roomvpn-control (gRPC over TLS), roomvpn-dataplane (DPDK on a
# veth, no hugepages), an admin, two users (alice, bob) and a room made with
# the real `roomvpn` CLI, both users' tunnels up (`roomvpn up`), then ping
# and a 3 s iperf3 run between their virtual IPs through the room, and
# `roomvpn status`. Everything is torn down at the end, also on failure.
# Usage: scripts/demo.sh [--no-build] [--bin-dir DIR [--unit-dir DIR]]   (as root, Debian 12)
# RV_BUILD_DIR=dir uses that build directory instead of build/ (with --no-build).
# --bin-dir DIR (or RV_BIN_DIR): installed programs (DIR/roomvpn-control, ...)
# instead of a build tree, e.g. the .debs unpacked into a throw-away root;
# implies --no-build. --unit-dir DIR (or RV_UNIT_DIR): start the control and
# data plane from the ExecStart= lines of DIR's systemd units.
# The stock-OpenVPN interop demo is scripts/demo-openvpn-interop.sh.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)

build=1
while [ $# -gt 0 ]; do
	case "$1" in
	--no-build) build=0 ;;
	--bin-dir | --unit-dir)
		[ $# -ge 2 ] || { echo "demo: $1 needs a directory" >&2; exit 2; }
		[ "$1" = --bin-dir ] && RV_BIN_DIR=$2 || RV_UNIT_DIR=$2
		shift
		;;
	-h | --help)
		sed -n '2,14p' "$0"
		exit 0
		;;
	*)
		echo "demo: unknown option $1 (try --help)" >&2
		exit 2
		;;
	esac
	shift
done
[ -z "${RV_BIN_DIR:-}" ] || { build=0; RV_BIN_DIR=$(realpath "$RV_BIN_DIR"); }
[ -z "${RV_UNIT_DIR:-}" ] || RV_UNIT_DIR=$(realpath "$RV_UNIT_DIR")
[ -z "${RV_UNIT_DIR:-}" ] || [ -n "${RV_BIN_DIR:-}" ] ||
	{ echo "demo: --unit-dir needs --bin-dir" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "demo: run as root (namespaces, TUN devices, DPDK)" >&2; exit 1; }

B=$'\033[1m' N=$'\033[0m'
say() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
# show WHO N CMD...: print the command as WHO types it, run it in ns mN, indent its output.
show() {
	local who=$1 n=$2
	shift 2
	printf '  %s@m%s$ %s\n' "$who" "$n" "$*"
	in_ns "$n" "$@" 2>&1 | sed 's/^/      /'
	return "${PIPESTATUS[0]}"
}
die() {
	printf '\n%sdemo: FAILED: %s%s\n' "$B" "$*" "$N" >&2
	for f in control.log dp.log cfg-alice/run/lan.log cfg-bob/run/lan.log; do
		[ -f "$RUN/$f" ] && { echo "--- $f (last lines)"; tail -8 "$RUN/$f"; } >&2
	done
	exit 1
}

if [ $build = 1 ]; then
	say "Installing dependencies and building (scripts/setup.sh --no-asan --no-fuzz)"
	./scripts/setup.sh --no-asan --no-fuzz || die "build failed"
fi
BIN=$ROOT/${RV_BUILD_DIR:-build}
if [ -n "${RV_BIN_DIR:-}" ]; then
	for p in roomvpn roomvpn-control roomvpn-dataplane roomvpn-dpctl; do
		[ -x "$RV_BIN_DIR/$p" ] || die "--bin-dir: no $RV_BIN_DIR/$p"
	done
else
	for p in client/roomvpn control/roomvpn-control dataplane/roomvpn-dataplane; do
		[ -x "$BIN/$p" ] || die "$BIN/$p not built (run without --no-build)"
	done
fi
for t in ip iperf3 ping openssl ss; do command -v $t >/dev/null || die "missing tool: $t"; done

RUN=$(mktemp -d /tmp/rv-demo.XXXXXX)
SFX=demo$$
source "$ROOT/scripts/lib/roomvpn_ns.sh"
trap rv_cleanup EXIT
trap 'exit 130' INT TERM
# roomvpn as a user would type it (the real binary runs with --config-dir in
# the user's namespace)
user_rv() {
	local u=$1 n=$2
	shift 2
	printf '  %s@m%s$ roomvpn %s\n' "$u" "$n" "$*"
	rv "$u" "$n" "$@" 2>&1 | sed 's/^/      /'
	return "${PIPESTATUS[0]}"
}

say "Network: namespaces joined by a bridge (the 'internet' of this demo)"
rv_topology
for n in 1 2 9; do rv_member "$n"; done
cat <<EOF
  $NS_DP   roomvpn-dataplane on veth dp0 = $DP_IP (UDP $DP_PORT; TLS/TCP fallback $TCP_IP:$TCP_PORT)
  $(mns 9)   roomvpn-control, gRPC over TLS on $CTL_IP:7443
  $(mns 1)   alice's machine, 10.99.0.11
  $(mns 2)   bob's machine,   10.99.0.12
EOF

say "A self-signed TLS certificate for the server (clients pin its SHA-256)"
rvn_cert || die "openssl req"
echo "  fingerprint $FP"

say "roomvpn-dataplane: DPDK on net_af_packet over dp0, no hugepages, 1 worker"
rvn_dataplane || die "the data plane did not start"
echo "  pid $DP_PID, agent socket $RUN/agent.sock"
echo "  started as: $(cat "$RUN/dataplane.cmd")"
grep -v '^$' "$RUN/dp.log" | head -4 | sed 's/^/  | /'

say "roomvpn-control: 'init' makes the admin account, 'serve' answers gRPC over TLS"
rvn_control admin-password-1 || die "roomvpn-control init"
echo "  pid $CTL_PID, state in $RUN/state"
echo "  started as: $(cat "$RUN/control.cmd")"

say "The admin logs in (password on stdin) and creates two users"
rvn_login admin admin-password-1 9 || die "admin login"
echo "  admin@m9$ roomvpn login $CTL_IP:7443 --username admin --fingerprint ${FP:0:17}... --password-stdin"
sed 's/^/      /' "$RUN/login.out"
for u in alice bob; do
	echo "$u-password-1" | user_rv admin 9 admin users create "$u" --password-stdin ||
		die "admin users create $u"
done

say "alice and bob log in from their machines"
rvn_login alice alice-password-1 1 || die "alice login"
rvn_login bob bob-password-1 2 || die "bob login"
echo "  alice@m1, bob@m2 logged in (device token in login.conf, mode $(stat -c %a "$RUN/cfg-alice/login.conf"))"

say "alice creates the room 'lan'; both join it"
user_rv alice 1 rooms create lan || die "rooms create lan"
user_rv alice 1 join lan || die "alice join lan"
user_rv bob 2 join lan || die "bob join lan"

say "Both bring their tunnels up (TUN device, X25519 bootstrap, data channel over UDP)"
for ub in alice:1 bob:2; do
	u=${ub%:*} n=${ub#*:}
	echo "  $u@m$n$ roomvpn up lan --daemon"
	rvn_up "$u" "$n" lan || die "$u: roomvpn up"
	sed 's/^/      /' "$RUN/up-$u.out"
done
{ VA=$(rvn_vip alice 1) && VB=$(rvn_vip bob 2); } || die "no virtual IPs in status"
echo "  alice is $VA, bob is $VB in room lan"

say "ping from alice to bob's virtual IP (through the data plane)"
show alice 1 ping -c 4 -i 0.3 -W 2 "$VB" || die "ping alice -> bob"
say "ping from bob to alice"
show bob 2 ping -c 4 -i 0.3 -W 2 "$VA" || die "ping bob -> alice"

say "iperf3 TCP for 3 s, alice -> bob, through the room"
rvn_iperf_server 2 "$VB" || die "iperf3 server in bob's namespace did not start"
show alice 1 iperf3 -c "$VB" -t 3 -f m || die "iperf3 alice -> bob"

say "roomvpn status (virtual IP, transport, RTT, bytes, key-id)"
user_rv alice 1 status || die "status (alice)"
user_rv bob 2 status || die "status (bob)"
echo "  the data plane's view:"
dpctl sessions 2>&1 | sed 's/^/      /'

say "Tearing down: tunnels down, servers stopped, namespaces deleted"
user_rv alice 1 down lan || die "alice: roomvpn down"
user_rv bob 2 down lan || die "bob: roomvpn down"
for p in "$CTL_PID" "$DP_PID"; do
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
done
echo "  roomvpn-control ($CTL_PID) and roomvpn-dataplane ($DP_PID) stopped"
trap - EXIT
rv_cleanup
for n in "${NSES[@]}"; do
	ip netns list | grep -q "^$n" && die "namespace $n still there"
done
echo "  namespaces ${NSES[*]} deleted"
printf '\n%sdemo: OK - two users reached each other through a roomvpn room.%s\n' "$B" "$N"
