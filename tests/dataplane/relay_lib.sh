# Shared by the data-plane namespace tests (sourced, not run).
# Topology (all names carry a per-run suffix):
#   ns sw:  bridge br0, one port per other namespace
#   ns dp:  veth dp0 (no kernel address) driven by roomvpn-dataplane
#           (net_af_packet, or net_af_xdp with RV_DP_PORT=af_xdp)
#   ns mN:  veth eth0 10.99.0.(10+N)/24, rvpeer with TUN tun0 (overlay address)
# Everything is removed by rv_cleanup (trap on EXIT).
# Needs: BIN (build dir), RUN (scratch dir).

SFX=${SFX:-h5$$}
DP_IP=10.99.0.1
DP_PORT=1194
NS_SW=rv-sw-$SFX
NS_DP=rv-dp-$SFX
PIDS=()
NSES=()
FAILS=0

log() { echo "[$(date +%T)] $*"; }
fail() {
	echo "FAIL: $*"
	FAILS=$((FAILS + 1))
}
pass() { echo "ok: $*"; }

rv_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for n in "${NSES[@]}"; do ip netns del "$n" 2>/dev/null; done
	if [ -n "${KEEP_RUN:-}" ]; then echo "kept $RUN"; else rm -rf "$RUN"; fi
}

mkns() {
	ip netns add "$1" && NSES+=("$1")
	ip -n "$1" link set lo up
}

# Topology with the data plane's namespace and the switch.
rv_topology() {
	mkns "$NS_SW"
	mkns "$NS_DP"
	ip -n "$NS_SW" link add br0 type bridge
	ip -n "$NS_SW" link set br0 up
	ip link add dp0 netns "$NS_DP" type veth peer name p-dp netns "$NS_SW"
	ip -n "$NS_SW" link set p-dp master br0 up
	ip netns exec "$NS_DP" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip -n "$NS_DP" link set dp0 up
}

# rv_member N: namespace mN with eth0 10.99.0.(10+N)/24.
rv_member() {
	local n=$1 ns=rv-m$1-$SFX
	mkns "$ns"
	ip link add eth0 netns "$ns" type veth peer name p-m$n netns "$NS_SW"
	ip -n "$NS_SW" link set p-m$n master br0 up
	ip -n "$ns" addr add 10.99.0.$((10 + n))/24 dev eth0
	ip -n "$ns" link set eth0 up
}
mns() { echo "rv-m$1-$SFX"; }

# IPv6 outside (the data plane's ip6 = DP_IP6/64 on the same bridge).
DP_IP6=fd00:99::1
# rv_member6 N [dual]: member N with only fd00:99::(10+N)/64 on eth0 (no
# IPv4 on the link; "dual": its IPv4 address too). No DAD: usable at once.
rv_member6() {
	local n=$1 ns=rv-m$1-$SFX
	mkns "$ns"
	ip link add eth0 netns "$ns" type veth peer name p-m$n netns "$NS_SW"
	ip -n "$NS_SW" link set p-m$n master br0 up
	ip -n "$ns" addr add fd00:99::$((10 + n))/64 dev eth0 nodad
	[ "${2:-}" = dual ] && ip -n "$ns" addr add 10.99.0.$((10 + n))/24 dev eth0
	ip -n "$ns" link set eth0 up
}

# Kernel address of ns dp for the TCP fallback listener (the data IP belongs
# to DPDK): veth k0 on the same bridge.
DP_TCP_IP=10.99.0.2
rv_dp_kernel_if() {
	ip link add k0 netns "$NS_DP" type veth peer name p-k0 netns "$NS_SW"
	ip -n "$NS_SW" link set p-k0 master br0 up
	ip -n "$NS_DP" addr add $DP_TCP_IP/24 dev k0
	ip -n "$NS_DP" link set k0 up
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj /CN=roomvpn-test -keyout "$RUN/tcp-key.pem" -out "$RUN/tcp-cert.pem" \
		>/dev/null 2>&1
}

# rv_dp_vdev WORKERS: the --vdev for dp0. RV_DP_PORT=af_packet (default):
# net_af_packet with 4096-frame rings; af_xdp: net_af_xdp, one XDP socket per
# worker on queues 0..WORKERS-1 (native XDP on the veth; DPDK 22.11's PMD
# sees one queue on a veth, which has no combined channels: 1 worker there;
# see docs/dataplane.md).
rv_dp_vdev() {
	case "${RV_DP_PORT:-af_packet}" in
	af_packet) echo "net_af_packet0,iface=dp0,qpairs=$1,blocksz=4096,framesz=2048,framecnt=4096" ;;
	af_xdp) echo "net_af_xdp0,iface=dp0,start_queue=0,queue_count=$1" ;;
	*) echo "rv_dp_vdev: unknown RV_DP_PORT '$RV_DP_PORT' (af_packet | af_xdp)" >&2; return 1 ;;
	esac
}

# rv_af_xdp_skip: why net_af_xdp cannot run here (prints nothing when it can).
rv_af_xdp_skip() {
	if ! ls /usr/lib/*/dpdk/pmds-*/librte_net_af_xdp.so >/dev/null 2>&1; then
		echo "DPDK's net_af_xdp PMD is not installed"
	elif ! grep -q -w xsk_create /proc/kallsyms 2>/dev/null &&
		! grep -q -w xsk_bind /proc/kallsyms 2>/dev/null; then
		echo "this kernel has no XDP sockets (CONFIG_XDP_SOCKETS)"
	fi
}

# rv_dataplane MODE WORKERS [extra --set options]: start roomvpn-dataplane in ns dp.
# RV_DP_NOFILE=N: run it with a descriptor limit of N (soft and hard).
# RV_DP_ENGINE=cryptodev: crypto_engine = cryptodev on the software PMD
# crypto_aesni_gcm0 (an EAL --vdev).
rv_dataplane() {
	local mode=$1 workers=$2 vdev
	shift 2
	vdev=$(rv_dp_vdev "$workers") || return 1
	local eal=() opt=()
	if [ "${RV_DP_ENGINE:-openssl}" = cryptodev ]; then
		eal=(--vdev crypto_aesni_gcm0)
		opt=(--set crypto_engine=cryptodev --set crypto_dev=crypto_aesni_gcm0
			--set crypto_sessions=4096)
	fi
	local lcores="0@0,1@1,2@0,3@1" wrap=()
	[ -n "${RV_DP_NOFILE:-}" ] && wrap=(prlimit --nofile="$RV_DP_NOFILE:$RV_DP_NOFILE" --)
	"${wrap[@]}" ip netns exec "$NS_DP" "$BIN/dataplane/roomvpn-dataplane" --lcores "$lcores" --no-huge -m 256 \
		--no-pci --file-prefix "rv$SFX" --log-level=lib.eal:error \
		--vdev "$vdev" "${eal[@]}" -- "${opt[@]}" \
		--set ip=$DP_IP/24 --set udp-port=$DP_PORT --set workers="$workers" \
		--set mode="$mode" --set agent-socket="$RUN/agent.sock" \
		--set stats-file="$RUN/dp-stats.json" --set idle-sleep-us=200 --set wake-rt-priority=1 \
		--set key-grace=30s --set arp-timeout=5s "$@" >"$RUN/dp.log" 2>&1 &
	DP_PID=$!
	PIDS+=("$DP_PID")
	local i
	for i in $(seq 100); do
		[ -S "$RUN/agent.sock" ] && return 0
		kill -0 "$DP_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "data plane did not start:"
	cat "$RUN/dp.log"
	return 1
}

dpctl() { "$BIN/dataplane/roomvpn-dpctl" --socket "$RUN/agent.sock" "$@"; }

# rv_key NAME: OpenVPN static key file.
rv_key() {
	[ -f "$RUN/$1.key" ] || openvpn --genkey secret "$RUN/$1.key" >/dev/null 2>&1
	echo "$RUN/$1.key"
}

# rv_peer N PEER_ID VIP KEYNAME [extra rvpeer args]: rvpeer in member N's
# namespace with TUN tun0 = VIP/24.
rv_peer() {
	local n=$1 pid=$2 vip=$3 key=$4
	shift 4
	local ns
	ns=$(mns "$n")
	ip netns exec "$ns" "$BIN/tests/peer/rvpeer" --tun tun0 --local 10.99.0.$((10 + n)):5000 \
		--remote $DP_IP:$DP_PORT --mode v2 --cipher AES-256-GCM --key "$(rv_key "$key")" \
		--key-direction 0 --peer-id "$pid" --stats-file "$RUN/peer$n.json" "$@" \
		>"$RUN/peer$n.log" 2>&1 &
	eval "PEER_PID_$n=$!"
	PIDS+=("$!")
	local i
	for i in $(seq 50); do
		ip -n "$ns" link show tun0 >/dev/null 2>&1 && break
		sleep 0.1
	done
	ip -n "$ns" addr add "$vip/24" brd + dev tun0
	ip -n "$ns" link set tun0 mtu 1400 up
}

# peer_stat N FIELD: counter from member N's rvpeer (SIGUSR1 refreshes the file).
peer_stat() {
	local pid
	eval "pid=\$PEER_PID_$1"
	kill -USR1 "$pid"
	sleep 0.3
	/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
		"$RUN/peer$1.json" "$2"
}

# drop_count REASON: the data plane's counter for a drop reason (dpctl stats).
drop_count() {
	dpctl --json stats | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
want = sys.argv[1]
def find(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == want and isinstance(v, int):
                return v
            r = find(v)
            if r is not None:
                return r
    elif isinstance(o, list):
        for v in o:
            r = find(v)
            if r is not None:
                return r
    return None
r = find(d.get("drops", d))
print(r if r is not None else 0)' "$1"
}

# wait_drops REASON BEFORE MIN: poll the counter (up to 5 s; the data plane
# may be slow on a shared machine) until it grew by MIN; prints the growth.
wait_drops() {
	local i now
	for i in $(seq 25); do
		now=$(drop_count "$1")
		[ $((now - $2)) -ge "$3" ] && break
		sleep 0.2
	done
	echo $((now - $2))
}

# rv_routed_member N: member N in 10.98.0.0/24 behind router namespace rt
# (10.99.0.254 on the bridge, 10.98.0.254 towards the member): the data
# plane reaches it through its gateway.
rv_routed_member() {
	local n=$1 ns=rv-m$1-$SFX rt=rv-rt-$SFX
	mkns "$rt"
	mkns "$ns"
	ip link add eth0 netns "$rt" type veth peer name p-rt netns "$NS_SW"
	ip -n "$NS_SW" link set p-rt master br0 up
	ip -n "$rt" addr add 10.99.0.254/24 dev eth0
	ip -n "$rt" link set eth0 up
	ip link add eth1 netns "$rt" type veth peer name eth0 netns "$ns"
	ip -n "$rt" addr add 10.98.0.254/24 dev eth1
	ip -n "$rt" link set eth1 up
	ip netns exec "$rt" sysctl -qw net.ipv4.ip_forward=1
	ip -n "$ns" addr add 10.98.0.$((10 + n))/24 dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via 10.98.0.254
}

# in_ns N CMD...: run in member N's namespace.
in_ns() {
	local ns
	ns=$(mns "$1")
	shift
	ip netns exec "$ns" "$@"
}
