#!/usr/bin/env bash
# Access rules end to end (issue 18, docs/rooms.md "Access rules"): the real
# control plane, data plane (net_af_packet on a veth) and two `roomvpn up`
# clients in a room, in network namespaces (scripts/lib/roomvpn_ns.sh).
#  1. Without rules alice reaches bob's TCP 22 and 80.
#  2. `rooms rules lan set FILE` with `deny tcp from alice to bob port 22`:
#     TCP 22 from alice fails, TCP 80 still works (an HTTP GET completes:
#     bob's replies pass), ping works, the data plane counts `acl` drops.
#  3. Under an iperf3 run alice -> bob the owner adds a deny of TCP 80: new
#     connections to 80 are refused at once, allowed again when it goes; no
#     restart (established, allowed flows go on: the rules are stateful).
#  4. bob's tunnel goes down: alice's client shows him offline (presence
#     pushed on her keepalive stream).
# Usage (root): rules_e2e.sh BUILD_DIR
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "${1:-$SRC/build}" && pwd) || exit 1
[ "$(id -u)" = 0 ] || { echo "rules_e2e: needs root" >&2; exit 1; }
RUN=$(mktemp -d /tmp/rv-rules-e2e.XXXXXX)
SFX=ru$$
source "$SRC/scripts/lib/roomvpn_ns.sh"
trap rv_cleanup EXIT
trap 'exit 130' INT TERM
die() {
	echo "FAIL: $*"
	for f in control.log dp.log; do [ -f "$RUN/$f" ] && { echo "--- $f"; tail -8 "$RUN/$f"; }; done
	exit 1
}
pass() { echo "ok: $*"; }
# reach N ADDR PORT: a TCP connection from ns mN completes within 2 s
reach() {
	in_ns "$1" "$PY" -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()' "$2" "$3" 2>/dev/null
}
acl_drops() { dpctl --json stats | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["drops"]["acl"])'; }

rv_topology
for n in 1 2 9; do rv_member "$n"; done
rvn_cert || die "openssl"
rvn_dataplane || die "data plane did not start"
rvn_control admin-password-1 || die "control init"
rvn_login admin admin-password-1 9 || die "admin login"
for u in alice bob; do
	echo "$u-password-1" | rv admin 9 admin users create "$u" --password-stdin >/dev/null ||
		die "create $u"
done
rvn_login alice alice-password-1 1 || die "alice login"
rvn_login bob bob-password-1 2 || die "bob login"
rv alice 1 rooms create lan >/dev/null || die "rooms create"
rv alice 1 join lan >/dev/null || die "alice join"
rv bob 2 join lan >/dev/null || die "bob join"
rvn_up alice 1 lan || die "alice up"
rvn_up bob 2 lan || die "bob up"
VA=$(rvn_vip alice 1) && VB=$(rvn_vip bob 2) || die "status"
in_ns 1 ping -c 3 -i 0.2 -W 2 "$VB" >/dev/null || die "no ping alice -> bob before any rule"

# bob's services: 22 and 80 (HTTP, so that a GET shows the replies pass)
for port in 22 80; do
	ip netns exec "$(mns 2)" "$PY" -m http.server "$port" --bind "$VB" >"$RUN/http-$port.log" 2>&1 &
	PIDS+=("$!")
done
for port in 22 80; do
	for _ in $(seq 50); do in_ns 2 ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.1; done
done
reach 1 "$VB" 22 && reach 1 "$VB" 80 || die "alice cannot reach bob's 22/80 before any rule"
pass "without rules: alice reaches bob's TCP 22 and 80"

# 2. deny ssh from alice to bob
cat >"$RUN/rules1" <<EOF
deny  tcp from alice to bob port 22
allow any from any to any
EOF
A0=$(acl_drops)
rv alice 1 rooms rules lan set "$RUN/rules1" >/dev/null || die "rooms rules set"
DENIED=
for _ in $(seq 20); do reach 1 "$VB" 22 || { DENIED=1; break; }; sleep 0.1; done
[ -n "$DENIED" ] || die "TCP 22 from alice to bob still connects under the deny rule"
reach 1 "$VB" 80 || die "TCP 80 from alice to bob refused: only 22 is denied"
in_ns 1 curl -sf -m 3 -o /dev/null "http://$VB:80/" ||
	die "an HTTP GET alice -> bob:80 did not complete (bob's replies must pass)"
in_ns 1 ping -c 3 -i 0.2 -W 2 "$VB" >/dev/null || die "ping alice -> bob blocked: only TCP 22 is denied"
A1=$(acl_drops)
[ "$A1" -gt "$A0" ] || die "the data plane counted no acl drop ($A0 -> $A1)"
pass "deny tcp/22: refused, tcp/80 and its replies pass, ping passes, acl drops $A0 -> $A1"

# 3. a rule change under load: while iperf3 runs alice -> bob, the owner
# adds `deny tcp from alice to bob port 80`: new connections to 80 are
# refused at once (the running flow, allowed, goes on: flows are stateful),
# and removing it lets them through again; no restart anywhere.
rvn_iperf_server 2 "$VB" || die "iperf3 server"
ip netns exec "$(mns 1)" iperf3 -c "$VB" -t 6 >"$RUN/iperf.out" 2>&1 &
IC=$!
PIDS+=("$IC")
sed '1a deny  tcp from alice to bob port 80' "$RUN/rules1" >"$RUN/rules2"
rv alice 1 rooms rules lan set "$RUN/rules2" >/dev/null || die "rooms rules set (80)"
DENIED=
for _ in $(seq 20); do reach 1 "$VB" 80 || { DENIED=1; break; }; sleep 0.1; done
[ -n "$DENIED" ] || die "TCP 80 still connects after the deny rule was added under load"
kill -0 "$IC" 2>/dev/null || die "iperf3 ended before the rule change was checked: $(cat "$RUN/iperf.out")"
rv alice 1 rooms rules lan set "$RUN/rules1" >/dev/null || die "rooms rules set (back)"
ALLOWED=
for _ in $(seq 20); do reach 1 "$VB" 80 && { ALLOWED=1; break; }; sleep 0.1; done
[ -n "$ALLOWED" ] || die "TCP 80 still refused after the rule was removed"
wait "$IC" || die "iperf3 alice -> bob failed during the rule changes: $(tail -3 "$RUN/iperf.out")"
pass "rule changes under an iperf3 load: tcp/80 refused, then allowed again, no restart; iperf3 ran through"
# self-service: alice's devices list shows where the data plane sees her
DEV=$(rv alice 1 devices list)
grep -q "lan $VA from 10.99.0.11:" <<<"$DEV" || die "devices list lacks alice's tunnel address: $DEV"
pass "devices list: alice's tunnel in lan from 10.99.0.11"

# 4. presence: bob's tunnel goes down; alice's client hears of it on its
# keepalive stream (roomvpn status --json: presence)
rv bob 2 down lan >/dev/null || die "bob down"
OFF=
for _ in $(seq 50); do
	rv alice 1 --json status | "$PY" -c 'import json,sys; p=json.load(sys.stdin)["tunnels"][0]["status"].get("presence", []); sys.exit(0 if any(e["username"] == "bob" and e["state"] == "offline" for e in p) else 1)' && OFF=1 && break
	sleep 0.1
done
[ -n "$OFF" ] || die "alice's client did not hear that bob went offline: $(rv alice 1 --json status)"
pass "presence: bob's tunnel down, alice's client shows bob offline"
echo "PASS: access rules and presence end to end"
