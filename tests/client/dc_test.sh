#!/usr/bin/env bash
# client data channel (client/dc.c): a TUN device in a client namespace, a
# test server (rv_dc_reflector) in a server namespace, a veth between them.
# Checks: ping through the tunnel over UDP; tampered and replayed packets are
# counted as drops by reason; with UDP blocked (a policy-routing prohibit rule for UDP to the server port) the client
# falls back to TLS over TCP and ping still works; unblocked, it moves back
# to UDP; a wrong TLS pin refuses the fallback; SIGTERM tears down cleanly;
# a key near packet-id exhaustion is reported due for a re-key; a new
# session for other endpoints (the room moved to another data plane) moves
# the channel there without touching the TUN device, and the old path is
# closed once the new one answers.
# Usage: dc_test.sh rv_dc_tool rv_dc_reflector
set -euo pipefail
tool=$1 refl=$2
nc=rv-h8c-$$ ns=rv-h8s-$$
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$nc" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	echo "--- client log"; cat "$dir/client.err" 2>/dev/null || true
	echo "--- status"; cat "$dir/status.json" 2>/dev/null || true
	exit 1
}
py=/usr/bin/python3
# field FILE EXPR: evaluate a Python expression over the status JSON as s.
field() { "$py" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
wait_for() { # wait_for SECONDS FILE EXPR
	local t=$(($1 * 10))
	for _ in $(seq "$t"); do
		[ -s "$2" ] && [ "$(field "$2" "$3" 2>/dev/null)" = True ] && return 0
		sleep 0.1
	done
	return 1
}

ip netns add "$nc"
ip netns add "$ns"
ip -n "$nc" link add vc type veth peer name vs netns "$ns"
ip -n "$nc" addr add 10.201.0.1/30 dev vc
ip -n "$ns" addr add 10.201.0.2/30 dev vs
ip -n "$nc" link set vc up
ip -n "$ns" link set vs up
ip -n "$nc" link set lo up

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj /CN=rv-dc-test -keyout "$dir/srv.key" -out "$dir/srv.pem" 2>/dev/null
pin=$(openssl x509 -in "$dir/srv.pem" -noout -fingerprint -sha256 | cut -d= -f2)
openvpn --genkey secret "$dir/static.key" >/dev/null 2>&1

ip netns exec "$ns" "$refl" --udp 10.201.0.2:1194 --tcp 10.201.0.2:4443 --cert "$dir/srv.pem" \
	--certkey "$dir/srv.key" --key "$dir/static.key" --cipher AES-256-GCM --peer-id 7 \
	--tamper >"$dir/refl.out" 2>&1 &
pids+=($!)
ip netns exec "$nc" "$tool" --tun rvc0 --addr 10.77.0.2/24 --addr6 fd77::2/64 --mtu 1380 --udp 10.201.0.2:1194 \
	--tcp 10.201.0.2:4443 --pin "$pin" --key "$dir/static.key" --cipher AES-256-GCM \
	--peer-id 7 --status "$dir/status.json" --probe-ms 300 --fallback-ms 1500 \
	--move-udp 10.201.0.2:1195 --move-tcp 10.201.0.2:4444 --move-peer-id 8 \
	--move-udp 10.201.0.2:1196 --move-tcp 10.201.0.2:4445 --move-peer-id 9 \
	>"$dir/client.out" 2>"$dir/client.err" &
client=$!
pids+=($client)

# 1. UDP: echo replies arrive, RTT measured, ping through the tunnel.
wait_for 10 "$dir/status.json" 's["echo_rx"] > 0 and s["transport"] == "udp"' ||
	fail "no echo reply over UDP"
ip netns exec "$nc" ping -c 3 -i 0.2 -W 2 10.77.0.1 >/dev/null || fail "ping over UDP"
# IPv6 inside passes both ways (issue 17), small and MTU-sized
ip netns exec "$nc" ping -6 -c 2 -i 0.2 -W 2 fd77::1 >/dev/null || fail "ping6 through the tunnel"
ip netns exec "$nc" ping -6 -c 2 -i 0.2 -W 2 -s 1300 fd77::1 >/dev/null || fail "1300-byte ping6 through the tunnel"
wait_for 5 "$dir/status.json" 's["rx_packets"] >= 3 and s["tx_packets"] >= 3' ||
	fail "packet counters after ping over UDP"
wait_for 5 "$dir/status.json" 's["drops"]["auth"] >= 1 and s["drops"]["replay"] >= 1' ||
	fail "tampered/replayed packets not counted as auth/replay drops"
# TUN mode: offloads unless ROOMVPN_TUN_OFFLOAD=0 (then plain, with its log line)
if [ "${ROOMVPN_TUN_OFFLOAD:-}" = 0 ]; then
	grep -q "TUN in plain mode" "$dir/client.err" || fail "no plain-mode log line"
fi
echo "ok: $(grep -o -E 'TUN (offloads on|in plain mode)' "$dir/client.err")"
[ "$(field "$dir/status.json" 's["rekey_due"]')" = False ] || fail "a fresh key reported as due for re-key"
# the scheme (json-c): counters as numbers, every drop reason, a boolean
[ "$(field "$dir/status.json" 'all(type(s[k]) is int for k in ("key_id", "rtt_us", "tx_packets", "rx_bytes", "keepalive_ms")) and type(s["rekey_due"]) is bool and len(s["drops"]) >= 10 and all(type(v) is int for v in s["drops"].values())')" = True ] ||
	fail "status JSON: counters not numbers"
echo "ok: UDP ping, echo RTT $(field "$dir/status.json" 's["rtt_us"]') us, auth+replay drops counted"

# 2. UDP blocked: fallback to TLS over TCP, ping still works.
ip -n "$nc" rule add priority 100 ipproto udp dport 1194 prohibit
wait_for 15 "$dir/status.json" 's["transport"] == "tcp" and s["to_tcp"] >= 1' ||
	fail "no fallback to TCP with UDP blocked"
ip netns exec "$nc" ping -c 3 -i 0.2 -W 2 10.77.0.1 >/dev/null || fail "ping over TCP"
echo "ok: UDP blocked -> TCP, ping through TLS/TCP"

# 3. A client with the wrong pin must not fall back (UDP still blocked).
case $pin in 00*) bad=11${pin#00} ;; *) bad=00${pin:2} ;; esac
ip netns exec "$nc" "$tool" --tun rvc1 --addr 10.78.0.2/24 --udp 10.201.0.2:1194 \
	--tcp 10.201.0.2:4443 --pin "$bad" --key "$dir/static.key" --cipher AES-256-GCM \
	--peer-id 7 --status "$dir/bad.json" --probe-ms 300 --fallback-ms 500 \
	>/dev/null 2>"$dir/bad.err" &
badpid=$!
pids+=($badpid)
wait_for 15 "$dir/bad.json" 's["tcp_connect_failures"] >= 1 and s["transport"] == "udp"' ||
	fail "wrong pin: fallback not refused"
grep -q "does not match the pin" "$dir/bad.err" || fail "wrong pin: no clear message"
kill "$badpid"
echo "ok: wrong TLS pin refused with a clear message"

# 4. UDP unblocked: back to UDP.
ip -n "$nc" rule del priority 100
wait_for 15 "$dir/status.json" 's["transport"] == "udp" and s["to_udp"] >= 1' ||
	fail "did not move back to UDP"
ip netns exec "$nc" ping -c 3 -i 0.2 -W 2 10.77.0.1 >/dev/null || fail "ping after moving back"
echo "ok: UDP unblocked -> back to UDP, ping"

# 4b. The room moves to another data plane (a second server, peer-id 8): on
# the new session with new endpoints the channel sends there, the TUN
# device stays, the old path closes once the new one answers; with the old
# server's port blocked, ping still works.
ip netns exec "$ns" "$refl" --udp 10.201.0.2:1195 --tcp 10.201.0.2:4444 --cert "$dir/srv.pem" \
	--certkey "$dir/srv.key" --key "$dir/static.key" --cipher AES-256-GCM --peer-id 8 \
	>"$dir/refl2.out" 2>&1 &
pids+=($!)
ifindex=$(ip -n "$nc" -o link show rvc0 | cut -d: -f1)
kill -USR1 "$client"
wait_for 10 "$dir/status.json" 's["moves"] == 1 and s["endpoint"] == "udp 10.201.0.2:1195"' ||
	fail "no move to the second server: $(cat "$dir/status.json")"
ip -n "$nc" rule add priority 101 ipproto udp dport 1194 prohibit
ip netns exec "$nc" ping -c 3 -i 0.2 -W 2 10.77.0.1 >/dev/null || fail "ping after the move"
grep -q "old data plane's path is closed (the new data plane answers)" "$dir/client.err" ||
	fail "old path not closed once the new one answered"
[ "$(ip -n "$nc" -o link show rvc0 | cut -d: -f1)" = "$ifindex" ] ||
	fail "the TUN device was replaced by the move"
# (no `| grep -q`: with pipefail, grep leaving early kills `ip` with SIGPIPE once
# the output grew an inet6 line, and the check failed now and then)
[[ "$(ip -n "$nc" addr show rvc0)" == *"10.77.0.2/24"* ]] || fail "the TUN address went with the move"
ip -n "$nc" rule del priority 101
echo "ok: moved to another server's endpoints: ping there, same TUN device and address, old path closed"
# 4c. A move while on TLS over TCP (UDP to the second server blocked): the
# TCP connection is kept for receiving until the third server answers.
ip netns exec "$ns" "$refl" --udp 10.201.0.2:1196 --tcp 10.201.0.2:4445 --cert "$dir/srv.pem" \
	--certkey "$dir/srv.key" --key "$dir/static.key" --cipher AES-256-GCM --peer-id 9 \
	>"$dir/refl3.out" 2>&1 &
pids+=($!)
ip -n "$nc" rule add priority 102 ipproto udp dport 1195 prohibit
wait_for 15 "$dir/status.json" 's["transport"] == "tcp" and s["endpoint"] == "tcp 10.201.0.2:4444"' ||
	fail "no TCP fallback to the second server: $(cat "$dir/status.json")"
kill -USR1 "$client"
wait_for 10 "$dir/status.json" 's["moves"] == 2 and s["endpoint"] == "udp 10.201.0.2:1196"' ||
	fail "no move from TCP to the third server: $(cat "$dir/status.json")"
ip netns exec "$nc" ping -c 3 -i 0.2 -W 2 10.77.0.1 >/dev/null || fail "ping after the move from TCP"
[ "$(grep -c "old data plane's path is closed (the new data plane answers)" "$dir/client.err")" = 2 ] ||
	fail "the TCP path was not closed once the third server answered"
ip -n "$nc" rule del priority 102
echo "ok: moved while on TLS over TCP: ping on the third server, the TCP path closed once it answered"

# 5. SIGTERM: clean exit, device gone.
kill -TERM "$client"
wait "$client" || fail "client exited with an error"
ip -n "$nc" link show rvc0 >/dev/null 2>&1 && fail "TUN device left behind"
# 6. A key whose packet-ids run out (the first 16 below the re-key
# threshold): the data channel reports it due for a re-key (roomvpn up then
# re-keys through the control plane) and keeps sealing meanwhile.
ip netns exec "$nc" "$tool" --tun rvc2 --addr 10.79.0.2/24 --udp 10.201.0.2:1194 \
	--key "$dir/static.key" --cipher AES-256-GCM --peer-id 7 --status "$dir/pid.json" \
	--probe-ms 100 --first-pid 0xFEFFFFF0 >/dev/null 2>"$dir/pid.err" &
pidc=$!
pids+=($pidc)
wait_for 15 "$dir/pid.json" 's["rekey_due"] and s["echo_rx"] > 20' ||
	fail "packet-ids past the threshold: no re-key due"
kill "$pidc"
echo "ok: packet-ids past the re-key threshold: re-key due, still sealing"
# 7. A room that prefers TCP (the server lists TCP first): the channel
# starts on TLS over TCP and stays there although UDP answers (packet-ids
# above those of 6.: the reflector keeps one replay window for peer-id 7).
ip netns exec "$nc" "$tool" --tun rvc3 --addr 10.80.0.2/24 --udp 10.201.0.2:1194 \
	--tcp 10.201.0.2:4443 --pin "$pin" --key "$dir/static.key" --cipher AES-256-GCM \
	--peer-id 7 --status "$dir/tcp.json" --probe-ms 300 --fallback-ms 1500 --start tcp \
	--first-pid 0xFF100000 \
	>/dev/null 2>"$dir/tcp.err" &
pidt=$!
pids+=($pidt)
wait_for 15 "$dir/tcp.json" 's["transport"] == "tcp" and s["echo_rx"] >= 10' ||
	fail "--start tcp: not on TCP with echo replies: $(cat "$dir/tcp.json" 2>/dev/null)"
[ "$(field "$dir/tcp.json" 's["to_udp"]')" = 0 ] || fail "--start tcp: moved to UDP"
kill "$pidt"
echo "ok: TCP-preferred start: on TLS over TCP from the first packet, stays there"
echo "PASS: data channel (UDP, drops by reason, TCP fallback and back, pin, move to another server, teardown, re-key due, TCP start)"
