#!/usr/bin/env bash
# Nobody stranded (issue 16), through the real programs in network
# namespaces (scripts/lib/roomvpn_ns.sh: roomvpn-control in m9, the data
# plane on net_af_packet, `roomvpn up --daemon` clients):
#   m1 alice, m2 bob: room "lan"; m3 carol: room "slow" (keepalive 60 s);
#   m4 dave: room "tcpr" (transport tcp); m5 frank: not root.
# 1. Control plane stopped cleanly for 5 s, then killed -9 for 60 s: the
#    tunnel forwards throughout (ping bob -> alice, replies counted), every
#    client's keepalive stream is back within 10 s of the restart (status
#    --json: keepalive_connects, "connected"; while down `status` says
#    "reconnecting (attempt N, next in X s): <error>"), a config change
#    reaches the clients afterwards (MTU after the first, DNS + a managed
#    route after the second).
# 2. carol's idle tunnel (keepalive 60 s), captured for 120 s meanwhile:
#    no more data-channel packets than the keepalive allows.
# 3. dave's TCP-preferred room: the server lists TCP first and the tunnel
#    comes up on TCP; `down`: his data-plane session is gone within 1 s
#    (the client calls TunnelService/End).
# 4. frank's `up` without root: exit 4, not joined, no data-plane session.
# 5. The data plane killed and restarted: traffic back within 10 s.
# 6. A kick after all that reaches alice: her client ends, her resolv.conf
#    is restored and the managed route is gone.
# 7. bob's `leave` with his tunnel up: the tunnel goes down first (and its
#    session within 1 s, as for `down`), then he has left.
# Usage: reconnect_test.sh BUILD_DIR
set -uo pipefail
BIN=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
RUN=$(mktemp -d /tmp/rv-client-reconnect.XXXXXX)
SFX=rc$$
# shellcheck source=../../scripts/lib/roomvpn_ns.sh
source "$SRC/scripts/lib/roomvpn_ns.sh"
CTL=$BIN/control/roomvpn-control
ORIG_RESOLV="nameserver 192.0.2.1"
IDLE_S=120

cleanup() {
	for n in 1 2; do rm -rf "/etc/netns/$(mns "$n")"; done
	rv_cleanup
}
trap cleanup EXIT
die() {
	echo "FAIL: $*"
	for u in alice:1:lan bob:2:lan carol:3:slow dave:4:tcpr; do
		IFS=: read -r user n room <<<"$u"
		echo "--- $user status / log"
		rv "$user" "$n" status 2>&1 | tail -3
		tail -8 "$RUN/cfg-$user/run/$room.log" 2>/dev/null
	done
	for f in control.log dp.log; do echo "--- $f"; tail -15 "$RUN/$f"; done
	exit 1
}
# A failed check of one item: counted, the others still run (FAILS).
bad() {
	fail "$*"
	return 1
}
jget() { "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
st() { # USER N EXPR: a field of USER's tunnel status
	rv "$1" "$2" --json status | jget "d['tunnels'][0]['status']$3" 2>/dev/null
}

rv_topology
for n in 1 2 3 4 5 9; do rv_member "$n"; done
for n in 1 2; do # each its own resolv.conf (ip netns exec bind-mounts it)
	mkdir -p "/etc/netns/$(mns "$n")"
	echo "$ORIG_RESOLV" >"/etc/netns/$(mns "$n")/resolv.conf"
done
rvn_cert || die "certificate"
rvn_dataplane || die "data plane did not start"
rvn_control admin-password-1 || die "control plane"
rvn_login admin admin-password-1 9 || die "admin login"
N=1
for u in alice bob carol dave frank; do
	echo "$u-password-1" | rv admin 9 admin users create "$u" --password-stdin >/dev/null ||
		die "create user $u"
	rvn_login "$u" "$u-password-1" $N || die "$u login"
	N=$((N + 1))
done
rv alice 1 rooms create lan >/dev/null || die "create room lan"
rv carol 3 rooms create slow --keepalive 60 >/dev/null || die "create room slow"
rv dave 4 rooms create tcpr --transport tcp >/dev/null || die "create room tcpr"
rvn_up alice 1 lan || die "alice up"
rvn_up bob 2 lan || die "bob up"
rvn_up carol 3 slow || die "carol up"
VA=$(rvn_vip alice 1)
VB=$(rvn_vip bob 2)
in_ns 2 ping -c 2 -i 0.2 -W 2 "$VA" >/dev/null || die "bob -> alice"
pass "tunnels up: alice $VA, bob $VB, carol $(rvn_vip carol 3)"

# carol's idle tunnel, from now on for IDLE_S: her packets to the data plane.
ip netns exec "$(mns 3)" dumpcap -q -i eth0 -f "dst host $DP_IP or dst host $TCP_IP" \
	-a duration:$IDLE_S -w "$RUN/carol.pcap" >/dev/null 2>&1 &
CAP=$!
PIDS+=("$CAP")

# --- 3, 4: TCP-preferred room, down, non-root up (inside carol's window) ---
rvn_up dave 4 tcpr || die "dave up"
for _ in $(seq 50); do # (the status file is written once a second)
	PREF=$(st dave 4 "['preferred_transport']")
	[ -n "$PREF" ] && break
	sleep 0.1
done
[ "$PREF" = tcp ] || bad "TCP-preferred room: the server listed $PREF first"
for _ in $(seq 50); do [ "$(st dave 4 "['stats']['transport']")" = tcp ] && break; sleep 0.1; done
[ "$(st dave 4 "['stats']['transport']")" = tcp ] &&
	pass "TCP-preferred room: the tunnel is on TCP from the start" ||
	bad "dave's tunnel is not on TCP: $(rv dave 4 --json status)"
DPEER=$(st dave 4 "['peer_id']")
dp_has_peer() { dpctl --json sessions | jget "any(s['peer_id'] == $1 for s in d['sessions'])"; }
[ "$(dp_has_peer "$DPEER")" = True ] || die "dave's session is not on the data plane"
rv dave 4 down tcpr >/dev/null || die "dave down"
GONE=
for _ in $(seq 10); do [ "$(dp_has_peer "$DPEER")" = False ] && GONE=1 && break; sleep 0.1; done
[ -n "$GONE" ] || bad "dave's data-plane session still there 1 s after down: $(tail -3 "$RUN/cfg-dave/run/tcpr.log")" &&
	pass "down: the data-plane session (peer-id $DPEER) was gone within 1 s"

chmod 755 "$RUN"
chown -R 65534:65534 "$RUN/cfg-frank"
F0=$FAILS
S0=$(dpctl --json sessions | jget 'len(d["sessions"])')
ip netns exec "$(mns 5)" setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$BIN/client/roomvpn" --config-dir "$RUN/cfg-frank" up lan >"$RUN/frank.out" 2>&1
RC=$?
[ "$RC" = 4 ] || bad "non-root up: exit $RC (want 4): $(cat "$RUN/frank.out")"
rv alice 1 rooms members lan | grep -q frank && bad "non-root up joined the room"
S1=$(dpctl --json sessions | jget 'len(d["sessions"])')
[ "$S1" = "$S0" ] || bad "non-root up left a data-plane session ($S0 -> $S1)"
grep -q "plain TUN" "$RUN/frank.out" && bad "misleading TUN warning: $(cat "$RUN/frank.out")"
[ "$FAILS" = "$F0" ] && pass "non-root up: exit 4, not joined, no session: $(cat "$RUN/frank.out")"

# --- 1: control plane outages ----------------------------------------------
CLIENTS="alice:1 bob:2 carol:3"
ctl_start() {
	ip netns exec "$(mns 9)" "$CTL" serve --config "$RUN/control.conf" >>"$RUN/control.log" 2>&1 &
	CTL_PID=$!
	PIDS+=("$CTL_PID")
	for _ in $(seq 100); do
		in_ns 9 ss -Hltn "sport = :7443" | grep -q . && return 0
		sleep 0.1
	done
	return 1
}
# outage SIGNAL SECONDS: stop the control plane, ping through the tunnel
# for SECONDS (5 a second; ping waits for the last replies), start it
# again; every client back within 10 s.
outage() {
	local sig=$1 secs=$2 c user n before=() i=0 sent got f0=$FAILS
	for c in $CLIENTS; do before+=("$(st "${c%:*}" "${c#*:}" "['keepalive_connects']")"); done
	kill -"$sig" "$CTL_PID"
	wait "$CTL_PID" 2>/dev/null
	in_ns 2 ping -c $((secs * 5)) -i 0.2 -W 3 "$VA" >"$RUN/ping-out.txt" 2>&1 # the outage
	echo "alice while the control plane is down: $(rv alice 1 status | grep control:)"
	rv alice 1 status | grep -q "control: reconnecting (attempt [0-9]*, " ||
		bad "status does not say what the client waits for: $(rv alice 1 status)"
	ctl_start || die "control plane did not restart"
	local t0=$SECONDS
	for c in $CLIENTS; do
		user=${c%:*} n=${c#*:}
		while [ $((SECONDS - t0)) -le 10 ]; do
			[ "$(st "$user" "$n" "['keepalive']")" = connected ] &&
				[ "$(st "$user" "$n" "['keepalive_connects']")" -gt "${before[$i]}" ] && break
			sleep 0.2
		done
		[ "$(st "$user" "$n" "['keepalive']")" = connected ] &&
			[ "$(st "$user" "$n" "['keepalive_connects']")" -gt "${before[$i]}" ] ||
			bad "$user's keepalive stream not back 10 s after the restart ($sig, ${secs} s): $(rv "$user" "$n" --json status)"
		i=$((i + 1))
	done
	sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$RUN/ping-out.txt")
	got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$RUN/ping-out.txt")
	[ -n "$got" ] && [ "$got" -ge $((sent * 9 / 10)) ] ||
		bad "tunnel during the outage: $got of $sent ping replies"
	local back=$((SECONDS - t0)) after
	# ...and across the clients' re-keys on their new streams
	after=$(in_ns 2 ping -c 10 -i 0.2 -W 3 "$VA" | sed -n 's/.* \([0-9]*\) received.*/\1/p')
	[ "${after:-0}" -ge 9 ] || bad "tunnel after the reconnection: ${after:-0} of 10 ping replies"
	[ "$FAILS" = "$f0" ] && pass "control plane down $secs s (SIG$sig): $got of $sent pings answered meanwhile; all keepalive streams back within $back s of the restart; $after of 10 pings after it"
}
mtu_of() { in_ns "$1" ip -j link show "$2" | jget 'd[0]["mtu"]'; }
AIF=$(st alice 1 "['interface']")
BIF=$(st bob 2 "['interface']")

outage TERM 5
rv alice 1 rooms update lan --mtu 1300 >/dev/null || die "rooms update --mtu"
for _ in $(seq 50); do
	[ "$(mtu_of 1 "$AIF")" = 1300 ] && [ "$(mtu_of 2 "$BIF")" = 1300 ] && break
	sleep 0.2
done
[ "$(mtu_of 1 "$AIF")" = 1300 ] && [ "$(mtu_of 2 "$BIF")" = 1300 ] ||
	bad "MTU after the restart not applied: $(mtu_of 1 "$AIF") $(mtu_of 2 "$BIF")" &&
	pass "after the restart: MTU 1300 reached both members"

outage KILL 60
rv alice 1 rooms update lan --dns 10.88.0.53 --routes "192.168.77.0/24=$VB" >/dev/null ||
	die "rooms update --dns --routes"
route_on() { in_ns 1 ip -o route show 192.168.77.0/24 dev "$AIF" 2>/dev/null; }
for _ in $(seq 50); do
	in_ns 1 grep -q "^nameserver 10.88.0.53$" /etc/resolv.conf && [ -n "$(route_on)" ] && break
	sleep 0.2
done
F0=$FAILS
in_ns 1 grep -q "^nameserver 10.88.0.53$" /etc/resolv.conf || bad "DNS not applied: $(in_ns 1 cat /etc/resolv.conf)"
[ -n "$(route_on)" ] || bad "managed route not on alice's $AIF"
[ "$FAILS" = "$F0" ] && pass "after kill -9 and 60 s: DNS and a managed route reached alice"

# --- 2: carol's idle tunnel ------------------------------------------------
wait "$CAP"
PKTS=$(tshark -r "$RUN/carol.pcap" 2>/dev/null | wc -l)
ALLOWED=$((2 * IDLE_S / 60 + 2)) # a probe (or ping) and a reply each 60 s, + the edges
echo "carol's idle tunnel (keepalive 60 s): $PKTS packets to the data plane in $IDLE_S s (allowed $ALLOWED)"
[ "$PKTS" -le "$ALLOWED" ] || bad "idle tunnel with keepalive 60 s sent $PKTS packets in $IDLE_S s" &&
	pass "keepalive 60 s: $PKTS packets in $IDLE_S s on an idle tunnel"

# --- 5: data plane restart -------------------------------------------------
kill "$DP_PID"
wait "$DP_PID" 2>/dev/null
rvn_dataplane || die "data plane did not restart"
T0=$SECONDS
BACK=
while [ $((SECONDS - T0)) -le 10 ]; do
	in_ns 1 ping -c 1 -W 1 "$VB" >/dev/null 2>&1 && BACK=1 && break
done
[ -n "$BACK" ] || bad "traffic not back 10 s after the data plane restart" &&
	pass "data plane restarted: traffic back after $((SECONDS - T0)) s"

# --- 6: kick after the outages ---------------------------------------------
ADEV=$(rv alice 1 --json rooms members lan |
	jget '[m["device_id"] for m in d["members"] if m["username"] == "alice"][0]')
APID=$(cat "$RUN/cfg-alice/run/lan.pid")
rv admin 9 rooms kick lan "$ADEV" >/dev/null || rv alice 1 rooms kick lan "$ADEV" >/dev/null ||
	die "kick alice"
F0=$FAILS
for _ in $(seq 100); do kill -0 "$APID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$APID" 2>/dev/null && bad "alice's client still running after the kick"
[ "$(in_ns 1 cat /etc/resolv.conf)" = "$ORIG_RESOLV" ] ||
	bad "alice's resolv.conf not restored after the kick: $(in_ns 1 cat /etc/resolv.conf)"
[ -z "$(in_ns 1 ip -o route show 192.168.77.0/24)" ] || bad "alice's managed route left after the kick"
[ "$FAILS" = "$F0" ] && pass "kick after the outages: alice's client ended, DNS restored, route gone"

# --- leave with the tunnel running: it goes down first and ends on the server
F0=$FAILS
BPID=$(cat "$RUN/cfg-bob/run/lan.pid")
BPEER=$(st bob 2 "['peer_id']")
rv bob 2 leave lan >/dev/null || bad "bob leave"
kill -0 "$BPID" 2>/dev/null && bad "bob's tunnel still running after leave"
rv admin 9 rooms members lan | grep -q bob && bad "bob still a member after leave"
for _ in $(seq 10); do [ "$(dp_has_peer "$BPEER")" = False ] && break; sleep 0.1; done
[ "$(dp_has_peer "$BPEER")" = False ] || bad "bob's data-plane session still there 1 s after leave"
[ "$FAILS" = "$F0" ] && pass "leave with the tunnel up: tunnel stopped first, left the room"
[ "$FAILS" = 0 ] || die "$FAILS check(s) failed (see FAIL lines above)"
echo "PASS: client reconnect and session lifetime"
