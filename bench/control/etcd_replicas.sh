#!/bin/bash
# Login/s and Join/s of rv-control-load (--stop-after-join: provision, then
# --devices Logins and Joins, --concurrency callers) against
#   (a) roomvpn-control on RocksDB,
#   (b) one roomvpn-control on a 3-member TLS etcd cluster,
#   (c) two roomvpn-control replicas on such a cluster, the load client's
#       connections spread over both.
# Each etcd case gets a fresh cluster from tests/control/etcd_cluster.py
# (this script runs itself again under it): a second run on a wiped cluster
# measured a third slower. Figures only, nothing asserted; docs/etcd.md.
#   bench/control/etcd_replicas.sh [--build DIR] [--devices N] [--concurrency K]
#                                  [--rooms R] [--only rocksdb|etcd]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=$SRC/build
DEVICES=4000
CONC=64
ROOMS=1
ONLY=
INNER=0
ARGS=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$(cd "$2" && pwd); shift 2 ;;
	--devices) DEVICES=$2; shift 2 ;;
	--concurrency) CONC=$2; shift 2 ;;
	--rooms) ROOMS=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--inner) INNER=$2; shift 2 ;;
	-h|--help) sed -n 2,12p "$0"; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 1 ;;
	esac
done
CONTROL=$BUILD/control/roomvpn-control
LOAD=$BUILD/bench/control/rv-control-load
for b in "$CONTROL" "$LOAD"; do
	[ -x "$b" ] || { echo "missing $b: cmake --build $BUILD --target $(basename "$b")" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

source "$HERE/conf.sh"
TMP=$(mktemp -d /tmp/rv-replicas.XXXXXX)
PIDS=()
stop_replicas() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
}
trap 'stop_replicas; [ -n "${RV_KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT

# start_replicas STORE_CONF N: N roomvpn-control on one store; SERVERS, CA.
start_replicas() {
	local store_conf=$1 n=$2
	SERVERS= METRICS= CA=$TMP/ca.pem
	rm -rf "$TMP"/s* "$CA"
	echo "admin-password-1" > "$TMP/admin.pw"
	for i in $(seq "$n"); do
		local port=$((20000 + RANDOM % 20000)) dir=$TMP/s$i
		local mport=$((40000 + RANDOM % 20000))
		mkdir -p "$dir"
		bench_control_conf "$dir/state" "127.0.0.1:$port" "ipam_room_prefix = 16" \
			"metrics_listen = 127.0.0.1:$mport" "metrics_allow = 127.0.0.1/32" \
			"$store_conf" > "$dir/control.conf"
		if [ "$i" = 1 ]; then # the admin, once in the shared store
			"$CONTROL" init --config "$dir/control.conf" --state-dir "$dir/state" \
				--admin admin < "$TMP/admin.pw" > "$dir/init.log" 2>&1 ||
				{ cat "$dir/init.log" >&2; exit 1; }
		fi
		"$CONTROL" serve --config "$dir/control.conf" >> "$dir/control.log" 2>&1 &
		PIDS+=($!)
		for _ in $(seq 300); do
			[ -f "$dir/state/tls/server.crt" ] &&
				(echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
			sleep 0.1
		done
		cat "$dir/state/tls/server.crt" >> "$CA"
		SERVERS=${SERVERS:+$SERVERS,}127.0.0.1:$port
		METRICS=${METRICS:+$METRICS }https://127.0.0.1:$mport/metrics
	done
}

# The store operations of every replica so far: "gets writes scans".
store_ops() {
	local g=0 w=0 s=0 m v
	for m in $METRICS; do
		while read -r k v; do
			case $k in
			*'op="get"'*) g=$((g + ${v%.*})) ;;
			*'op="write"'*) w=$((w + ${v%.*})) ;;
			*'op="scan"'*) s=$((s + ${v%.*})) ;;
			esac
		done < <(curl -sk "$m" | grep '^roomvpn_control_store_ops_total')
	done
	echo "$g $w $s"
}

# run_case LABEL STORE_CONF N: one row of figures.
run_case() {
	start_replicas "$2" "$3"
	local out=$TMP/load.json
	read -r g0 w0 s0 < <(store_ops)
	"$LOAD" --server "$SERVERS" --ca "$CA" --admin-password-file "$TMP/admin.pw" \
		--tunnels "$DEVICES" --users $((DEVICES / 100 > 10 ? DEVICES / 100 : 10)) \
		--per-room $(((DEVICES + ROOMS - 1) / ROOMS)) --concurrency "$CONC" --connections 16 \
		--prefix "rep" --list-calls 0 --stop-after-join > "$out" 2> "$TMP/load.err" ||
		{ echo "rv-control-load failed:" >&2; grep -iv "done, [0-9]* ok$" "$TMP/load.err" | tail -8 >&2; }
	read -r g1 w1 s1 < <(store_ops)
	/usr/bin/python3 - "$1" "$out" $((g1 - g0)) $((w1 - w0)) $((s1 - s0)) <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
gets, writes, scans = (int(x) for x in sys.argv[3:6])
try:
    j = json.load(open(path))
except Exception as e:
    print("| %s | (no figures: %s) | |" % (label, e)); sys.exit(0)
err = j["join_first_error"]
n = j["devices"]
print("| %s | %d | %d | %.2f / %.2f / %.2f |%s" % (label, j["login_per_s"], j["join_per_s"],
      gets / n, writes / n, scans / n,
      "" if j["join_ok"] == j["devices"] and j["login_ok"] == j["devices"] else
      " (logins ok %d, joins ok %d of %d: %s)" % (j["login_ok"], j["join_ok"], j["devices"], err)),
      flush=True)
PY
	stop_replicas
}

if [ $INNER = 0 ]; then
	echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)," \
		"$DEVICES devices, $CONC callers, $ROOMS room(s)"
	echo "| store | Login/s | Join/s | store gets / writes / scans per device (Login + Join, all replicas) |"
	echo "| --- | --- | --- | --- |"
	if [ "$ONLY" != etcd ]; then
		run_case "RocksDB" "store = rocksdb:$TMP/rocks" 1
	fi
	[ "$ONLY" = rocksdb ] && exit 0
	for n in 1 2; do
		RV_ETCD_BIN=${RV_ETCD_BIN:-$(command -v etcd || echo /usr/bin/etcd)} \
			/usr/bin/python3 "$SRC/tests/control/etcd_cluster.py" -- "$0" "${ARGS[@]}" \
			--inner "$n" | grep -v '^etcd cluster up'
	done
	echo "# done $(date -u '+%H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	exit 0
fi
[ -n "${RV_ETCD_ENDPOINTS:-}" ] || { echo "--inner: run under etcd_cluster.py" >&2; exit 1; }
ETCD_CONF="store = etcd:$RV_ETCD_ENDPOINTS
etcd_ca = $RV_ETCD_CA
etcd_cert = $RV_ETCD_CERT
etcd_key = $RV_ETCD_KEY"
if [ "$INNER" = 1 ]; then
	run_case "etcd, 3 members, 1 replica" "$ETCD_CONF" 1
else
	run_case "etcd, 3 members, $INNER replicas" "$ETCD_CONF" "$INNER"
fi
