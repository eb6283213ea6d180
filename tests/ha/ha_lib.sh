# shellcheck shell=bash
# The replicas' topology of tests/ha/ha_test.sh (sourced after
# scripts/lib/roomvpn_ns.sh and tests/fleet/fleet_lib.sh):
#   ns dp         roomvpn-dataplane A (net_af_packet on dp0, 10.99.0.1:1194),
#                 dialling both replicas over mutual TLS (control = R9,R8)
#   ns m5 m6 m7   the etcd members, https://10.99.0.15..17:2379 (TLS, client
#                 certificates: tests/control/etcd_cluster.py --netns)
#   ns m9 m8      roomvpn-control replicas r9 and r8 on one etcd store:
#                 clients on 10.99.0.19 / .18:7443, data planes on :7444
#   ns m1 m2 m3   clients u1, u2, u3 (room "ha")
# Needs BIN, RUN, SFX, PIDS (the clean-up kills them by pid).

declare -A HA_IP HA_PID HA_STARTS
HA_IP[9]=10.99.0.19 HA_IP[8]=10.99.0.18
HA_CTL="${HA_IP[9]}:7443,${HA_IP[8]}:7443"

# ha_etcd: the 3-member etcd cluster in ns m5..m7; its RV_ETCD_* in the
# environment, its pids in PIDS (and HA_ETCD_PIDS, member order).
ha_etcd() {
	"$PY" "$SRC/tests/control/etcd_cluster.py" --dir "$RUN/etcd" \
		--netns "$(mns 5)=10.99.0.15,$(mns 6)=10.99.0.16,$(mns 7)=10.99.0.17" \
		>"$RUN/etcd.env" 2>"$RUN/etcd.err" || { cat "$RUN/etcd.err"; return 1; }
	set -a
	# shellcheck disable=SC1091 # written just above
	source "$RUN/etcd.env"
	set +a
	IFS=, read -ra HA_ETCD_PIDS <<<"$RV_ETCD_PIDS"
	PIDS+=("${HA_ETCD_PIDS[@]}")
}

# etcdctl ARGS...: etcdctl against the cluster (from ns m5).
ha_etcdctl() {
	ETCDCTL_API=3 ip netns exec "$(mns 5)" etcdctl --endpoints "$RV_ETCD_ENDPOINTS" \
		--cacert "$RV_ETCD_CA" --cert "$RV_ETCD_CERT" --key "$RV_ETCD_KEY" \
		--command-timeout=3s "$@"
}

# ha_leader: the index (0..2) of etcd's leader now, "" if none answers.
ha_leader() {
	ha_etcdctl endpoint status --write-out=json 2>/dev/null | "$PY" -c '
import json, sys
st = json.load(sys.stdin)
ids = [s["Status"]["header"]["member_id"] for s in st]
lead = [s["Status"]["leader"] for s in st]
print(ids.index(lead[0]) if lead and lead[0] in ids else "")'
}

# ha_cert: one certificate for both replicas (and the TCP fallback); FP its pin.
ha_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj /CN=roomvpn \
		-addext "subjectAltName=DNS:localhost,IP:${HA_IP[9]},IP:${HA_IP[8]},IP:$TCP_IP" \
		-keyout "$RUN/tls.key" -out "$RUN/tls.crt" >/dev/null 2>&1 || return 1
	FP=$(openssl x509 -in "$RUN/tls.crt" -noout -fingerprint -sha256 | cut -d= -f2)
}

# ha_conf R: replica R's config $RUN/control-R.conf (its own state dir for
# its files; the records in etcd; its own copy of the fleet CA, $RUN/dpca-R:
# each replica keeps its listener's certificate there).
ha_conf() {
	local r=$1
	printf '%s\n' "state_dir = $RUN/state-$r" "listen = ${HA_IP[$r]}:7443" \
		"tls_names = ${HA_IP[9]},${HA_IP[8]}" "tls_cert = $RUN/tls.crt" \
		"tls_key = $RUN/tls.key" "store = etcd:$RV_ETCD_ENDPOINTS" \
		"etcd_ca = $RV_ETCD_CA" "etcd_cert = $RV_ETCD_CERT" "etcd_key = $RV_ETCD_KEY" \
		"replica_id = r$r" "dataplane_listen = ${HA_IP[$r]}:7444" \
		"dataplane_ca_dir = $RUN/dpca-$r" "argon2_memory_kib = 1024" \
		"argon2_iterations = 1" "argon2_parallelism = 1" >"$RUN/control-$r.conf"
}

# ha_start R: replica R serving in ns mR.
ha_start() {
	local r=$1
	ip netns exec "$(mns "$r")" "$RVN_CONTROL" serve --config "$RUN/control-$r.conf" \
		>>"$RUN/control-$r.log" 2>&1 &
	HA_PID[$r]=$!
	HA_STARTS[$r]=$((${HA_STARTS[$r]:-0} + 1))
	PIDS+=("${HA_PID[$r]}")
}

# ha_wait_serving R: replica R (re)started last is listening (its log says so
# once per start).
ha_wait_serving() {
	serving() { [ "$(grep -c "listening on" "$RUN/control-$1.log")" -ge "${HA_STARTS[$1]}" ]; }
	poll 30 serving "$1"
}

# ha_kill9 R: kill -9 replica R and reap it.
ha_kill9() {
	{ kill -9 "${HA_PID[$1]}" && wait "${HA_PID[$1]}"; } 2>/dev/null
}

# ha_login USER PASSWORD N ENDPOINTS: `roomvpn login` with the replicas'
# addresses in the order given (the first one answering is used).
ha_login() {
	for _ in $(seq 100); do
		echo "$2" | rv "$1" "$3" login "$4" --username "$1" --fingerprint "$FP" \
			--password-stdin >"$RUN/login.out" 2>&1 && return 0
		sleep 0.2
	done
	cat "$RUN/login.out"
	return 1
}

# ha_writer: admin creates users w1, w2, ... one after the other through
# whichever replica answers, each acknowledged name appended to
# $RUN/acked; stops when $RUN/stop-writer exists. Its pid in HA_WRITER.
ha_writer() {
	rm -f "$RUN/stop-writer"
	(
		i=${HA_WRITES:-0}
		while [ ! -f "$RUN/stop-writer" ]; do
			i=$((i + 1))
			echo "w$i-password-1" | rv admin 9 admin users create "w$i" --password-stdin \
				>/dev/null 2>>"$RUN/writer.err" && echo "w$i" >>"$RUN/acked"
		done
		echo "$i" >"$RUN/writer.last"
	) &
	HA_WRITER=$!
	PIDS+=("$HA_WRITER")
}

# ha_writer_stop: stop the writer and wait for it; HA_WRITES: the last index.
ha_writer_stop() {
	touch "$RUN/stop-writer"
	wait "$HA_WRITER" 2>/dev/null
	HA_WRITES=$(cat "$RUN/writer.last")
}

# ha_acked_after T: acknowledged writes after unix time T (by the file's
# line count at T: the caller notes `wc -l` then).
ha_acked_count() { [ -f "$RUN/acked" ] && wc -l <"$RUN/acked" || echo 0; }

# ha_missing: acknowledged users not in the store now (read through a replica).
ha_missing() {
	rv admin 9 --json admin users list --page-size 1000 | "$PY" -c '
import json, sys
have = {u["username"] for u in json.load(sys.stdin)["users"]}
acked = [l.strip() for l in open(sys.argv[1]) if l.strip()]
print(" ".join(a for a in acked if a not in have))' "$RUN/acked"
}

# on_replica N R: member N's keepalive stream is on replica R (status).
on_replica() {
	[ "$(status_of "$(user "$1")" "$1" 't.get("control_endpoint", "")')" = "${HA_IP[$2]}:7443" ]
}

# ha_owner: the replica (9 or 8) that owns data-plane sync now (the etcd
# key dpowner names its replica_id), "" if none.
ha_owner() {
	ha_etcdctl get dpowner --print-value-only 2>/dev/null | tr -d '\0' |
		grep -ao 'r[89]' | head -1 | tr -d r
}

# dp_has_peer PEER_ID: data plane A holds a session with that peer-id.
dp_has_peer() {
	dpctl_of a --json sessions | "$PY" -c '
import json, sys
print(any(s["peer_id"] == int(sys.argv[1]) for s in json.load(sys.stdin)["sessions"]))' "$1"
}
