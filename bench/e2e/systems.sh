# shellcheck shell=bash
# The VPNs that bench_vs_openvpn.sh and latency.sh compare (sourced, not
# run), all up at once on one bridge (scripts/lib/roomvpn_ns.sh), each
# between client A (ns m1) and client B (ns m2):
#   rv-afp      roomvpn: data plane in ns dp on dp0 (10.99.0.1:1194) over
#               net_af_packet (4096-frame rings), control plane in ns m9,
#               `roomvpn up` clients alice (m1) and bob (m2) in one room
#   rv-xdp      the same clients and control plane, the data plane restarted
#               on net_af_xdp (native XDP on dp0; the control plane
#               re-pushes the sessions)
#   ovpn-tuned  OpenVPN 2.6 hub in ns hub (10.99.0.3:1195, 10.89.0.0/24):
#               --client-to-client, AES-256-GCM, TLS, 4 MiB socket buffers,
#               --fast-io, txqueuelen 1000 (server and clients)
#   ovpn-def    the same hub on 10.99.0.3:1196, 10.87.0.0/24, OpenVPN's defaults
#   wg-go       wireguard-go (userspace) hub in ns hub (10.99.0.3:51820,
#               10.86.0.0/24): the hub's kernel forwards between its peers
# Every client and hub runs in a session of its own (setsid), as the
# daemonized `roomvpn up` does and as services under systemd do: with the
# kernel's autogroups (sched_autogroup_enabled=1), processes of one session
# share one scheduling group, and a CPU hog started in the same session as
# some VPN processes but not others changes the latency of one system only
# (docs/dataplane.md, "Latency").
# Only one roomvpn port can run at a time (sys_use switches). Sets, per
# system: SYS_DEST[S] (B's tunnel address), SYS_PROCS[S] ("label:pid ...":
# client A, the relay, client B).
# Needs: BIN, RUN, SFX, SRC.

source "$SRC/scripts/lib/roomvpn_ns.sh"
HUB_IP=10.99.0.3
NS_HUB=rv-hub-$SFX
declare -A SYS_DEST=() SYS_PROCS=()
RV_PORT= # the roomvpn data plane's current port (af_packet | af_xdp)

# sys_known NAME: is NAME one of the systems above?
sys_known() { case "$1" in rv-afp | rv-xdp | ovpn-tuned | ovpn-def | wg-go) return 0 ;; esac; return 1; }

sys_log_tail() {
	local f
	for f in dp.log control.log ovpn-*.log wg-*.log; do
		[ -f "$RUN/$f" ] && { echo "--- $f"; tail -8 "$RUN/$f"; } >&2
	done
}

# wait_ping N DEST: until a ping from member N to DEST is answered (<= 20 s).
wait_ping() {
	for _ in $(seq 40); do
		in_ns "$1" ping -c 1 -W 0.5 "$2" >/dev/null 2>&1 && return 0
	done
	echo "systems: no ping from m$1 to $2" >&2
	return 1
}

# --- roomvpn ---------------------------------------------------------------
rv_dp_start() { # PORT
	if [ "$1" = af_xdp ]; then
		RVN_VDEV="net_af_xdp0,iface=dp0,start_queue=0,queue_count=1"
	else
		RVN_VDEV="net_af_packet0,iface=dp0,blocksz=4096,framesz=2048,framecnt=4096"
	fi
	# the default idle policy (naps of at most idle_sleep_us = 50 us; SCHED_FIFO
	# while idle only with --wake-rt-priority P), unless the bench says otherwise
	rvn_dataplane --set idle-sleep-us="${RV_IDLE_SLEEP_US:-50}" \
		${RV_WAKE_RT_PRIORITY:+--set wake-rt-priority=$RV_WAKE_RT_PRIORITY} || return 1
	RV_PORT=$1
}

# sys_up_roomvpn: data plane (af_packet), control plane, two clients in a room.
sys_up_roomvpn() {
	rvn_cert || return 1
	rv_dp_start af_packet || return 1
	rvn_control admin-password-1 || return 1
	rvn_login admin admin-password-1 9 || return 1
	local u
	for u in alice bob; do
		echo "$u-password-1" | rv admin 9 admin users create "$u" --password-stdin >/dev/null ||
			return 1
	done
	rvn_login alice alice-password-1 1 && rvn_login bob bob-password-1 2 || return 1
	rv alice 1 rooms create bench >/dev/null || return 1
	rvn_up alice 1 bench && rvn_up bob 2 bench || return 1
	local vb=
	for _ in $(seq 50); do # (the status has no address until the tunnel is up)
		vb=$(rvn_vip bob 2 2>/dev/null) && break
		sleep 0.2
	done
	[ -n "$vb" ] || { echo "systems: bob's tunnel has no virtual IP" >&2; return 1; }
	SYS_DEST[rv-afp]=$vb SYS_DEST[rv-xdp]=$vb
	RV_A=$(cat "$RUN/cfg-alice/run/bench.pid") RV_B=$(cat "$RUN/cfg-bob/run/bench.pid")
	wait_ping 1 "$vb"
}

# rv_switch PORT: restart the data plane on PORT (if it is not on it) and
# wait until the clients' traffic flows through it again.
rv_switch() {
	[ "$RV_PORT" = "$1" ] && return 0
	kill "$DP_PID" && wait "$DP_PID" 2>/dev/null
	rv_dp_start "$1" || return 1
	wait_ping 1 "${SYS_DEST[rv-afp]}"
}

# --- OpenVPN ---------------------------------------------------------------
ovpn_pki() {
	local P=$RUN/pki c n
	mkdir -p "$P"
	local EC="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
	# shellcheck disable=SC2086
	openssl req -x509 $EC -days 1 -subj /CN=bench-ca -keyout "$P/ca.key" -out "$P/ca.crt" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		>/dev/null 2>&1 || return 1
	for c in server:serverAuth client1:clientAuth client2:clientAuth; do
		n=${c%:*}
		# shellcheck disable=SC2086
		openssl req -new $EC -subj "/CN=$n" -keyout "$P/$n.key" -out "$P/$n.csr" >/dev/null 2>&1 &&
			printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=%s\n' \
				"${c#*:}" >"$P/$n.ext" &&
			openssl x509 -req -in "$P/$n.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial \
				-days 1 -extfile "$P/$n.ext" -out "$P/$n.crt" >/dev/null 2>&1 || return 1
	done
}

wait_log() { # FILE PID
	for _ in $(seq 200); do
		grep -q "Initialization Sequence Completed" "$1" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	echo "systems: $1 never completed its start" >&2
	return 1
}

# sys_up_openvpn NAME PORT SUBNET DEV [tuning options]: hub in ns hub, clients in m1, m2.
sys_up_openvpn() {
	local name=$1 port=$2 net=$3 dev=$4 P=$RUN/pki n s c=()
	shift 4
	ip netns exec "$NS_HUB" setsid openvpn --server "$net" 255.255.255.0 --topology subnet \
		--proto udp4 --local $HUB_IP --port "$port" --dev "$dev" --dev-type tun --client-to-client \
		--data-ciphers AES-256-GCM --ca "$P/ca.crt" --cert "$P/server.crt" --key "$P/server.key" \
		--dh none --keepalive 10 60 --disable-dco --verb 3 --log "$RUN/ovpn-$name-hub.log" "$@" &
	s=$!
	PIDS+=("$s")
	wait_log "$RUN/ovpn-$name-hub.log" "$s" || return 1
	for n in 1 2; do
		ip netns exec "$(mns $n)" setsid openvpn --client --proto udp4 --remote $HUB_IP "$port" --nobind \
			--dev "$dev" --dev-type tun --data-ciphers AES-256-GCM --ca "$P/ca.crt" \
			--cert "$P/client$n.crt" --key "$P/client$n.key" --remote-cert-tls server \
			--disable-dco --verb 3 --log "$RUN/ovpn-$name-$n.log" "$@" &
		c[n]=$!
		PIDS+=("$!")
		wait_log "$RUN/ovpn-$name-$n.log" "${c[n]}" || return 1
	done
	SYS_DEST[$name]=$(ip -n "$(mns 2)" -4 -o addr show dev "$dev" | awk '{print $4}' | cut -d/ -f1)
	[ -n "${SYS_DEST[$name]}" ] || return 1
	SYS_PROCS[$name]="A:${c[1]} relay:$s B:${c[2]}"
	wait_ping 1 "${SYS_DEST[$name]}"
}

OVPN_TUNED=(--sndbuf 4194304 --rcvbuf 4194304 --fast-io --txqueuelen 1000)

# --- wireguard-go ----------------------------------------------------------
# wg_dev NS IFACE ADDR: a wireguard-go device in NS (foreground, pid in
# WG_PID). Its control socket, /var/run/wireguard/IFACE.sock, is not per
# namespace: each device needs a name of its own.
wg_dev() {
	ip netns exec "$1" setsid env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
		wireguard-go -f "$2" >"$RUN/wg-$1.log" 2>&1 &
	WG_PID=$!
	PIDS+=("$WG_PID")
	for _ in $(seq 200); do
		ip -n "$1" link show "$2" >/dev/null 2>&1 && break
		kill -0 "$WG_PID" 2>/dev/null || break
		sleep 0.1
	done
	ip -n "$1" addr add "$3" dev "$2" && ip -n "$1" link set "$2" up || {
		cat "$RUN/wg-$1.log" >&2
		return 1
	}
}

sys_up_wg() {
	local k n hub a b
	for k in hub 1 2; do
		(umask 077 && wg genkey >"$RUN/wg-$k.key") && wg pubkey <"$RUN/wg-$k.key" >"$RUN/wg-$k.pub" || return 1
	done
	wg_dev "$NS_HUB" "wgh$$" 10.86.0.1/24 || return 1
	hub=$WG_PID
	ip netns exec "$NS_HUB" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$NS_HUB" wg set "wgh$$" listen-port 51820 private-key "$RUN/wg-hub.key" \
		peer "$(cat "$RUN/wg-1.pub")" allowed-ips 10.86.0.11/32 \
		peer "$(cat "$RUN/wg-2.pub")" allowed-ips 10.86.0.12/32 || return 1
	for n in 1 2; do
		wg_dev "$(mns $n)" "wg$n$$" 10.86.0.1$n/24 || return 1
		eval "local w$n=\$WG_PID"
		in_ns $n wg set "wg$n$$" private-key "$RUN/wg-$n.key" peer "$(cat "$RUN/wg-hub.pub")" \
			allowed-ips 10.86.0.0/24 endpoint $HUB_IP:51820 persistent-keepalive 25 || return 1
	done
	# shellcheck disable=SC2154 # w1, w2: set by the eval above
	a=$w1 b=$w2
	SYS_DEST[wg-go]=10.86.0.12
	SYS_PROCS[wg-go]="A:$a relay:$hub B:$b"
	# the hub learns each client's endpoint from its first packet
	wait_ping 2 10.86.0.1 && wait_ping 1 10.86.0.12
}

# sys_setup NAME...: the topology and every system named.
sys_setup() {
	rv_topology
	for n in 1 2 9; do rv_member "$n"; done
	mkns "$NS_HUB"
	ip link add eth0 netns "$NS_HUB" type veth peer name p-hub netns "$NS_SW"
	ip -n "$NS_SW" link set p-hub master br0 up
	ip -n "$NS_HUB" addr add $HUB_IP/24 dev eth0
	ip -n "$NS_HUB" link set eth0 up
	local want=" $* " s
	case "$want" in *" rv-"*) sys_up_roomvpn || { echo "systems: roomvpn did not come up" >&2; return 1; } ;; esac
	case "$want" in *" ovpn-"*) ovpn_pki || return 1 ;; esac
	case "$want" in *" ovpn-tuned "*) sys_up_openvpn ovpn-tuned 1195 10.89.0.0 ovt "${OVPN_TUNED[@]}" || return 1 ;; esac
	case "$want" in *" ovpn-def "*) sys_up_openvpn ovpn-def 1196 10.87.0.0 ovd || return 1 ;; esac
	case "$want" in *" wg-go "*) sys_up_wg || { echo "systems: wireguard-go did not come up" >&2; return 1; } ;; esac
	for s in "$@"; do sys_known "$s" || { echo "systems: unknown system $s" >&2; return 1; }; done
}

# sys_use NAME: make NAME ready to measure (roomvpn: the data plane's port);
# SYS_PROCS[NAME] is current afterwards.
sys_use() {
	case "$1" in
	rv-afp) rv_switch af_packet || return 1 ;;
	rv-xdp) rv_switch af_xdp || return 1 ;;
	*) return 0 ;;
	esac
	SYS_PROCS[$1]="A:$RV_A relay:$DP_PID B:$RV_B"
}
