# shellcheck shell=bash
# A whole roomvpn in network namespaces, for scripts/demo.sh and
# bench/e2e/bench_vs_openvpn.sh (sourced, not run). The topology and the
# clean-up come from tests/dataplane/relay_lib.sh:
#   ns sw   bridge br0
#   ns dp   dp0 driven by roomvpn-dataplane (net_af_packet, 10.99.0.1:1194,
#           no hugepages), k0 10.99.0.2 (kernel) for its TLS/TCP fallback
#   ns m9   roomvpn-control, gRPC over TLS on 10.99.0.19:7443
#   ns mN   a client: eth0 10.99.0.(10+N)/24
# Needs: BIN (build dir), RUN (scratch dir), SFX (per-run suffix); sets
# CTL_PID, DP_PID, FP (the server certificate's SHA-256 pin).
# Installed programs instead of the build tree: RV_BIN_DIR (a bin directory,
# e.g. usr/bin of the .debs unpacked into a throw-away root). With
# RV_UNIT_DIR as well, the control and data plane start from their systemd
# units' ExecStart= lines (rvn_exec_start).

# shellcheck source=../../tests/dataplane/relay_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/dataplane/relay_lib.sh"
if [ -n "${RV_BIN_DIR:-}" ]; then
	RVN_CONTROL=$RV_BIN_DIR/roomvpn-control RVN_DATAPLANE=$RV_BIN_DIR/roomvpn-dataplane
	RVN_CLIENT=$RV_BIN_DIR/roomvpn RVN_DPCTL=$RV_BIN_DIR/roomvpn-dpctl
	dpctl() { "$RVN_DPCTL" --socket "$RUN/agent.sock" "$@"; }
else
	RVN_CONTROL=$BIN/control/roomvpn-control RVN_DATAPLANE=$BIN/dataplane/roomvpn-dataplane
	RVN_CLIENT=$BIN/client/roomvpn RVN_DPCTL=$BIN/dataplane/roomvpn-dpctl
fi
CTL_IP=10.99.0.19
TCP_IP=10.99.0.2
TCP_PORT=8443
PY=/usr/bin/python3 # Debian's, with json; the pyenv one first on PATH may lack modules

# rvn_cert: one self-signed certificate for the control plane and the TCP fallback.
rvn_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj /CN=roomvpn -addext "subjectAltName=DNS:localhost,IP:$CTL_IP,IP:$TCP_IP" \
		-keyout "$RUN/tls.key" -out "$RUN/tls.crt" >/dev/null 2>&1 || return 1
	FP=$(openssl x509 -in "$RUN/tls.crt" -noout -fingerprint -sha256 | cut -d= -f2)
}

# rvn_exec_start UNIT EAL_ARGS CONF: the unit's ExecStart= command line
# (RV_UNIT_DIR/UNIT), one word a line: its program must be /usr/bin/NAME and
# is taken from RV_BIN_DIR, $EAL_ARGS (the unit's EnvironmentFile) becomes
# EAL_ARGS and /etc/roomvpn/*.conf becomes CONF.
rvn_exec_start() {
	local line w
	line=$(sed -n 's/^ExecStart=//p' "$RV_UNIT_DIR/$1")
	case "$line" in
	/usr/bin/*) ;;
	*) echo "rvn: $RV_UNIT_DIR/$1: ExecStart='$line' does not run a /usr/bin program" >&2
		return 1 ;;
	esac
	for w in $line; do
		# shellcheck disable=SC2016,SC2086 # the unit's literal word; $2: its words
		case "$w" in
		/usr/bin/*) echo "$RV_BIN_DIR/${w#/usr/bin/}" ;;
		'$EAL_ARGS') [ -z "$2" ] || printf '%s\n' $2 ;;
		/etc/roomvpn/*.conf) echo "$3" ;;
		*) echo "$w" ;;
		esac
	done
}

# rvn_dataplane [--set k=v ...]: roomvpn-dataplane in ns dp, 1 worker, idle
# lcores sleep 200 us (extra settings override). RVN_AF_PACKET_OPTS: extra
# net_af_packet options (e.g. framecnt=4096: the RX/TX ring size); RVN_VDEV:
# another --vdev for dp0 instead (e.g. net_af_xdp0,iface=dp0); RVN_LCORES:
# EAL's lcore option instead of -l 0-1 (e.g. --lcores '0@(0,1),1@(0,1)').
rvn_dataplane() {
	if ! ip -n "$NS_DP" link show k0 >/dev/null 2>&1; then # (not on a restart)
		ip link add k0 netns "$NS_DP" type veth peer name p-k0 netns "$NS_SW" || return 1
		ip -n "$NS_SW" link set p-k0 master br0 up
		ip -n "$NS_DP" addr add $TCP_IP/24 dev k0
		ip -n "$NS_DP" link set k0 up
	fi
	rm -f "$RUN/agent.sock"
	local eal="${RVN_LCORES:--l 0-1} --no-huge -m 256 --no-pci --file-prefix rv$SFX --log-level=lib.eal:error"
	local vdev=${RVN_VDEV:-net_af_packet0,iface=dp0${RVN_AF_PACKET_OPTS:+,$RVN_AF_PACKET_OPTS}} cmd
	printf '%s\n' "ip = $DP_IP/24" "udp-port = $DP_PORT" "agent-socket = $RUN/agent.sock" \
		"idle-sleep-us = 200" "tcp = true" "tcp-listen = $TCP_IP:$TCP_PORT" \
		"tcp-cert = $RUN/tls.crt" "tcp-key = $RUN/tls.key" >"$RUN/dataplane.conf"
	if [ -n "${RV_UNIT_DIR:-}" ]; then
		mapfile -t cmd < <(rvn_exec_start roomvpn-dataplane.service "$eal --vdev $vdev" \
			"$RUN/dataplane.conf")
		[ ${#cmd[@]} -gt 1 ] || return 1
	else
		# shellcheck disable=SC2206 # $eal: its words
		cmd=("$RVN_DATAPLANE" $eal --vdev "$vdev" -- --config "$RUN/dataplane.conf")
	fi
	echo "${cmd[*]}" >"$RUN/dataplane.cmd"
	ip netns exec "$NS_DP" "${cmd[@]}" "$@" >>"$RUN/dp.log" 2>&1 &
	DP_PID=$!
	PIDS+=("$DP_PID")
	for _ in $(seq 300); do
		kill -0 "$DP_PID" 2>/dev/null || break
		[ -S "$RUN/agent.sock" ] && return 0
		sleep 0.1
	done
	tail -20 "$RUN/dp.log"
	return 1
}

# rvn_control ADMIN_PASSWORD: config, `roomvpn-control init` (the admin
# account), then `roomvpn-control serve` in ns m9.
rvn_control() {
	cat >"$RUN/control.conf" <<EOF
state_dir = $RUN/state
listen = $CTL_IP:7443
tls_names = $CTL_IP
tls_cert = $RUN/tls.crt
tls_key = $RUN/tls.key
dataplane_udp = $DP_IP:$DP_PORT
dataplane_tcp = $TCP_IP:$TCP_PORT
dataplane_agent = $RUN/agent.sock
EOF
	echo "$1" | "$RVN_CONTROL" init --config "$RUN/control.conf" \
		--state-dir "$RUN/state" --admin admin >"$RUN/init.log" 2>&1 || {
		cat "$RUN/init.log"
		return 1
	}
	local cmd=("$RVN_CONTROL" serve --config "$RUN/control.conf")
	if [ -n "${RV_UNIT_DIR:-}" ]; then
		mapfile -t cmd < <(rvn_exec_start roomvpn-control.service "" "$RUN/control.conf")
		[ ${#cmd[@]} -gt 1 ] || return 1
	fi
	echo "${cmd[*]}" >"$RUN/control.cmd"
	ip netns exec "$(mns 9)" "${cmd[@]}" >"$RUN/control.log" 2>&1 &
	CTL_PID=$!
	PIDS+=("$CTL_PID")
}

# rv USER N ARGS...: the `roomvpn` client of USER (own config dir) in ns mN.
rv() {
	local user=$1 n=$2
	shift 2
	in_ns "$n" "$RVN_CLIENT" --config-dir "$RUN/cfg-$user" "$@"
}

# rvn_login USER PASSWORD N: retried while the control plane starts.
rvn_login() {
	for _ in $(seq 100); do
		echo "$2" | rv "$1" "$3" login "$CTL_IP:7443" --username "$1" --fingerprint "$FP" \
			--password-stdin >"$RUN/login.out" 2>&1 && return 0
		kill -0 "$CTL_PID" 2>/dev/null || break
		sleep 0.2
	done
	cat "$RUN/login.out"
	return 1
}

# rvn_up USER N ROOM: `roomvpn up ROOM --daemon`; its pid joins the clean-up.
rvn_up() {
	rv "$1" "$2" up "$3" --daemon >"$RUN/up-$1.out" 2>&1 || {
		cat "$RUN/up-$1.out"
		return 1
	}
	PIDS+=("$(cat "$RUN/cfg-$1/run/$3.pid")")
}

# rvn_vip USER N: the virtual IP of USER's (first) tunnel.
rvn_vip() {
	rv "$1" "$2" --json status |
		"$PY" -c 'import json,sys; print(json.load(sys.stdin)["tunnels"][0]["status"]["virtual_ip"])'
}

# rvn_iperf_server N ADDR: one-shot iperf3 server in ns mN, waits until it listens.
rvn_iperf_server() {
	ip netns exec "$(mns "$1")" iperf3 -s -1 -B "$2" >"$RUN/iperf-server-$1.log" 2>&1 &
	PIDS+=("$!")
	for _ in $(seq 50); do
		in_ns "$1" ss -Hltn "sport = :5201" | grep -q . && return 0
		sleep 0.1
	done
	return 1
}
