#!/usr/bin/env bash
# End to end through the real programs, in network namespaces (topology from
# tests/dataplane/relay_lib.sh: a bridge, the data plane on net_af_packet):
#   roomvpn-control in ns m9 (10.99.0.19), roomvpn-dataplane in ns dp
#   (10.99.0.1, agent socket shared through the file system), and `roomvpn`
#   clients in ns m1, m2 (room "lan") and m3 (room "other").
# The data plane's TCP fallback listens on k0 (10.99.0.2:8443) with the same
# certificate as the control plane (the clients' pin covers both).
# Checks, in order: login, room create, `up --daemon` (join +
# TunnelService.Bootstrap + TUN + data channel + keepalive stream); ping
# both ways between the two members; iperf3 TCP both ways (figures printed,
# not asserted), the first across a re-key (rekey_interval 5 s: the key-id advances on the
# data plane and the client, the connection survives); `rooms update`: the
# MTU reaches both devices, the keepalive both running data channels, both
# acknowledge, a room-key rotation re-keys; DNS servers and a managed route
# (via bob, to an address on his loopback) reach both clients' resolv.conf
# (each namespace's own: /etc/netns/NS/resolv.conf) and alice's TUN, ping
# through the room to it, spoofed and no_route counted, route removed; `status` (udp, RTT); HealthService.Get (admin: both members'
# tunnels up with bytes and RTT; alice: only hers) and the metrics scrape
# (promtool); a member of another room cannot reach the
# room even with a route (data plane no_route); UDP blocked for one member:
# TLS over TCP by itself, unblocked: back to UDP; control plane kill -9:
# traffic keeps flowing, restarted: keepalive streams reconnect; data plane
# restarted: the control plane resyncs the sessions (log line, session list)
# and traffic resumes; a frozen
# client (SIGSTOP) misses heartbeats and loses its session, thawed it comes
# back; a kick: traffic stops at once and the client says why (and its
# resolv.conf is restored); a client killed with -9 leaves its DNS, the next
# `up` restores the saved file; `down` removes the device and restores DNS.
# Usage: e2e_test.sh BUILD_DIR
set -uo pipefail
BIN=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
RUN=$(mktemp -d /tmp/rv-client-e2e.XXXXXX)
SFX=h8e$$
# shellcheck source=../dataplane/relay_lib.sh
source "$SRC/tests/dataplane/relay_lib.sh"
trap rv_cleanup EXIT
CLI=$BIN/client/roomvpn
CTL=$BIN/control/roomvpn-control
PY=/usr/bin/python3
CTL_IP=10.99.0.19
TCP_IP=10.99.0.2
TCP_PORT=8443

die() {
	echo "FAIL: $*"
	echo "--- data plane sessions and drops"
	dpctl --json sessions 2>&1 | head -c 3000
	dpctl stats 2>&1 | head -40
	for u in alice:1 bob:2 carol:3; do
		echo "--- ${u%:*} status"
		rv "${u%:*}" "${u#*:}" --json status 2>&1 | head -c 2000
	done
	for f in control.log dp.log; do echo "--- $f"; tail -20 "$RUN/$f"; done
	exit 1
}
# rv USER NS ARGS...: the client of USER (own config dir) in member NS.
rv() {
	local user=$1 n=$2
	shift 2
	in_ns "$n" "$CLI" --config-dir "$RUN/cfg-$user" "$@"
}
jget() { "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# One certificate for the control plane and the data plane's TCP fallback.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=roomvpn \
	-addext "subjectAltName=DNS:localhost,IP:$CTL_IP,IP:$TCP_IP" -keyout "$RUN/tls.key" \
	-out "$RUN/tls.crt" >/dev/null 2>&1 || die "openssl req"

# The data plane with the TCP fallback on a kernel address (k0) beside dp0.
start_dataplane() {
	if ! ip -n "$NS_DP" link show k0 >/dev/null 2>&1; then
		ip link add k0 netns "$NS_DP" type veth peer name p-k0 netns "$NS_SW"
		ip -n "$NS_SW" link set p-k0 master br0 up
		ip -n "$NS_DP" addr add $TCP_IP/24 dev k0
		ip -n "$NS_DP" link set k0 up
	fi
	rm -f "$RUN/agent.sock"
	ip netns exec "$NS_DP" "$BIN/dataplane/roomvpn-dataplane" -l 0-1 --no-huge -m 256 \
		--no-pci --file-prefix "rv$SFX" --log-level=lib.eal:error \
		--vdev "net_af_packet0,iface=dp0" -- \
		--set ip=$DP_IP/24 --set udp-port=$DP_PORT --set agent-socket="$RUN/agent.sock" \
		--set idle-sleep-us=200 --set tcp=true --set tcp-listen=$TCP_IP:$TCP_PORT \
		--set tcp-cert="$RUN/tls.crt" --set tcp-key="$RUN/tls.key" >"$RUN/dp.log" 2>&1 &
	DP_PID=$!
	PIDS+=("$DP_PID")
	for _ in $(seq 300); do # slow when the machine is busy
		kill -0 "$DP_PID" 2>/dev/null || return 1
		[ -S "$RUN/agent.sock" ] && return 0
		sleep 0.1
	done
	return 1
}

rv_topology
for n in 1 2 3 9; do rv_member "$n"; done
# Each member namespace gets its own resolv.conf (`ip netns exec` bind-mounts
# /etc/netns/NS/resolv.conf over /etc/resolv.conf): the clients' DNS
# changes never reach the host's file.
ORIG_RESOLV="nameserver 192.0.2.1"
for n in 1 2 3; do
	mkdir -p "/etc/netns/$(mns "$n")"
	echo "$ORIG_RESOLV" >"/etc/netns/$(mns "$n")/resolv.conf"
done
e2e_cleanup() {
	for n in 1 2 3; do rm -rf "/etc/netns/$(mns "$n")"; done
	rv_cleanup
}
trap e2e_cleanup EXIT
start_dataplane || die "data plane did not start"

cat >"$RUN/control.conf" <<EOF
state_dir = $RUN/state
listen = $CTL_IP:7443
tls_names = $CTL_IP
argon2_memory_kib = 256
argon2_iterations = 1
argon2_parallelism = 1
dataplane_udp = $DP_IP:$DP_PORT
dataplane_tcp = $TCP_IP:$TCP_PORT
tls_cert = $RUN/tls.crt
tls_key = $RUN/tls.key
dataplane_agent = $RUN/agent.sock
rekey_interval = 5s
heartbeat_timeout = 8s
metrics_listen = $CTL_IP:9443
metrics_token_file = $RUN/metrics.token
EOF
echo e2e-metrics-token-0123456789 >"$RUN/metrics.token"
echo "Authorization: Bearer e2e-metrics-token-0123456789" >"$RUN/metrics.hdr"
echo admin-password-1 | "$CTL" init --config "$RUN/control.conf" --state-dir "$RUN/state" \
	--admin admin >/dev/null 2>&1 || die "control init"
ip netns exec "$(mns 9)" "$CTL" serve --config "$RUN/control.conf" >"$RUN/control.log" 2>&1 &
CTL_PID=$!
PIDS+=("$CTL_PID")
FP=$(openssl x509 -in "$RUN/tls.crt" -noout -fingerprint -sha256 | cut -d= -f2)

login() { # login USER PASSWORD NS
	local i
	for i in $(seq 50); do
		echo "$2" | rv "$1" "$3" login "$CTL_IP:7443" --username "$1" --fingerprint "$FP" \
			--password-stdin >/dev/null 2>"$RUN/login.err" && return 0
		sleep 0.2
	done
	cat "$RUN/login.err"
	return 1
}
login admin admin-password-1 9 || die "admin login"
for u in alice bob carol; do
	echo "$u-password-1" | rv admin 9 admin users create "$u" --password-stdin >/dev/null ||
		die "create user $u"
done
login alice alice-password-1 1 || die "alice login"
login bob bob-password-1 2 || die "bob login"
login carol carol-password-1 3 || die "carol login"
rv alice 1 rooms create lan >/dev/null || die "create room lan"
rv carol 3 rooms create other >/dev/null || die "create room other"

up() { # up USER NS ROOM: daemon tunnel; its pid joins the cleanup list
	rv "$1" "$2" up "$3" --daemon >"$RUN/up-$1.out" 2>&1 || {
		cat "$RUN/up-$1.out"
		return 1
	}
	PIDS+=("$(cat "$RUN/cfg-$1/run/$3.pid")")
}
up alice 1 lan || die "alice up"
up bob 2 lan || die "bob up"
up carol 3 other || die "carol up"
pass "three tunnels up: $(cat "$RUN/up-alice.out")"

VA=$(rv alice 1 --json status | jget 'd["tunnels"][0]["status"]["virtual_ip"]')
VB=$(rv bob 2 --json status | jget 'd["tunnels"][0]["status"]["virtual_ip"]')
VC=$(rv carol 3 --json status | jget 'd["tunnels"][0]["status"]["virtual_ip"]')
[ -n "$VA" ] && [ -n "$VB" ] && [ "$VA" != "$VB" ] || die "virtual IPs: '$VA' '$VB'"

in_ns 1 ping -c 3 -i 0.2 -W 2 "$VB" >"$RUN/ping1.out" || die "alice ($VA) -> bob ($VB)"
in_ns 2 ping -c 3 -i 0.2 -W 2 "$VA" >/dev/null || die "bob ($VB) -> alice ($VA)"
pass "ping both ways through the data plane: $(tail -1 "$RUN/ping1.out")"

# Dual-stack room over IPv4 outside: IPv6 inside between the members' vip6s
# (issue 17; client_ipv6_e2e does IPv6 outside).
VA6=$(rv alice 1 --json status | jget 'd["tunnels"][0]["status"].get("virtual_ip6", "")')
VB6=$(rv bob 2 --json status | jget 'd["tunnels"][0]["status"].get("virtual_ip6", "")')
[ -n "$VA6" ] && [ -n "$VB6" ] && [ "$VA6" != "$VB6" ] || die "IPv6 virtual IPs: '$VA6' '$VB6'"
in_ns 1 ping -6 -c 3 -i 0.2 -W 2 "$VB6" >"$RUN/ping6.out" || die "ping6 alice ($VA6) -> bob ($VB6)"
in_ns 2 ping -6 -c 3 -i 0.2 -W 2 -s 1300 "$VA6" >/dev/null || die "1300-byte ping6 bob -> alice"
pass "IPv6 inside over IPv4 outside, both ways: $(tail -1 "$RUN/ping6.out")"

# Small, fragmented (3000 bytes over MTU 1400) and near-MTU pings, and a
# 24 MB TCP transfer whose SHA-256 must arrive intact: the TUN offload path
# (client/tso.c cuts, client/gro.c coalesces) must not change one byte.
for size in 0 1372 3000; do
	in_ns 1 ping -c 2 -i 0.2 -W 2 -s $size "$VB" >/dev/null || die "ping -s $size alice -> bob"
done
ip netns exec "$(mns 2)" "$PY" -c '
import hashlib, socket, sys
s = socket.create_server((sys.argv[1], 5399)); open(sys.argv[2], "w").close()
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while (b := c.recv(1 << 16)):
    h.update(b); n += len(b)
open(sys.argv[2], "w").write("%d %s" % (n, h.hexdigest()))' "$VB" "$RUN/sink.out" &
SINK=$!
for _ in $(seq 50); do [ -e "$RUN/sink.out" ] && break; sleep 0.1; done
SENT=$(in_ns 1 "$PY" -c '
import hashlib, os, socket, sys
d = os.urandom(24 << 20); c = socket.create_connection((sys.argv[1], 5399), timeout=30)
c.sendall(d); c.close(); print(len(d), hashlib.sha256(d).hexdigest())' "$VB") || die "TCP transfer"
wait "$SINK" || die "TCP sink"
[ "$(cat "$RUN/sink.out")" = "$SENT" ] || die "TCP transfer corrupted: sent $SENT, got $(cat "$RUN/sink.out")"
pass "pings of 0, 1372 and 3000 (fragmented) bytes; 24 MB over TCP arrived intact (SHA-256)"

ip netns exec "$(mns 2)" iperf3 -s -1 -B "$VB" >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
# Re-keys every 5 s (rekey_interval): the 8 s run must survive at least one.
dp_key() { # PEER
	dpctl --json sessions | jget "[s['key_id'] for s in d['sessions'] if s['peer_id'] == $1][0]"
}
APEER=$(rv alice 1 --json status | jget 'd["tunnels"][0]["status"]["peer_id"]')
K0=$(dp_key "$APEER")
# The wire: alice's data-channel packets, headers only.
ip netns exec "$(mns 1)" dumpcap -q -i eth0 -s 64 -f "udp dst port $DP_PORT" -w "$RUN/alice.pcap" \
	>/dev/null 2>&1 &
CAP=$!
PIDS+=("$CAP")
for _ in $(seq 50); do [ -s "$RUN/alice.pcap" ] && break; sleep 0.1; done
if in_ns 1 iperf3 -c "$VB" -t 8 -J >"$RUN/iperf.json" 2>/dev/null; then
	pass "iperf3 TCP alice -> bob: $("$PY" -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]; print("%.0f Mbit/s" % (e["sum_received"]["bits_per_second"]/1e6))' "$RUN/iperf.json")"
else
	die "iperf3 through the tunnel (across re-keys)"
fi
# (a periodic re-key may fall between the two reads: look a few times)
for _ in $(seq 30); do
	K1=$(dp_key "$APEER")
	CK=$(rv alice 1 --json status | jget 'd["tunnels"][0]["status"]["stats"]["key_id"]')
	[ "$CK" = "$K1" ] && break
	sleep 0.2
done
[ "$K1" != "$K0" ] || die "no re-key during the iperf3 run (key-id $K0 -> $K1)"
[ "$CK" = "$K1" ] || die "client key-id $CK, data plane key-id $K1"
kill -INT "$CAP"
wait "$CAP" 2>/dev/null
WIRE=$(tshark -r "$RUN/alice.pcap" -d udp.port==$DP_PORT,openvpn -Y "openvpn.peerid == $APEER" \
	-T fields -e openvpn.keyid 2>/dev/null | sort -un | tr '\n' ' ')
[ "$(echo "$WIRE" | wc -w)" -ge 2 ] || die "key-ids on the wire (tshark): '$WIRE'"
# The data plane seals with a new key only after the member used it: the
# receiving member never gets a packet under a key it does not hold yet.
uk() { rv "$1" "$2" --json status | jget 'd["tunnels"][0]["status"]["stats"]["drops"]["unknown_key"]'; }
AUK=$(uk alice 1)
BUK=$(uk bob 2)
echo "unknown-key drops across the re-keys: alice $AUK, bob $BUK"
[ "$AUK" = 0 ] && [ "$BUK" = 0 ] || die "packets under a key-id the member did not hold yet"
pass "re-key during iperf3: key-id $K0 -> $K1 (data plane and client agree; on the wire: $WIRE), no connection drop, no unknown-key drops at either member"

# Room settings pushed over the keepalive streams: the new MTU is applied to
# both members' devices, the keepalive to their running data channels, and
# both acknowledge; a rotated room key re-keys.
AIF=$(rv alice 1 --json status | jget 'd["tunnels"][0]["status"]["interface"]')
BIF=$(rv bob 2 --json status | jget 'd["tunnels"][0]["status"]["interface"]')
mtu_of() { in_ns "$1" ip -j link show "$2" | jget 'd[0]["mtu"]'; }
ka_of() { rv "$1" "$2" --json status | jget 'd["tunnels"][0]["status"]["stats"]["keepalive_ms"]'; }
[ "$(ka_of alice 1)" = 10000 ] || die "keepalive before the update: $(ka_of alice 1) ms"
rv alice 1 rooms update lan --mtu 1300 --keepalive 3 >/dev/null || die "rooms update --mtu"
for _ in $(seq 50); do
	[ "$(mtu_of 1 "$AIF")" = 1300 ] && [ "$(mtu_of 2 "$BIF")" = 1300 ] && break
	sleep 0.2
done
[ "$(mtu_of 1 "$AIF")" = 1300 ] && [ "$(mtu_of 2 "$BIF")" = 1300 ] ||
	die "MTU not applied: $(mtu_of 1 "$AIF") $(mtu_of 2 "$BIF")"
for _ in $(seq 30); do # (status files are rewritten once a second)
	[ "$(ka_of alice 1)" = 3000 ] && [ "$(ka_of bob 2)" = 3000 ] && break
	sleep 0.2
done
[ "$(ka_of alice 1)" = 3000 ] && [ "$(ka_of bob 2)" = 3000 ] ||
	die "keepalive 3 s not applied to the running data channels: $(ka_of alice 1) $(ka_of bob 2) ms"
for _ in $(seq 50); do
	[ "$(grep -c 'tunnel settings update .* applied by' "$RUN/control.log")" -ge 2 ] && break
	sleep 0.1
done
[ "$(grep -c 'tunnel settings update .* applied by' "$RUN/control.log")" -ge 2 ] ||
	die "MTU update not acknowledged by both clients"
K2=$(dp_key "$APEER")
rv alice 1 rooms update lan --rotate-key >/dev/null || die "rooms update --rotate-key"
for _ in $(seq 100); do [ "$(dp_key "$APEER")" != "$K2" ] && break; sleep 0.1; done
[ "$(dp_key "$APEER")" != "$K2" ] || die "no re-key after the room key rotation"
grep -q "room key of lan rotated: peer-id $APEER asked to re-key" "$RUN/control.log" ||
	die "the rotation did not ask alice to re-key"
in_ns 1 ping -c 5 -i 0.3 -W 2 "$VB" >/dev/null || die "alice -> bob after the room key rotation"
pass "room update: MTU 1300 and keepalive 3 s applied (device, running data channel) and acknowledged by both; key rotation re-keyed ($K2 -> $(dp_key "$APEER"))"

# DNS and a managed route, pushed to the running tunnels: bob is the via of
# 192.168.77.0/24 and answers on 192.168.77.1 (an address on the loopback
# of his namespace). Both clients apply and acknowledge; alice's resolv.conf names
# the room's servers, her TUN carries the route (bob's does not: he is the
# via); alice reaches 192.168.77.1 through the data plane (the reply's
# source is accepted from bob, the via); alice may not send from that
# subnet (spoofed); without the route the data plane drops (no_route).
ip -n "$(mns 2)" addr add 192.168.77.1/32 dev lo
acks() { grep -c 'tunnel settings update .* applied by' "$RUN/control.log"; }
wait_acks() { # N: at least N acknowledgements in the control log
	for _ in $(seq 50); do [ "$(acks)" -ge "$1" ] && return 0; sleep 0.1; done
	return 1
}
route_on() { in_ns "$1" ip -o route show "${3:-192.168.77.0/24}" dev "$2" 2>/dev/null; }
# Alice's host has routes of its own to two more routed prefixes: one with
# the managed routes' metric (100) stays alone, one with metric 0 keeps
# winning (the managed one goes beside it); neither is replaced.
in_ns 1 ip route add 192.168.88.0/24 dev eth0 metric 100
in_ns 1 ip route add 192.168.99.0/24 dev eth0
A0=$(acks)
rv alice 1 rooms update lan --dns 10.88.0.53,192.0.2.53 --dns-search corp.example \
	--routes "192.168.77.0/24=$VB,192.168.88.0/24=$VB,192.168.99.0/24=$VB" \
	>"$RUN/update-net.out" || die "rooms update --dns --routes"
grep -q "route      192.168.77.0/24 via $VB" "$RUN/update-net.out" ||
	die "rooms update output: $(cat "$RUN/update-net.out")"
wait_acks $((A0 + 2)) || die "DNS/route update not acknowledged by both clients"
RA=$(in_ns 1 cat /etc/resolv.conf)
echo "$RA" | grep -q "^nameserver 10.88.0.53$" && echo "$RA" | grep -q "^nameserver 192.0.2.53$" &&
	echo "$RA" | grep -q "^search corp.example$" || die "alice's resolv.conf: $RA"
in_ns 2 grep -q "^nameserver 10.88.0.53$" /etc/resolv.conf || die "bob's resolv.conf: $(in_ns 2 cat /etc/resolv.conf)"
[ -n "$(route_on 1 "$AIF")" ] || die "no route to 192.168.77.0/24 on alice's $AIF: $(in_ns 1 ip route)"
[ -z "$(route_on 2 "$BIF")" ] || die "bob (the via) routes 192.168.77.0/24 into the tunnel"
[ -n "$(route_on 1 eth0 192.168.88.0/24)" ] && [ -z "$(route_on 1 "$AIF" 192.168.88.0/24)" ] ||
	die "alice's own 192.168.88.0/24 route (metric 100): $(in_ns 1 ip route)"
[ -n "$(route_on 1 eth0 192.168.99.0/24)" ] && route_on 1 "$AIF" 192.168.99.0/24 | grep -q "metric 100" ||
	die "alice's own 192.168.99.0/24 route (metric 0) and the managed one: $(in_ns 1 ip route)"
dpctl --json rooms | grep -q "\"192.168.77.0/24 via $VB\"" ||
	die "data plane room lacks the route: $(dpctl --json rooms)"
in_ns 1 ping -c 3 -i 0.2 -W 2 192.168.77.1 >"$RUN/ping-route.out" ||
	die "alice -> 192.168.77.1 (behind bob) through the room"
before=$(drop_count spoofed)
in_ns 1 ip addr add 192.168.77.9/32 dev lo
in_ns 1 ping -c 2 -i 0.2 -W 1 -I 192.168.77.9 "$VB" >/dev/null 2>&1 && die "alice sent from bob's LAN"
in_ns 1 ip addr del 192.168.77.9/32 dev lo
after=$(drop_count spoofed)
[ "$after" -gt "$before" ] || die "no spoofed drop for alice's packets from 192.168.77.9 ($before -> $after)"
pass "DNS + route pushed and acknowledged by both: alice's resolv.conf has the room's servers, route on $AIF (not on bob, the via), ping 192.168.77.1 behind bob: $(tail -1 "$RUN/ping-route.out"); from alice with a LAN source: spoofed $before -> $after"

A0=$(acks)
rv alice 1 rooms update lan --no-routes >/dev/null || die "rooms update --no-routes"
wait_acks $((A0 + 2)) || die "route removal not acknowledged by both clients"
[ -z "$(route_on 1 "$AIF")" ] && [ -z "$(route_on 1 "$AIF" 192.168.99.0/24)" ] ||
	die "route still on alice's $AIF after --no-routes: $(in_ns 1 ip route)"
[ -n "$(route_on 1 eth0 192.168.88.0/24)" ] && [ -n "$(route_on 1 eth0 192.168.99.0/24)" ] ||
	die "alice's own routes went with the managed ones: $(in_ns 1 ip route)"
dpctl --json rooms | grep -q "192.168.77.0/24 via" && die "data plane room still routes: $(dpctl --json rooms)"
before=$(drop_count no_route)
in_ns 1 ip route add 192.168.77.0/24 dev "$AIF" # as if alice still had it
if in_ns 1 ping -c 2 -i 0.2 -W 1 192.168.77.1 >/dev/null 2>&1; then die "192.168.77.1 still reachable"; fi
in_ns 1 ip route del 192.168.77.0/24 dev "$AIF"
after=$(drop_count no_route)
[ "$after" -gt "$before" ] || die "no no_route drop without the route ($before -> $after)"
[ "$(in_ns 1 grep -c nameserver /etc/resolv.conf)" = 2 ] || die "DNS lost with the routes"
pass "route removed: gone from alice's $AIF and the data plane (the host's own routes to routed prefixes untouched throughout), ping fails (no_route $before -> $after); DNS kept"

# ...and the other way (bob -> alice, iperf3 reverse mode)
ip netns exec "$(mns 2)" iperf3 -s -1 -B "$VB" >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
in_ns 1 iperf3 -c "$VB" -t 2 -R -J >"$RUN/iperf-r.json" 2>/dev/null || die "iperf3 bob -> alice"
pass "iperf3 TCP bob -> alice: $("$PY" -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]; print("%.0f Mbit/s" % (e["sum_received"]["bits_per_second"]/1e6))' "$RUN/iperf-r.json")"

for _ in $(seq 50); do
	S=$(rv alice 1 --json status)
	[ "$(echo "$S" | jget 'd["tunnels"][0]["status"]["stats"]["rtt_us"] > 0')" = True ] && break
	sleep 0.2
done
echo "$S" | jget 'd["tunnels"][0]["status"]["stats"]["transport"]' | grep -qx udp ||
	die "status transport: $S"
[ "$(echo "$S" | jget 'd["tunnels"][0]["status"]["stats"]["rtt_us"] > 0')" = True ] ||
	die "no RTT in status: $S"
rv alice 1 status | grep -q "^lan .*$VA.*udp" || die "human status: $(rv alice 1 status)"
pass "status: udp, RTT $(echo "$S" | jget 'd["tunnels"][0]["status"]["stats"]["rtt_us"]') us"

# HealthService.Get (grpcio, the user's session token): the data plane's
# figures per device; an admin sees every tunnel, a user only their own.
mkdir -p "$RUN/py"
protoc --proto_path="$SRC/proto" --python_out="$RUN/py" "$SRC/proto/roomvpn/v1/health.proto" ||
	die "protoc health.proto"
cat >"$RUN/health.py" <<'PYEOF'
import json, sys
import grpc
sys.path.insert(0, sys.argv[1])
from roomvpn.v1 import health_pb2
conf = dict(l.split(" = ", 1) for l in open(sys.argv[2]).read().splitlines() if " = " in l)
creds = grpc.ssl_channel_credentials(root_certificates=open(sys.argv[3], "rb").read())
with grpc.secure_channel(conf["server"], creds) as ch:
    get = ch.unary_unary("/roomvpn.v1.HealthService/Get",
                         request_serializer=health_pb2.HealthRequest.SerializeToString,
                         response_deserializer=health_pb2.HealthResponse.FromString)
    r = get(health_pb2.HealthRequest(), timeout=10,
            metadata=[("authorization", "Bearer " + conf["session_token"])])
keys = ("device_id", "user_id", "state", "room", "peer_id", "virtual_ip", "transport",
        "packets_in", "bytes_in", "packets_out", "bytes_out", "rtt_us", "last_seen_unix_ms")
print(json.dumps({"dataplane_reachable": r.dataplane_reachable,
                  "tunnels": [{k: getattr(t, k) for k in keys} for t in r.tunnels]}))
PYEOF
health() { ip netns exec "$(mns 9)" "$PY" "$RUN/health.py" "$RUN/py" "$RUN/cfg-$1/login.conf" "$RUN/tls.crt"; }
# every one of the VIPs has a live UDP tunnel with traffic both ways and an RTT
health_ok() { # JSON VIP...
	local vips
	vips=$(printf "'%s'," "${@:2}")
	echo "$1" | jget "d['dataplane_reachable'] and all(any(t['virtual_ip'] == v and t['state'] == 'up' and t['transport'] == 'udp' and t['packets_in'] > 0 and t['bytes_in'] > 0 and t['packets_out'] > 0 and t['bytes_out'] > 0 and t['rtt_us'] > 0 and t['last_seen_unix_ms'] > 0 for t in d['tunnels']) for v in [$vips])"
}
for _ in $(seq 30); do
	H=$(health admin) && [ "$(health_ok "$H" "$VA" "$VB")" = True ] && break
	sleep 0.5
done
[ "$(health_ok "$H" "$VA" "$VB")" = True ] || die "admin's Health lacks alice's or bob's tunnel figures: $H"
H=$(health alice) || die "Health as alice"
[ "$(health_ok "$H" "$VA")" = True ] || die "alice's Health lacks her tunnel figures: $H"
[ "$(echo "$H" | jget "[t['virtual_ip'] for t in d['tunnels'] if t['virtual_ip'] in ('$VB', '$VC')]")" = "[]" ] ||
	die "alice's Health shows other users' tunnels: $H"
pass "Health: alice's and bob's tunnels up over udp with bytes both ways and RTT; alice sees only hers: $H"

# roomvpn status lists the room's peers with their presence (ListMembers
# fills it from the tunnel registry and the data plane's cached figures):
# bob online, with an RTT and a last-seen time; the same in `rooms members`.
bob_seen="any(p['virtual_ip'] == '$VB' and p['online'] is True and p['rtt_us'] > 0 and int(p['last_seen_unix_ms']) > 0 for p in d['tunnels'][0]['peers'])"
for _ in $(seq 30); do
	S=$(rv alice 1 --json status)
	[ "$(echo "$S" | jget "$bob_seen" 2>/dev/null)" = True ] && break
	sleep 0.5
done
[ "$(echo "$S" | jget "$bob_seen")" = True ] || die "status peers: bob not online with RTT and last seen: $S"
echo "$S" | jget "d['tunnels'][0]['peers'][0]['last_seen_unix_ms']" | grep -Eqx '[0-9]+' ||
	die "status peers: last_seen_unix_ms not a decimal string: $S"
T=$(rv alice 1 status)
echo "$T" | grep -Eq "^  bob +[0-9]+ +$VB +online +[0-9]+\.[0-9]{2} +20[0-9-]{8}T[0-9:]{8}Z" ||
	die "human status: no online row with RTT and last seen for bob: $T"
T=$(rv alice 1 rooms members lan)
echo "$T" | grep -Eq " bob +$VB .* online +[0-9]+\.[0-9]{2} +20[0-9-]{8}T" ||
	die "rooms members: no online row for bob: $T"
pass "status and rooms members: bob online, RTT and last seen: $(echo "$S" | jget "[(p['username'], p['online'], p['rtt_us']) for p in d['tunnels'][0]['peers']]")"

# The same figures as Prometheus metrics (promtool lints the scrape).
ip netns exec "$(mns 9)" curl -sf --cacert "$RUN/tls.crt" -H @"$RUN/metrics.hdr" "https://$CTL_IP:9443/metrics" \
	>"$RUN/metrics.txt" || die "metrics scrape"
promtool check metrics <"$RUN/metrics.txt" || die "promtool check metrics: $(head -c 2000 "$RUN/metrics.txt")"
for m in roomvpn_tunnels_up roomvpn_tunnel_rx_bytes_total roomvpn_tunnel_tx_bytes_total \
	roomvpn_tunnel_rtt_seconds; do
	grep -Eq "^$m(\{room=\"lan\",device=\"[0-9a-f]{16}\"\})? [1-9]|^$m(\{room=\"lan\",device=\"[0-9a-f]{16}\"\})? 0\.0*[1-9]" \
		"$RUN/metrics.txt" || die "metric $m missing or zero: $(grep "^$m" "$RUN/metrics.txt")"
done
pass "metrics: $(grep -c '^roomvpn_tunnel_rx_bytes_total{' "$RUN/metrics.txt") tunnels' byte counters, promtool clean"

# carol (room "other") routes alice's subnet into her own tunnel: the data
# plane must not relay it.
before=$(drop_count no_route)
CDEV=$(rv carol 3 --json status | jget 'd["tunnels"][0]["status"]["interface"]')
in_ns 3 ip route add "${VA%.*}.0/24" dev "$CDEV"
if in_ns 3 ping -c 2 -i 0.2 -W 1 "$VA" >/dev/null 2>&1; then die "carol reached alice"; fi
after=$(drop_count no_route)
[ "$after" -gt "$before" ] || die "no no_route drop counted ($before -> $after)"
pass "another room's member cannot reach the room (no_route $before -> $after)"

# UDP blocked for bob: TLS over TCP by itself, then back to UDP.
transport() { rv "$1" "$2" --json status | jget 'd["tunnels"][0]["status"]["stats"]["transport"]'; }
wait_transport() { # USER NS WANT
	for _ in $(seq 100); do
		[ "$(transport "$1" "$2")" = "$3" ] && return 0
		sleep 0.2
	done
	return 1
}
in_ns 2 ip rule add priority 100 ipproto udp dport $DP_PORT prohibit
wait_transport bob 2 tcp || die "bob did not fall back to TCP: $(rv bob 2 --json status)"
# ...and the data plane has bound bob's session to the connection
BPEER=$(rv bob 2 --json status | jget 'd["tunnels"][0]["status"]["peer_id"]')
dp_transport() {
	dpctl --json sessions | jget "[s['transport'] for s in d['sessions'] if s['peer_id'] == $BPEER][0]"
}
for _ in $(seq 100); do [ "$(dp_transport)" = tcp ] && break; sleep 0.1; done
[ "$(dp_transport)" = tcp ] || die "the data plane did not move bob to TCP"
in_ns 1 ping -c 5 -i 0.3 -W 2 "$VB" >/dev/null || die "alice -> bob over bob's TCP fallback"
in_ns 2 ping -c 5 -i 0.3 -W 2 "$VA" >/dev/null || die "bob -> alice over bob's TCP fallback"
pass "UDP blocked for bob: TLS over TCP, ping both ways"
in_ns 2 ip rule del priority 100
wait_transport bob 2 udp || die "bob did not move back to UDP: $(rv bob 2 --json status)"
for _ in $(seq 100); do [ "$(dp_transport)" = udp ] && break; sleep 0.1; done
in_ns 1 ping -c 5 -i 0.3 -W 2 "$VB" >/dev/null || die "alice -> bob after moving back to UDP"
pass "UDP unblocked: bob back on UDP, ping"

# Control plane killed: the data plane keeps relaying; restarted: the
# keepalive streams come back (the kick below travels over bob's new one).
CTL_LOG_AT=$(wc -l <"$RUN/control.log")
kill -9 "$CTL_PID"
wait "$CTL_PID" 2>/dev/null
in_ns 1 ping -c 3 -i 0.2 -W 2 "$VB" >/dev/null || die "alice -> bob with the control plane down"
ip netns exec "$(mns 9)" "$CTL" serve --config "$RUN/control.conf" >>"$RUN/control.log" 2>&1 &
CTL_PID=$!
PIDS+=("$CTL_PID")
pass "control plane killed: traffic kept flowing; restarted"

dp_has_vip() { dpctl --json sessions | jget "any(s['vip'] == '$1' for s in d['sessions'])"; }
kconn() { rv bob 2 --json status | jget 'd["tunnels"][0]["status"]["keepalive_connects"]'; }
for _ in $(seq 300); do
	[ "$(kconn)" -ge 2 ] 2>/dev/null && break
	sleep 0.2
done
[ "$(kconn)" -ge 2 ] 2>/dev/null || die "bob's keepalive stream did not reconnect"
pass "keepalive stream reconnected after the control plane restart"

# The restarted control plane holds a tunnel's key material (memory only)
# once it re-keyed it (rekey_interval 5 s): wait for both members' re-keys.
rekeyed_since() { tail -n +"$((CTL_LOG_AT + 1))" "$RUN/control.log" | grep -c "tunnel re-keyed: $1 "; }
for _ in $(seq 150); do
	[ "$(rekeyed_since alice)" -ge 1 ] && [ "$(rekeyed_since bob)" -ge 1 ] && break
	sleep 0.2
done
[ "$(rekeyed_since alice)" -ge 1 ] && [ "$(rekeyed_since bob)" -ge 1 ] ||
	die "no re-key of alice's and bob's tunnels through the restarted control plane"

# Data plane restarted (sessions gone): the control plane notices (stats
# read on the clients' heartbeats), resyncs every session it has key
# material for and asks those clients to re-key (fresh packet-ids); traffic
# resumes. (Clients that hear nothing for 6 s bootstrap anew by themselves.)
DP_LOG_AT=$(wc -l <"$RUN/control.log")
kill "$DP_PID"
wait "$DP_PID" 2>/dev/null
start_dataplane || die "data plane did not restart"
T0=$(date +%s)
resynced() {
	tail -n +"$((DP_LOG_AT + 1))" "$RUN/control.log" |
		sed -n -e 's/.*(restarted): resynced \([0-9]*\) sessions.*/\1/p' \
			-e 's/.*: re-pushed \([0-9]*\) missing sessions.*/\1/p' | tail -1
}
for _ in $(seq 100); do [ -n "$(resynced)" ] && break; sleep 0.2; done
[ "$(resynced)" -ge 2 ] 2>/dev/null ||
	die "no Resync of alice's and bob's sessions after the data plane restart: '$(resynced)'"
for _ in $(seq 100); do
	[ "$(dp_has_vip "$VA")" = True ] && [ "$(dp_has_vip "$VB")" = True ] && break
	sleep 0.1
done
[ "$(dp_has_vip "$VA")" = True ] && [ "$(dp_has_vip "$VB")" = True ] ||
	die "the restarted data plane lacks alice's or bob's session"
pass "data plane restarted: the control plane resynced $(resynced) sessions after $(($(date +%s) - T0)) s"
RESUMED=
for _ in $(seq 60); do
	in_ns 1 ping -c 1 -W 1 "$VB" >/dev/null 2>&1 && RESUMED=1 && break
done
[ -n "$RESUMED" ] || die "traffic did not resume after the data plane restart"
in_ns 2 ping -c 3 -i 0.2 -W 2 "$VA" >/dev/null || die "bob -> alice after the data plane restart"
pass "data plane restarted: traffic back after $(($(date +%s) - T0)) s"

# Carol's client frozen (SIGSTOP): no heartbeats, so the control plane
# tears her session down on the data plane; thawed, the client comes back
# by itself (keepalive reconnects, a new session is bootstrapped).
CPID=$(cat "$RUN/cfg-carol/run/other.pid")
# (her session first: after the data plane's restart it may come back a
# little after alice's and bob's, by her own re-key or new bootstrap)
for _ in $(seq 150); do [ "$(dp_has_vip "$VC")" = True ] && break; sleep 0.1; done
[ "$(dp_has_vip "$VC")" = True ] || die "carol's session is not back after the data plane restart"
kill -STOP "$CPID"
for _ in $(seq 150); do [ "$(dp_has_vip "$VC")" = False ] && break; sleep 0.1; done
[ "$(dp_has_vip "$VC")" = False ] && G=1 || G=
kill -CONT "$CPID"
[ -n "$G" ] || die "carol's session survived missed heartbeats"
grep -q "no keepalive heartbeat for 8 s" "$RUN/control.log" ||
	die "no teardown reason logged: $(grep -E 'ended|carol|resync|data plane' "$RUN/control.log" | tail -12)"
for _ in $(seq 200); do [ "$(dp_has_vip "$VC")" = True ] && break; sleep 0.1; done
[ "$(dp_has_vip "$VC")" = True ] || die "carol's client did not come back after SIGCONT"
pass "missed heartbeats: carol's session torn down; thawed, her client bootstrapped a new one"

# Kick bob: the data plane drops his session at once, his client says why.
BDEV=$(rv alice 1 --json rooms members lan |
	jget '[m["device_id"] for m in d["members"] if m["username"] == "bob"][0]')
BPID=$(cat "$RUN/cfg-bob/run/lan.pid")
KICKED=
for _ in $(seq 50); do
	rv alice 1 rooms kick lan "$BDEV" >/dev/null 2>"$RUN/kick.err" && KICKED=1 && break
	sleep 0.2
done
[ -n "$KICKED" ] || die "kick failed: $(cat "$RUN/kick.err")"
if in_ns 1 ping -c 2 -i 0.2 -W 1 "$VB" >/dev/null 2>&1; then die "bob still reachable after the kick"; fi
for _ in $(seq 100); do kill -0 "$BPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$BPID" 2>/dev/null && die "bob's client still running after the kick"
grep -q "ended by the server: this device is no longer a member of room lan" \
	"$RUN/cfg-bob/run/lan.log" || die "bob's client did not say why: $(cat "$RUN/cfg-bob/run/lan.log")"
[ "$(in_ns 2 cat /etc/resolv.conf)" = "$ORIG_RESOLV" ] ||
	die "bob's resolv.conf not restored after the kick: $(in_ns 2 cat /etc/resolv.conf)"
pass "kick: traffic stopped, bob's client: $(grep 'ended by the server' "$RUN/cfg-bob/run/lan.log")"

# A client killed without its teardown (kill -9) leaves its DNS settings in
# place; the next `up` of the room writes the saved file back first (and
# saves that one again, not its own leftover).
A0=$(acks)
rv carol 3 rooms update other --dns 10.88.1.53 >/dev/null || die "rooms update other --dns"
wait_acks $((A0 + 1)) || die "carol did not acknowledge the DNS update"
in_ns 3 grep -q "^nameserver 10.88.1.53$" /etc/resolv.conf || die "carol's resolv.conf: $(in_ns 3 cat /etc/resolv.conf)"
CPID=$(cat "$RUN/cfg-carol/run/other.pid")
kill -9 "$CPID"
for _ in $(seq 50); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
in_ns 3 grep -q "^nameserver 10.88.1.53$" /etc/resolv.conf || die "carol's DNS gone without a teardown?"
up carol 3 other || die "carol up again after kill -9"
grep -q "restored /etc/resolv.conf saved by an earlier tunnel of room other" "$RUN/up-carol.out" ||
	die "no restore at the next up: $(cat "$RUN/up-carol.out")"
in_ns 3 grep -q "^nameserver 10.88.1.53$" /etc/resolv.conf || die "carol's DNS not applied again"
[ "$(cat "$RUN/cfg-carol/run/other.dns-backup")" = "$ORIG_RESOLV" ] ||
	die "carol's backup is not the original file: $(cat "$RUN/cfg-carol/run/other.dns-backup")"
rv carol 3 down other >/dev/null || die "carol down"
[ "$(in_ns 3 cat /etc/resolv.conf)" = "$ORIG_RESOLV" ] || die "carol's resolv.conf after down: $(in_ns 3 cat /etc/resolv.conf)"
pass "DNS after a crash (kill -9): the next up restored the saved resolv.conf, applied the room's again; down restored it"

ADEV=$(rv alice 1 --json status | jget 'd["tunnels"][0]["status"]["interface"]')
rv alice 1 down lan >/dev/null || die "down"
in_ns 1 ip link show "$ADEV" >/dev/null 2>&1 && die "$ADEV still present after down"
rv alice 1 status | grep -q "No tunnel is up" || die "status after down"
[ "$(in_ns 1 cat /etc/resolv.conf)" = "$ORIG_RESOLV" ] ||
	die "alice's resolv.conf not restored by down: $(in_ns 1 cat /etc/resolv.conf)"
[ ! -e "$RUN/cfg-alice/run/lan.dns-backup" ] || die "alice's DNS backup left behind"
pass "down: device removed, resolv.conf restored"
echo "PASS: client end to end"
