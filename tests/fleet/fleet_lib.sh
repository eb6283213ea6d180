# shellcheck shell=bash
# The fleet topology of tests/fleet/fleet_test.sh (sourced): relay_lib.sh's
# switch and members, plus two data planes, each in its own namespace on
# its own veth pair:
#   ns dp  (A)  dp0 DPDK 10.99.0.1:1194, k0 10.99.0.2 (kernel: TCP fallback
#               on 8443, and the agent link it dials to the control plane)
#   ns dpb (B)  dp0 DPDK 10.99.0.3:1194, k0 10.99.0.4
#   ns m9       roomvpn-control: clients on 10.99.0.19:7443, data planes on
#               10.99.0.19:7444 (mutual TLS)
#   ns m1..m4   clients
# Needs BIN, RUN, SFX; roomvpn_ns.sh sourced before.

declare -A FL_NS FL_IP FL_TCP FL_PID FL_LABELS
FL_NS[a]=$NS_DP FL_IP[a]=10.99.0.1 FL_TCP[a]=10.99.0.2 FL_LABELS[a]=site=a
FL_NS[b]=rv-dpb-$SFX FL_IP[b]=10.99.0.3 FL_TCP[b]=10.99.0.4 FL_LABELS[b]=site=b
FL_DP_LISTEN=$CTL_IP:7444

# fl_dp_ns X: data plane X's namespace with dp0 (for DPDK) and k0 (kernel)
# on the switch. A's dp0 comes from rv_topology.
fl_dp_ns() {
	local x=$1 ns=${FL_NS[$1]}
	if [ "$x" != a ]; then
		mkns "$ns"
		ip link add dp0 netns "$ns" type veth peer name p-dp$x netns "$NS_SW"
		ip -n "$NS_SW" link set p-dp$x master br0 up
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
		ip -n "$ns" link set dp0 up
	fi
	ip link add k0 netns "$ns" type veth peer name p-k0$x netns "$NS_SW"
	ip -n "$NS_SW" link set p-k0$x master br0 up
	ip -n "$ns" addr add "${FL_TCP[$x]}/24" dev k0
	ip -n "$ns" link set k0 up
}

# fl_dp_conf X [CERT KEY CA]: data plane X's config; with its certificate,
# key and the control plane's data-plane CA it dials the control plane over
# mutual TLS as a member of the fleet.
fl_dp_conf() {
	local x=$1 d=$RUN/dp-$1
	mkdir -p "$d"
	printf '%s\n' "ip = ${FL_IP[$x]}/24" "udp_port = $DP_PORT" "agent_socket = $d/agent.sock" \
		"idle_sleep_us = 200" "tcp = true" "tcp_listen = ${FL_TCP[$x]}:$TCP_PORT" \
		"tcp_cert = $RUN/tls.crt" "tcp_key = $RUN/tls.key" >"$d/dataplane.conf"
	[ -n "${2:-}" ] || return 0
	printf '%s\n' "name = dp$x" "labels = ${FL_LABELS[$x]}" "control = $FL_DP_LISTEN" \
		"public_udp = ${FL_IP[$x]}:$DP_PORT" "public_tcp = ${FL_TCP[$x]}:$TCP_PORT" \
		"agent_cert = $2" "agent_key = $3" "agent_ca = $4" >>"$d/dataplane.conf"
}

# fl_dp_conf_dir X DIR: fl_dp_conf with the files of `roomvpn-control
# dataplane-cert NAME --out DIR`.
fl_dp_conf_dir() {
	fl_dp_conf "$1" "$(fl_cert_file "$2" cert)" "$(fl_cert_file "$2" key)" "$(fl_cert_file "$2" ca)"
}

# fl_cert_file DIR cert|key|ca: a file of `dataplane-cert NAME --out DIR`
# (by content: the private key, the CA certificate (its subject is its
# issuer), the data plane's certificate).
fl_cert_file() {
	local f
	for f in "$1"/*; do
		case $2 in
		key) grep -q "PRIVATE KEY" "$f" && { echo "$f"; return; } ;;
		ca | cert)
			grep -q "BEGIN CERTIFICATE" "$f" || continue
			local s i
			s=$(openssl x509 -in "$f" -noout -subject 2>/dev/null | sed 's/^subject=//')
			i=$(openssl x509 -in "$f" -noout -issuer 2>/dev/null | sed 's/^issuer=//')
			if [ "$2" = ca ] && [ "$s" = "$i" ]; then echo "$f"; return; fi
			if [ "$2" = cert ] && [ "$s" != "$i" ]; then echo "$f"; return; fi
			;;
		esac
	done
	echo "$1/missing-$2"
}

# fl_dp_start X: roomvpn-dataplane X (its own --file-prefix), waits for its
# agent socket.
fl_dp_start() {
	local x=$1 d=$RUN/dp-$1
	rm -f "$d/agent.sock"
	ip netns exec "${FL_NS[$x]}" "$RVN_DATAPLANE" -l 0-1 --no-huge -m 256 --no-pci \
		--file-prefix "rv$SFX$x" --log-level=lib.eal:error --vdev net_af_packet0,iface=dp0 -- \
		--config "$d/dataplane.conf" >>"$d/dp.log" 2>&1 &
	FL_PID[$x]=$!
	PIDS+=("${FL_PID[$x]}")
	for _ in $(seq 300); do
		kill -0 "${FL_PID[$x]}" 2>/dev/null || break
		[ -S "$d/agent.sock" ] && return 0
		sleep 0.1
	done
	tail -20 "$d/dp.log"
	return 1
}

dpctl_of() {
	local x=$1
	shift
	"$RVN_DPCTL" --socket "$RUN/dp-$x/agent.sock" "$@"
}

# fl_sessions X: how many sessions data plane X holds.
fl_sessions() {
	dpctl_of "$1" --json sessions | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["sessions"]))'
}

# fl_control_conf EXTRA...: the control plane's config $RUN/control.conf
# (FL_CONTROL_CONF: another file), the lines EXTRA appended.
fl_control_conf() {
	printf '%s\n' "state_dir = $RUN/state" "listen = $CTL_IP:7443" "tls_names = $CTL_IP" \
		"tls_cert = $RUN/tls.crt" "tls_key = $RUN/tls.key" "$@" \
		>"${FL_CONTROL_CONF:-$RUN/control.conf}"
}

# fl_dp_line X: data plane X as a `dataplane =` line of the control plane's
# config (a local data plane on its unix socket).
fl_dp_line() {
	echo "dataplane = dp$1 unix:$RUN/dp-$1/agent.sock udp=${FL_IP[$1]}:$DP_PORT" \
		"tcp=${FL_TCP[$1]}:$TCP_PORT labels=${FL_LABELS[$1]}"
}

fl_control_init() {
	echo "$1" | "$RVN_CONTROL" init --config "$RUN/control.conf" --state-dir "$RUN/state" \
		--admin admin >"$RUN/init.log" 2>&1 || { cat "$RUN/init.log"; return 1; }
}

fl_control_start() {
	ip netns exec "$(mns 9)" "$RVN_CONTROL" serve --config "$RUN/control.conf" \
		>>"$RUN/control.log" 2>&1 &
	CTL_PID=$!
	PIDS+=("$CTL_PID")
}

# status_of USER N EXPR: a Python expression over USER's first tunnel's
# status (`roomvpn --json status`: t = tunnels[0]["status"]).
status_of() {
	rv "$1" "$2" --json status 2>/dev/null |
		"$PY" -c 'import json,sys; t=json.load(sys.stdin)["tunnels"][0]["status"]; print(eval(sys.argv[1]))' "$3" 2>/dev/null
}

# poll SECONDS CMD...: run CMD every 0.2 s until it succeeds; 1 at the deadline.
poll() {
	local end=$(($(date +%s) + $1))
	shift
	while [ "$(date +%s)" -lt "$end" ]; do
		"$@" && return 0
		sleep 0.2
	done
	"$@"
}

# ping_log N ADDR FILE: a ping every 0.1 s from mN, timestamped (-D), until killed.
ping_log() {
	ip netns exec "$(mns "$1")" ping -D -n -i 0.1 -W 1 "$2" >"$3" 2>&1 &
	PIDS+=("$!")
	echo $!
}

# ping_gap FILE: the longest time between two echo replies, in seconds.
ping_gap() {
	"$PY" - "$1" <<'EOF'
import re, sys
t = [float(m.group(1)) for m in (re.match(r"\[(\d+\.\d+)\] \d+ bytes from", l) for l in open(sys.argv[1])) if m]
print("%.2f" % max((b - a for a, b in zip(t, t[1:])), default=999.0) if len(t) > 1 else "999.00")
EOF
}

# ping_replies_after FILE T: echo replies stamped after unix time T.
ping_replies_after() {
	"$PY" - "$1" "$2" <<'EOF'
import re, sys
n = sum(1 for l in open(sys.argv[1]) for m in [re.match(r"\[(\d+\.\d+)\] \d+ bytes from", l)] if m and float(m.group(1)) > float(sys.argv[2]))
print(n)
EOF
}

# iperf_gap JSON: the time iperf3's per-interval output carried (almost)
# nothing (< 5 % of the median interval), in seconds; "reset" if iperf3
# reported an error (a connection reset inside the tunnel).
iperf_gap() {
	"$PY" - "$1" <<'EOF'
import json, statistics, sys
j = json.load(open(sys.argv[1]))
if j.get("error"):
    print("reset: " + j["error"]); sys.exit()
iv = [(i["sum"]["seconds"], i["sum"]["bytes"]) for i in j["intervals"]]
med = statistics.median(b for _, b in iv)
print("%.2f" % sum(s for s, b in iv if b < 0.05 * med))
EOF
}
