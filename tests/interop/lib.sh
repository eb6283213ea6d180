# Helpers for the interop tests (sourced). Every test creates its own
# namespaces and veth with a per-run suffix and removes them on exit.
# Needs root.

RV_TAG="h$$"                # unique per run; keeps interface names <= 15 chars
RV_TMP=$(mktemp -d /tmp/rv-interop.XXXXXX)
RV_PIDS=()
RV_NS=()

log() { printf '%s: %s\n' "${RV_TEST:-interop}" "$*"; }
fail() {
	printf '%s: FAIL: %s\n' "${RV_TEST:-interop}" "$*" >&2
	exit 1
}

rv_cleanup() {
	local pid ns
	for pid in "${RV_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${RV_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	done
	for ns in "${RV_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	if [ -n "${RV_KEEP_TMP:-}" ]; then
		echo "kept $RV_TMP"
	else
		rm -rf "$RV_TMP"
	fi
}
trap rv_cleanup EXIT
trap 'exit 130' INT TERM

need_root() {
	[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces, TUN devices)"
	for t in "$@"; do
		command -v "$t" >/dev/null || fail "missing tool: $t"
	done
}

# rv_two_ns: namespaces $NS_A, $NS_B joined by a veth, 10.99.0.1 <-> 10.99.0.2.
rv_two_ns() {
	NS_A="rv-${RV_TAG}-a"
	NS_B="rv-${RV_TAG}-b"
	local va="rv${RV_TAG}a" vb="rv${RV_TAG}b"
	ip netns add "$NS_A" || fail "ip netns add $NS_A"
	RV_NS+=("$NS_A")
	ip netns add "$NS_B" || fail "ip netns add $NS_B"
	RV_NS+=("$NS_B")
	ip link add "$va" netns "$NS_A" type veth peer name "$vb" netns "$NS_B" ||
		fail "creating veth $va/$vb"
	ip -n "$NS_A" addr add 10.99.0.1/24 dev "$va"
	ip -n "$NS_B" addr add 10.99.0.2/24 dev "$vb"
	for ns in "$NS_A" "$NS_B"; do
		ip -n "$ns" link set lo up
	done
	ip -n "$NS_A" link set "$va" up
	ip -n "$NS_B" link set "$vb" up
	VETH_A=$va
	VETH_B=$vb
}

# rv_bg NS LOGFILE CMD...: start CMD in namespace NS in the background.
rv_bg() {
	local ns=$1 out=$2
	shift 2
	ip netns exec "$ns" "$@" >"$out" 2>&1 &
	RV_PIDS+=($!)
	LAST_PID=$!
}

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.1 s.
wait_for() {
	local secs=$1 what=$2
	shift 2
	for _ in $(seq $((secs * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "timed out after ${secs}s waiting for $what"
}

# rv_tun_up NS DEV LOCAL PEER [MTU]: point-to-point address on a TUN.
rv_tun_up() {
	ip -n "$1" addr add "$3" peer "$4" dev "$2" || fail "address on $2"
	ip -n "$1" link set "$2" mtu "${5:-1400}" up || fail "link up $2"
}

# rv_stop PID: SIGTERM, wait, and fail unless it exits with status 0 (rvpeer
# writes its counters on exit; a sanitizer report makes the status non-zero).
rv_stop() {
	local rc
	kill "$1" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$1" 2>/dev/null && fail "process $1 did not exit on SIGTERM"
	wait "$1"
	rc=$?
	[ $rc = 0 ] || fail "process $1 exited with status $rc (see the logs in $RV_TMP; RV_KEEP_TMP=1 keeps them)"
}

# rv_stat FILE KEY: a counter from rvpeer's JSON (KEY "drops.auth" for drops).
rv_stat() {
	python3 - "$1" "$2" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)
PY
}

# ping_ok NS ADDR COUNT: COUNT pings, all answered (bounded: 2 s each).
ping_ok() {
	local out
	out=$(ip netns exec "$1" ping -n -c "$3" -i 0.2 -W 2 "$2" 2>&1)
	local rc=$?
	sed 's/^/    /' <<<"$out"
	[ $rc = 0 ] || { echo "    (ping exited with $rc)"; return 1; }
	grep -q " $3 received" <<<"$out" || return 1
}

# rv_peer NS NAME TUN ARGS...: start rvpeer (path in $RVPEER) in NS with
# --tun TUN; its log is $RV_TMP/NAME.log, its counters $RV_TMP/NAME.json.
# Waits for the TUN device; leaves the pid in LAST_PID.
rv_peer() {
	local ns=$1 name=$2 tun=$3
	shift 3
	rv_bg "$ns" "$RV_TMP/$name.log" "$RVPEER" --tun "$tun" --stats-file "$RV_TMP/$name.json" "$@"
	local pid=$LAST_PID
	wait_for 10 "rvpeer $name's TUN $tun" ip -n "$ns" link show "$tun"
	kill -0 "$pid" 2>/dev/null || { cat "$RV_TMP/$name.log"; fail "rvpeer $name exited"; }
	LAST_PID=$pid
}

# rv_counters PID NAME: fresh counters from a running peer (SIGUSR1).
rv_counters() {
	rm -f "$RV_TMP/$2.json"
	kill -USR1 "$1" || fail "rvpeer $2 is gone"
	wait_for 5 "counters of $2" test -s "$RV_TMP/$2.json"
}

# rv_expect_clean NAME: no authentication, replay or framing drops.
rv_expect_clean() {
	local k v
	for k in drops.auth drops.replay drops.malformed drops.unknown_key drops.bad_opcode; do
		v=$(rv_stat "$RV_TMP/$1.json" "$k") || fail "reading counters of $1"
		[ "$v" = 0 ] || fail "rvpeer $1 counted $k = $v: $(cat "$RV_TMP/$1.json")"
	done
}

# rv_capture NS IFACE PORT OUT FIELDS...: live capture of UDP PORT on IFACE,
# decoded by tshark's OpenVPN dissector (-d udp.port==PORT,openvpn) as it
# arrives: one tab-separated line of FIELDS per packet in OUT, flushed per
# packet (-l), so callers can wait on it. Bounded to 90 s; pid in CAP_PID.
rv_capture() {
	local ns=$1 iface=$2 port=$3 out=$4
	shift 4
	local args=()
	for f in "$@"; do args+=(-e "$f"); done
	ip netns exec "$ns" tshark -n -l -i "$iface" -f "udp port $port" -a duration:90 \
		-d "udp.port==$port,openvpn" -T fields "${args[@]}" >"$out" 2>"$out.err" &
	CAP_PID=$!
	RV_PIDS+=("$CAP_PID")
	wait_for 20 "tshark to start capturing" grep -q "Capturing on" "$out.err"
}

# rv_capture_stop: stop tshark and wait until it has written everything.
rv_capture_stop() {
	kill -INT "$CAP_PID" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$CAP_PID" 2>/dev/null || return 0
		sleep 0.1
	done
	fail "tshark did not stop"
}

# rv_lines_from FILE SRC MIN [COL VALUE]: FILE (first column ip.src) has at
# least MIN lines from SRC [whose column COL is VALUE].
rv_lines_from() {
	[ "$(awk -F'\t' -v s="$2" -v c="${4:-1}" -v v="${5:-$2}" \
		'$1 == s && $c == v { n++ } END { print n + 0 }' "$1")" -ge "$3" ]
}
