#!/usr/bin/env bash
# Issue 11 end to end: many data planes behind one control plane
# (docs/fleet.md), in network namespaces (tests/fleet/fleet_lib.sh): two
# data planes (each its own namespace, veth and DPDK --file-prefix), one
# control plane in its own namespace, four `roomvpn up` clients in two
# rooms (east: u1, u2; west: u3, u4).
#
# With the fleet (the data planes dial the control plane over mutual TLS
# with certificates from `roomvpn-control dataplane-cert`):
#  1. both data planes registered (`roomvpn admin dataplanes`), the two
#     rooms spread over them, each client's `status` names its room's data
#     plane; rooms created with --placement site=a / site=b land there;
#  2. drain of east's data plane under an iperf3 load u1 -> u2: the gap
#     measured from iperf3's per-interval output (printed; at most 3 s
#     here, the 1 s target is for the bench), no reset of the TCP
#     connection; east lands on the other data plane, status follows; undrain;
#  3. kill -9 of west's data plane: its members come back on the other
#     (ping every 0.1 s, the per-member gap printed, at most 15 s here),
#     status names the new data plane;
#  4. the killed data plane restarted: registered again, no sessions of the
#     moved rooms on it (`roomvpn-dpctl sessions`), a new room placed on it
#     (--placement) gets its member's session there;
#  5. a data plane with a certificate from another CA is refused (logged, not
#     listed); a revoked one (`dataplane-revoke`) is disconnected (down or
#     gone from the list) and its rooms move.
# Without the fleet (parts A and B of issue 11 not in this build: detected
# from `roomvpn-control --help` and `roomvpn-dataplane --check-config`),
# what can run runs: both data planes up, the control plane on A through the
# unix socket, the four clients up and pinging in their rooms, then an
# interim failover: A killed -9, the control plane restarted on B: every
# client notices its dead data channel, bootstraps again and moves to B's
# endpoints without a new TUN device (per-member ping gap printed); the
# fleet checks print SKIP with the reason and the test exits 77 (ctest:
# skipped).
# Usage (root): fleet_test.sh BUILD_DIR
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "${1:-$SRC/build}" && pwd) || exit 1
[ "$(id -u)" = 0 ] || { echo "fleet_test: needs root" >&2; exit 1; }
RUN=$(mktemp -d /tmp/rv-fleet.XXXXXX)
SFX=fl$$
source "$SRC/scripts/lib/roomvpn_ns.sh"
source "$SRC/tests/fleet/fleet_lib.sh"
trap rv_cleanup EXIT
trap 'exit 130' INT TERM
die() {
	echo "FAIL: $*"
	for f in control.log dp-a/dp.log dp-b/dp.log; do
		[ -f "$RUN/$f" ] && { echo "--- $f"; tail -12 "$RUN/$f"; }
	done
	exit 1
}
skip() { echo "SKIP: $*"; }
ADMIN_PW=admin-password-1
# member N's user and room
user() { echo "u$1"; }
room() { [ "$1" -le 2 ] && echo east || echo west; }
peer() { case $1 in 1) echo 2 ;; 2) echo 1 ;; 3) echo 4 ;; 4) echo 3 ;; esac; }

# --- is the fleet in this build? FLEET: the control plane places rooms on
# several data planes (part B); MTLS: data planes dial it over mutual TLS
# (part A). With the fleet but without mTLS the data planes are attached
# through `dataplane =` lines (unix sockets) and the certificate checks skip.
FLEET=1 MTLS=1 WHY_FLEET='' WHY_MTLS=''
rv_topology
for x in a b; do fl_dp_ns "$x"; done
for n in 1 2 3 4 9; do rv_member "$n"; done
rvn_cert || die "openssl"
mkdir -p "$RUN/probe"
FL_CONTROL_CONF=$RUN/probe/control.conf fl_control_conf "$(fl_dp_line a)"
"$RVN_CONTROL" check-config --config "$RUN/probe/control.conf" >"$RUN/probe/control.out" 2>&1 ||
	FLEET='' WHY_FLEET="roomvpn-control takes no 'dataplane =' lines (issue 11 part B)"
if ! "$RVN_CONTROL" --help 2>&1 | grep -q "dataplane-cert"; then
	MTLS='' WHY_MTLS="roomvpn-control has no dataplane-cert command (issue 11 part A)"
else
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=probe \
		-keyout "$RUN/probe/k.pem" -out "$RUN/probe/c.pem" >/dev/null 2>&1
	fl_dp_conf a "$RUN/probe/c.pem" "$RUN/probe/k.pem" "$RUN/probe/c.pem"
	"$RVN_DATAPLANE" --check-config --config "$RUN/dp-a/dataplane.conf" >"$RUN/probe/dp.out" 2>&1 ||
		MTLS='' WHY_MTLS="roomvpn-dataplane does not take the fleet keys (issue 11 part A): $(head -1 "$RUN/probe/dp.out")"
fi
[ -n "$FLEET" ] || { MTLS='' WHY_MTLS=${WHY_MTLS:-$WHY_FLEET}; }
echo "fleet: ${FLEET:+yes}${WHY_FLEET:+no ($WHY_FLEET)}; mutual TLS: ${MTLS:+yes}${WHY_MTLS:+no ($WHY_MTLS)}"
LINK="over unix sockets (dataplane = lines)"

# --- control plane, data planes
if [ -n "$MTLS" ]; then
	LINK="over mutual TLS"
	fl_control_conf "dataplane_listen = $FL_DP_LISTEN" "dataplane_ca_dir = $RUN/dpca"
	fl_control_init "$ADMIN_PW" || die "control init"
	for x in a b; do
		"$RVN_CONTROL" dataplane-cert "dp$x" --out "$RUN/cert-$x" --config "$RUN/control.conf" \
			>"$RUN/cert-$x.log" 2>&1 || die "dataplane-cert dp$x: $(cat "$RUN/cert-$x.log")"
		fl_dp_conf_dir "$x" "$RUN/cert-$x"
	done
elif [ -n "$FLEET" ]; then
	for x in a b; do fl_dp_conf "$x"; done
	fl_control_conf "$(fl_dp_line a)" "$(fl_dp_line b)"
	fl_control_init "$ADMIN_PW" || die "control init"
else
	for x in a b; do fl_dp_conf "$x"; done
	fl_control_conf "dataplane_udp = ${FL_IP[a]}:$DP_PORT" "dataplane_tcp = ${FL_TCP[a]}:$TCP_PORT" \
		"dataplane_agent = $RUN/dp-a/agent.sock"
	fl_control_init "$ADMIN_PW" || die "control init"
fi
fl_control_start
for x in a b; do fl_dp_start "$x" || die "data plane $x did not start"; done
pass "two data planes up (own namespaces, veths and --file-prefix)"
rvn_login admin "$ADMIN_PW" 9 || die "admin login"

# dp_state NAME: the data plane's state in `admin dataplanes --json`
# ("absent" when not listed).
dp_state() {
	rv admin 9 --json admin dataplanes list 2>/dev/null | "$PY" -c '
import json, sys
d = {x["name"]: x["state"] for x in json.load(sys.stdin)["dataplanes"]}
print(d.get(sys.argv[1], "absent").replace("DATAPLANE_STATE_", "").lower())' "$1"
}
dp_is() { [ "$(dp_state "$1")" = "$2" ]; }
room_dp() { rv admin 9 --json rooms show "$1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["dataplane"])'; }
if [ -n "$FLEET" ]; then
	for x in a b; do poll 20 dp_is "dp$x" up || die "dp$x not registered: $(rv admin 9 admin dataplanes 2>&1)"; done
	pass "both data planes registered $LINK: $(rv admin 9 admin dataplanes | tr -s ' ' | tail -2 | cut -d' ' -f1-2 | tr '\n' ' ')"
fi

# --- four clients in two rooms
for n in 1 2 3 4; do
	echo "$(user "$n")-password-1" | rv admin 9 admin users create "$(user "$n")" --password-stdin \
		>/dev/null || die "create $(user "$n")"
	rvn_login "$(user "$n")" "$(user "$n")-password-1" "$n" || die "login $(user "$n")"
done
rv u1 1 rooms create east >/dev/null || die "rooms create east"
rv u3 3 rooms create west >/dev/null || die "rooms create west"
declare -A VIP
for n in 1 2 3 4; do
	rv "$(user "$n")" "$n" join "$(room "$n")" >/dev/null || die "join $(room "$n")"
	rvn_up "$(user "$n")" "$n" "$(room "$n")" || die "up $(user "$n")"
	has_vip() { [ -n "$(status_of "$(user "$1")" "$1" 't["virtual_ip"]')" ]; }
	poll 5 has_vip "$n" || die "no status of $(user "$n")'s tunnel: $(rv "$(user "$n")" "$n" --json status)"
	VIP[$n]=$(status_of "$(user "$n")" "$n" 't["virtual_ip"]')
done
for n in 1 2 3 4; do
	in_ns "$n" ping -c 2 -i 0.2 -W 2 "${VIP[$(peer "$n")]}" >/dev/null ||
		die "no ping $(user "$n") -> $(user "$(peer "$n")") in $(room "$n")"
done
pass "four clients up in two rooms, each reaches its room's other member"

# replies_before N: member N's running ping (ping_log) has had 3 replies.
replies_before() { [ "$(ping_replies_after "$RUN/ping-$1.log" 0)" -ge 3 ]; }

# --- without the fleet: the interim failover, then the fleet checks skipped
if [ -z "$FLEET" ]; then
	[ "$(status_of u1 1 't["dataplane_endpoint"]')" = "udp ${FL_IP[a]}:$DP_PORT" ] ||
		die "u1's status does not show data plane A's endpoint: $(rv u1 1 --json status)"
	declare -A IFX PL
	for n in 1 2 3 4; do
		IFX[$n]=$(status_of "$(user "$n")" "$n" 't["interface"]')
		PL[$n]=$(ping_log "$n" "${VIP[$(peer "$n")]}" "$RUN/ping-$n.log")
		PIDS+=("${PL[$n]}") # (ping_log's own PIDS+= is in the $(...) subshell)
	done
	for n in 1 2 3 4; do poll 5 replies_before "$n" || die "$(user "$n")'s ping gets no reply"; done
	{ kill -9 "${FL_PID[a]}" && wait "${FL_PID[a]}"; } 2>/dev/null
	T0=$(date +%s.%N)
	kill "$CTL_PID" && wait "$CTL_PID" 2>/dev/null
	fl_control_conf "dataplane_udp = ${FL_IP[b]}:$DP_PORT" "dataplane_tcp = ${FL_TCP[b]}:$TCP_PORT" \
		"dataplane_agent = $RUN/dp-b/agent.sock"
	fl_control_start
	on_b() { [ "$(status_of "$(user "$1")" "$1" 't["dataplane_endpoint"]')" = "udp ${FL_IP[b]}:$DP_PORT" ]; }
	for n in 1 2 3 4; do
		poll 40 on_b "$n" || die "$(user "$n") did not move to data plane B: $(rv "$(user "$n")" "$n" --json status)"
	done
	replies_back() { [ "$(ping_replies_after "$RUN/ping-$1.log" "$T0")" -ge 5 ]; }
	for n in 1 2 3 4; do poll 20 replies_back "$n" || die "$(user "$n")'s ping did not resume on B"; done
	GAPS=
	for n in 1 2 3 4; do
		kill "${PL[$n]}"
		g=$(ping_gap "$RUN/ping-$n.log")
		GAPS+="$(user "$n") ${g}s "
		awk -v g="$g" 'BEGIN { exit !(g <= 40) }' || die "$(user "$n")'s ping gap ${g}s"
		[ "$(status_of "$(user "$n")" "$n" 't["interface"]')" = "${IFX[$n]}" ] ||
			die "$(user "$n")'s TUN device changed"
	done
	WHY=$WHY_FLEET
	[ "$(fl_sessions b)" = 4 ] || die "data plane B holds $(fl_sessions b) sessions, want 4"
	[ "$(grep -c "data plane - (${FL_IP[a]}:$DP_PORT) -> - (${FL_IP[b]}:$DP_PORT) (data channel dead)" \
		"$RUN/cfg-u1/run/east.log")" = 1 ] || die "u1 did not log its move once with old -> new"
	pass "interim failover (A killed -9, control plane restarted on B): every client re-bootstrapped on its own and moved to B's endpoints, same TUN device; ping gap per member: $GAPS"
	for c in "placement spread over two data planes" "room with --placement lands on the matching label" \
		"drain under iperf3 (gap, no reset)" "kill -9 of a data plane: members on the other, status" \
		"restarted data plane: no sessions of moved rooms, takes a new room" \
		"certificate of another CA refused" "revoked data plane disconnected"; do
		skip "$c: $WHY"
	done
	echo "PASS (partial): the fleet checks are skipped until issue 11 parts A and B are in"
	exit 77
fi

# --- 1. placement
DE=$(room_dp east) DW=$(room_dp west)
[ -n "$DE" ] && [ -n "$DW" ] && [ "$DE" != "$DW" ] || die "rooms not spread: east on '$DE', west on '$DW'"
# on_dp N DP: member N's status names data plane DP
on_dp() { [ "$(status_of "$(user "$1")" "$1" 't["dataplane"]')" = "$2" ]; }
for n in 1 2 3 4; do
	want=$([ "$(room "$n")" = east ] && echo "$DE" || echo "$DW")
	poll 5 on_dp "$n" "$want" ||
		die "$(user "$n")'s status does not name $want: $(rv "$(user "$n")" "$n" status)"
done
rv admin 9 rooms create north --placement site=a >/dev/null || die "rooms create --placement site=a"
rv admin 9 rooms create south --placement site=b >/dev/null || die "rooms create --placement site=b"
[ "$(room_dp north)" = dpa ] && [ "$(room_dp south)" = dpb ] ||
	die "placement: north on '$(room_dp north)' (want dpa), south on '$(room_dp south)' (want dpb)"
for r in north south; do # pinned to one data plane: they would keep a drain from ending
	rv admin 9 rooms delete "$r" >/dev/null || die "rooms delete $r"
done
pass "placement: east on $DE, west on $DW; site=a -> dpa, site=b -> dpb; status names each client's data plane"
other() { [ "$1" = dpa ] && echo dpb || echo dpa; }
x_of() { echo "${1#dp}"; }

# --- 2. drain under iperf3 (u1 -> u2, east)
rvn_iperf_server 2 "${VIP[2]}" || die "iperf3 server"
ip netns exec "$(mns 1)" timeout 40 iperf3 -c "${VIP[2]}" -t 10 -i 0.2 --json >"$RUN/iperf.json" 2>&1 &
IC=$!
PIDS+=("$IC")
flowing() { [ "$(status_of u2 2 't["stats"]["rx_bytes"] > 20000000')" = True ]; }
poll 10 flowing || die "no iperf3 flow through east before the drain"
rv admin 9 admin dataplanes drain "$DE" >/dev/null || die "drain $DE"
moved_east() { [ "$(room_dp east)" = "$(other "$DE")" ]; }
poll 15 moved_east || die "east still on $DE after the drain"
wait "$IC" || die "iperf3 failed across the drain: $(tail -5 "$RUN/iperf.json")"
G=$(iperf_gap "$RUN/iperf.json")
case $G in reset*) die "iperf3 across the drain: $G" ;; esac
awk -v g="$G" 'BEGIN { exit !(g <= 3) }' || die "drain gap ${G}s (bound 3 s)"
for n in 1 2; do
	poll 5 on_dp "$n" "$(other "$DE")" ||
		die "$(user "$n")'s status after the drain: $(rv "$(user "$n")" "$n" status)"
done
poll 15 dp_is "$DE" drained || die "$DE not drained: $(dp_state "$DE")"
rv admin 9 admin dataplanes undrain "$DE" >/dev/null || die "undrain $DE"
poll 10 dp_is "$DE" up || die "$DE not back in placement: $(dp_state "$DE")"
pass "drain of $DE under iperf3: gap ${G}s, no TCP reset, east on $(other "$DE"), undrained"

# --- 3. kill -9 of west's data plane
DW=$(room_dp west)
declare -A PL
for n in 1 2 3 4; do
	PL[$n]=$(ping_log "$n" "${VIP[$(peer "$n")]}" "$RUN/ping-$n.log")
	PIDS+=("${PL[$n]}")
done
for n in 1 2 3 4; do poll 5 replies_before "$n" || die "$(user "$n")'s ping gets no reply"; done
{ kill -9 "${FL_PID[$(x_of "$DW")]}" && wait "${FL_PID[$(x_of "$DW")]}"; } 2>/dev/null
T0=$(date +%s.%N)
moved_west() { [ "$(room_dp west)" = "$(other "$DW")" ]; }
poll 15 moved_west || die "west not re-placed after kill -9 of $DW"
replies_back() { [ "$(ping_replies_after "$RUN/ping-$1.log" "$T0")" -ge 5 ]; }
GAPS=
for n in 1 2 3 4; do
	poll 20 replies_back "$n" || die "$(user "$n")'s ping did not resume"
	kill "${PL[$n]}"
	g=$(ping_gap "$RUN/ping-$n.log")
	GAPS+="$(user "$n") ${g}s "
	awk -v g="$g" 'BEGIN { exit !(g <= 15) }' || die "$(user "$n")'s ping gap ${g}s (bound 15 s)"
	# the status file is rewritten once a second
	poll 5 on_dp "$n" "$(other "$DW")" ||
		die "$(user "$n")'s status after the failover: $(rv "$(user "$n")" "$n" status)"
done
pass "kill -9 of $DW: members back on $(other "$DW"), ping gap per member: $GAPS"

# --- 4. the killed data plane restarted
fl_dp_start "$(x_of "$DW")" || die "$DW did not restart"
poll 20 dp_is "$DW" up || die "$DW not registered again: $(dp_state "$DW")"
[ "$(fl_sessions "$(x_of "$DW")")" = 0 ] ||
	die "$DW holds sessions of moved rooms: $(dpctl_of "$(x_of "$DW")" sessions)"
LBL=${FL_LABELS[$(x_of "$DW")]}
rv u4 4 rooms create fresh --placement "$LBL" >/dev/null || die "rooms create fresh"
[ "$(room_dp fresh)" = "$DW" ] || die "fresh placed on '$(room_dp fresh)', want $DW"
rv u4 4 join fresh >/dev/null && rvn_up u4 4 fresh || die "u4 up fresh"
has_one() { [ "$(fl_sessions "$(x_of "$DW")")" = 1 ]; }
poll 10 has_one || die "$DW has $(fl_sessions "$(x_of "$DW")") sessions after u4's up in fresh, want 1"
pass "$DW restarted: resynced (no sessions of moved rooms), takes the new room fresh"

# --- 5. certificates: another CA refused, a revoked one disconnected
if [ -z "$MTLS" ]; then
	skip "certificate of another CA refused: $WHY_MTLS"
	skip "revoked data plane disconnected: $WHY_MTLS"
	echo "PASS (partial): the fleet $LINK; the certificate checks skipped"
	exit 77
fi
mkdir -p "$RUN/rogue"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=rogue-ca \
	-keyout "$RUN/rogue-ca.key" -out "$RUN/rogue/ca.pem" >/dev/null 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=dpa \
	-keyout "$RUN/rogue/key.pem" -out "$RUN/rogue.csr" >/dev/null 2>&1
openssl x509 -req -in "$RUN/rogue.csr" -CA "$RUN/rogue/ca.pem" -CAkey "$RUN/rogue-ca.key" \
	-CAcreateserial -days 1 -out "$RUN/rogue/cert.pem" >/dev/null 2>&1
kill "${FL_PID[a]}" && wait "${FL_PID[a]}" 2>/dev/null
poll 15 dp_is dpa down || die "dpa not down after it stopped: $(dp_state dpa)"
L0=$(wc -l <"$RUN/control.log")
fl_dp_conf a "$RUN/rogue/cert.pem" "$RUN/rogue/key.pem" "$(fl_cert_file "$RUN/cert-a" ca)"
fl_dp_start a || die "data plane a (rogue certificate) did not start"
refused() { tail -n +"$L0" "$RUN/control.log" | grep -qiE "refus|reject|verif|unknown ca|bad certificate"; }
poll 15 refused || die "no refusal of the rogue certificate in the control log"
[ "$(dp_state dpa)" = down ] || die "dpa with a rogue certificate is $(dp_state dpa)"
pass "a data plane with a certificate of another CA is refused and logged"
"$RVN_CONTROL" dataplane-revoke dpb --config "$RUN/control.conf" >"$RUN/revoke.log" 2>&1 ||
	die "dataplane-revoke dpb: $(cat "$RUN/revoke.log")"
gone() { case $(dp_state dpb) in down | absent) return 0 ;; esac; return 1; }
poll 15 gone || die "revoked dpb still $(dp_state dpb)"
pass "revoked dpb disconnected ($(dp_state dpb))"
echo "PASS: fleet end to end"
