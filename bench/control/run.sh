#!/bin/bash
# Control plane at scale: starts roomvpn-control (cheap Argon2, login limits
# and the per-user tunnel quota raised, a high descriptor limit) and
# roomvpn-dataplane on net_null (no-rx: its worker idles), runs rv-control-load at each --sizes N and
# writes docs/control-scale-<N>.json, docs/control-scale.png and the table
# between the markers in docs/benchmarks.md.
#
#   bench/control/run.sh [--build DIR] [--sizes 1000,2000] [--duration S]
#                        [--connections C] [--store rocksdb|etcd] [--no-docs]
#                        [-- extra load flags]
# Each size runs against a fresh control plane and data plane. Extra
# control.conf lines: RV_CONTROL_CONF (e.g. RV_CONTROL_CONF="cq_count = 1"); RV_BENCH_LOGS=DIR
# keeps the control and data-plane logs there.
# --store etcd: the control plane on the etcd cluster in RV_ETCD_* (run under
# tests/control/etcd_cluster.py, which starts one), emptied before each size;
# the figures go to docs/control-scale-etcd-<N>.json (docs/etcd.md).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=$SRC/build
SIZES=1000,10000,100000
DURATION=20
CONNS=16
DOCS=1
STORE=rocksdb
EXTRA=()
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift 2 ;;
	--sizes) SIZES=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--connections) CONNS=$2; shift 2 ;;
	--no-docs) DOCS=0; shift ;;
	--store) STORE=$2; shift 2 ;;
	--) shift; EXTRA=("$@"); break ;;
	-h|--help) sed -n 2,14p "$0"; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 1 ;;
	esac
done
STORE_CONF=
case $STORE in
rocksdb) ;;
etcd)
	[ -n "${RV_ETCD_ENDPOINTS:-}" ] || {
		echo "--store etcd: run under tests/control/etcd_cluster.py -- $0 ..." >&2; exit 1; }
	STORE_CONF="store = etcd:$RV_ETCD_ENDPOINTS
etcd_ca = $RV_ETCD_CA
etcd_cert = $RV_ETCD_CERT
etcd_key = $RV_ETCD_KEY" ;;
*) echo "--store: rocksdb or etcd" >&2; exit 1 ;;
esac
CONTROL=$BUILD/control/roomvpn-control
DATAPLANE=$BUILD/dataplane/roomvpn-dataplane
LOAD=$BUILD/bench/control/rv-control-load
for b in "$CONTROL" "$DATAPLANE" "$LOAD"; do
	[ -x "$b" ] || { echo "missing $b: cmake --build $BUILD --target $(basename "$b")" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "descriptor limit $(ulimit -n)" >&2

source "$HERE/conf.sh"
TMP=$(mktemp -d /tmp/rv-cbench.XXXXXX)
CTL_PID= DP_PID=
cleanup() {
	[ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
	[ -f "$TMP/dp.pid" ] && kill "$(cat "$TMP/dp.pid")" 2>/dev/null
	sleep 0.5
	[ -n "${RV_BENCH_LOGS:-}" ] && mkdir -p "$RV_BENCH_LOGS" &&
		cp "$TMP"/*.log "$RV_BENCH_LOGS"/ 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# The data-plane start/restart script the load client calls for the resync.
cat > "$TMP/dp-start.sh" <<SH
#!/bin/bash
# (re)start roomvpn-dataplane on net_null; returns once its agent socket is there
if [ -f "$TMP/dp.pid" ]; then
	pid=\$(cat "$TMP/dp.pid"); kill "\$pid" 2>/dev/null
	while kill -0 "\$pid" 2>/dev/null; do sleep 0.05; done
fi
rm -f "$TMP/agent.sock"
"$DATAPLANE" -l 0-1 --no-huge -m \${RV_DP_MEM:-512} --no-pci --file-prefix rv-cbench-$$ \
	--vdev net_null0,no-rx=1 --log-level=lib.eal:error -- --set ip=10.99.0.1/24 \
	--set agent-socket="$TMP/agent.sock" --set idle-sleep-us=1000 \
	--set max-sessions=\${RV_DP_SESSIONS:-65536} >>"$TMP/dp.log" 2>&1 &
echo \$! > "$TMP/dp.pid"
for i in \$(seq 600); do [ -S "$TMP/agent.sock" ] && exit 0; kill -0 \$! 2>/dev/null || break; sleep 0.1; done
echo "roomvpn-dataplane did not start:" >&2; tail -20 "$TMP/dp.log" >&2; exit 1
SH
chmod +x "$TMP/dp-start.sh"

start_control() { # $1: tunnels
	local port=$((20000 + RANDOM % 20000))
	rm -rf "$TMP/state"
	if [ "$STORE" = etcd ]; then # a fresh store for each size
		ETCDCTL_API=3 etcdctl --endpoints="$RV_ETCD_ENDPOINTS" --cacert="$RV_ETCD_CA" \
			--cert="$RV_ETCD_CERT" --key="$RV_ETCD_KEY" del "" --from-key >/dev/null
	fi
	bench_control_conf "$TMP/state" "127.0.0.1:$port" "dataplane_agent = $TMP/agent.sock" \
		"$STORE_CONF" "${RV_CONTROL_CONF:-}" > "$TMP/control.conf"
	echo "admin-password-1" > "$TMP/admin.pw"
	"$CONTROL" init --config "$TMP/control.conf" --state-dir "$TMP/state" --admin admin \
		< "$TMP/admin.pw" > "$TMP/init.log" 2>&1
	"$CONTROL" serve --config "$TMP/control.conf" >> "$TMP/control.log" 2>&1 &
	CTL_PID=$!
	for i in $(seq 300); do
		[ -f "$TMP/state/tls/server.crt" ] && (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break
		sleep 0.1
	done
	SERVER=127.0.0.1:$port
}

mkdir -p "$SRC/docs"
IFS=, read -ra NS <<< "$SIZES"
for n in "${NS[@]}"; do
	echo "=== $n tunnels ===" >&2
	export RV_DP_SESSIONS=$(( n > 65536 ? n * 2 : 65536 ))
	export RV_DP_MEM=$(( n > 20000 ? 4096 : 512 ))
	"$TMP/dp-start.sh"
	start_control "$n"
	out=$TMP/load-$n.json
	"$LOAD" --server "$SERVER" --ca "$TMP/state/tls/server.crt" \
		--admin-password-file "$TMP/admin.pw" --tunnels "$n" --users $(( n / 100 > 10 ? n / 100 : 10 )) \
		--connections "$CONNS" --duration "$DURATION" --server-pid "$CTL_PID" \
		--dp-socket "$TMP/agent.sock" --dp-restart "$TMP/dp-start.sh" \
		"${EXTRA[@]}" > "$out" || echo "rv-control-load: not every tunnel came up (see $out)" >&2
	cat "$out"
	if [ $DOCS = 1 ] && [ "$STORE" = etcd ]; then
		cp "$out" "$SRC/docs/control-scale-etcd-$n.json"
	elif [ $DOCS = 1 ]; then
		cp "$out" "$SRC/docs/control-scale-$n.json"
	fi
	kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null || true; CTL_PID=
done
[ $DOCS = 1 ] && [ "$STORE" = rocksdb ] || exit 0
/usr/bin/python3 "$HERE/report.py" --docs "$SRC/docs" "${NS[@]}"
