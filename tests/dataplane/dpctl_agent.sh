#!/usr/bin/env bash
# roomvpn-dpctl against a running agent: rooms, sessions, keys, stats,
# resync, errors that leave the tables unchanged, malformed streams, socket
# mode, unreachable socket.
#
# usage: dpctl_agent.sh DPCTL AGENT_CMD...
#   AGENT_CMD is started with the socket path appended as its last argument
#   (agent_host, or roomvpn-dataplane via dpctl_dataplane.sh).
set -uo pipefail
DPCTL=$1
shift
AGENT_CMD=("$@")
PY=/usr/bin/python3
T=$(mktemp -d /tmp/rv-dpctl-XXXXXX)
SOCK=$T/run/agent.sock # the agent creates the missing run/ directory
AGENT_PID=
fails=0

cleanup() {
	[ -n "${HUNG_PID:-}" ] && kill "$HUNG_PID" 2>/dev/null
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
ok() { echo "ok: $*"; }

# expect CODE DESCRIPTION -- command...: checks the exit code, keeps output in $T/out,$T/err
expect() {
	local want=$1 what=$2
	shift 3
	"$@" >"$T/out" 2>"$T/err"
	local got=$?
	if [ "$got" -ne "$want" ]; then
		fail "$what: exit $got, wanted $want"
		sed 's/^/  | /' "$T/out" "$T/err"
	else
		ok "$what"
	fi
}

dp() { "$DPCTL" --socket "$SOCK" "$@"; }

# count_sessions / count_rooms from the JSON listings
count() { dp --json "$1" | "$PY" -c "import json,sys; print(len(json.load(sys.stdin)['$1']))"; }

make_key() { # 256 bytes of hex in OpenVPN's static key format
	"$PY" - "$1" <<'EOF'
import os, sys
h = os.urandom(256).hex()
with open(sys.argv[1], "w") as f:
    f.write("-----BEGIN OpenVPN Static key V1-----\n")
    for i in range(0, 512, 32):
        f.write(h[i:i + 32] + "\n")
    f.write("-----END OpenVPN Static key V1-----\n")
EOF
}

# --- without an agent ---
expect 0 "--help" -- "$DPCTL" --help
grep -q "usage: roomvpn-dpctl" "$T/out" || fail "--help prints usage"
expect 3 "missing socket" -- "$DPCTL" --socket "$T/nope.sock" sessions
grep -q "cannot connect to data plane agent at $T/nope.sock: " "$T/err" ||
	fail "missing socket message: $(cat "$T/err")"
expect 2 "unknown command" -- "$DPCTL" --socket "$SOCK" frobnicate
expect 2 "missing --subnet" -- "$DPCTL" --socket "$SOCK" room add 1

# a socket that accepts but never answers: bounded by --timeout
"$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
print("listening", flush=True); time.sleep(30)' "$T/hung.sock" >"$T/hung.out" &
HUNG_PID=$!
for _ in $(seq 50); do [ -S "$T/hung.sock" ] && break; sleep 0.1; done
expect 3 "agent that never answers" -- "$DPCTL" --socket "$T/hung.sock" --timeout 1 stats
grep -q "no reply within 1 s" "$T/err" || fail "timeout message: $(cat "$T/err")"
kill "$HUNG_PID" 2>/dev/null
wait "$HUNG_PID" 2>/dev/null

# --- start the agent ---
"${AGENT_CMD[@]}" "$SOCK" >"$T/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 1 300); do
	[ -S "$SOCK" ] && break
	kill -0 "$AGENT_PID" 2>/dev/null || break
	sleep 0.1
done
if [ ! -S "$SOCK" ]; then
	echo "FAIL: agent did not create $SOCK"
	cat "$T/agent.log"
	exit 1
fi
[ "$(stat -c %a "$SOCK")" = 660 ] && ok "socket mode 0660 (owner and the process group: the control plane's in the unit)" || fail "socket mode $(stat -c %a "$SOCK")"

make_key "$T/k1.key"
make_key "$T/k2.key"
head -c 300 "$T/k1.key" >"$T/short.key"

expect 0 "room add 1" -- dp room add 1 --subnet 10.1.0.0/24
expect 0 "room add 2" -- dp room add 2 --subnet 10.2.0.0/16
expect 0 "session add 100" -- dp session add --peer-id 100 --room 1 --vip 10.1.0.2 \
	--cipher AES-256-GCM --key "$T/k1.key"
expect 0 "session add 101" -- dp session add --peer-id 101 --room 1 --vip 10.1.0.3 \
	--cipher CHACHA20-POLY1305 --key "$T/k1.key" --key-id 2 --key-direction 0 \
	--outer 127.0.0.1:40000
expect 0 "session add 200" -- dp session add --peer-id 200 --room 2 --vip 10.2.3.4 \
	--cipher AES-256-CBC --key "$T/k2.key" --key-direction none
[ "$(count sessions)" = 3 ] && ok "3 sessions listed" || fail "sessions: $(count sessions)"
[ "$(count rooms)" = 2 ] && ok "2 rooms listed" || fail "rooms: $(count rooms)"
dp --json sessions | "$PY" -c '
import json, sys
s = {x["peer_id"]: x for x in json.load(sys.stdin)["sessions"]}
assert s[101]["vip"] == "10.1.0.3" and s[101]["cipher"] == "CHACHA20-POLY1305", s[101]
assert s[101]["key_id"] == 2 and s[101]["transport"] == "udp", s[101]
assert s[101]["outer"] == "127.0.0.1:40000", s[101]
assert s[100]["transport"] == "none" and s[200]["room_id"] == 2, s
' && ok "session fields" || fail "session fields"
# The client's JSON scheme (json-c): counters as numbers, timestamps as
# decimal strings; --json also after the command, as in the client.
dp sessions --json | "$PY" -c '
import json, sys
for x in json.load(sys.stdin)["sessions"]:
    assert isinstance(x["last_seen_unix_ms"], str) and x["last_seen_unix_ms"].isdigit(), x
    assert all(isinstance(x[k], int) for k in ("peer_id", "room_id", "key_id", "packets_in",
                                               "bytes_in", "packets_out", "bytes_out", "last_rtt_us")), x
' && ok "sessions --json: the client's scheme" || fail "sessions --json: $(dp sessions --json 2>&1)"
expect 0 "sessions (text)" -- dp sessions
grep -q "10.1.0.3" "$T/out" || fail "text listing shows the vip"

# --- refused requests leave the tables unchanged ---
expect 1 "unknown room" -- dp session add --peer-id 300 --room 9 --vip 10.9.0.2 \
	--cipher AES-256-GCM --key "$T/k1.key"
grep -q "refused: not_found" "$T/err" || fail "unknown room message: $(cat "$T/err")"
expect 1 "vip outside room" -- dp session add --peer-id 300 --room 1 --vip 10.7.0.2 \
	--cipher AES-256-GCM --key "$T/k1.key"
expect 1 "vip taken" -- dp session add --peer-id 300 --room 1 --vip 10.1.0.2 \
	--cipher AES-256-GCM --key "$T/k1.key"
expect 1 "unknown cipher" -- dp session add --peer-id 300 --room 1 --vip 10.1.0.9 \
	--cipher ROT13 --key "$T/k1.key"
grep -q "unknown cipher" "$T/err" || fail "unknown cipher message"
expect 2 "truncated key file" -- dp session add --peer-id 300 --room 1 --vip 10.1.0.9 \
	--cipher AES-256-GCM --key "$T/short.key"
expect 2 "bad vip" -- dp session add --peer-id 300 --room 1 --vip 10.1.0 \
	--cipher AES-256-GCM --key "$T/k1.key"
expect 1 "room with host bits" -- dp room add 3 --subnet 10.3.0.1/24
expect 1 "delete unknown session" -- dp session del --peer-id 999
expect 1 "delete unknown room" -- dp room del 99
# Raw streams: garbage in a frame (error reply), bad key length in a valid
# UpsertSession (error reply), truncated message, oversize length (closed).
"$PY" - "$SOCK" <<'EOF' && ok "malformed streams" || fail "malformed streams"
import socket, struct, sys
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10); return s
def reply(s):
    hdr = b""
    while len(hdr) < 4:
        c = s.recv(4 - len(hdr)); assert c, "closed"; hdr += c
    n = struct.unpack(">I", hdr)[0]; body = b""
    while len(body) < n:
        c = s.recv(n - len(body)); assert c, "closed"; body += c
    return body
def varint(v):
    out = b""
    while True:
        b = v & 0x7f; v >>= 7
        if v: out += bytes([b | 0x80])
        else: return out + bytes([b])
def field(num, wt, payload):
    if wt == 0: return varint(num << 3) + varint(payload)
    return varint(num << 3 | 2) + varint(len(payload)) + payload
s = conn()
s.sendall(struct.pack(">I", 5) + b"\xff\xff\xff\xff\xff")
r = reply(s); assert r[:2] == b"\x10\x01", r  # status = MALFORMED
# UpsertSession with a 10-byte key (hand-encoded protobuf)
key = field(1, 0, 1) + field(2, 2, b"k" * 10)
sess = field(1, 0, 300) + field(2, 0, 1) + b"\x1d" + struct.pack("<I", 0x0a01000a) + field(4, 2, b"AES-256-GCM") + field(5, 2, key)
req = field(1, 0, 7) + field(4, 2, field(1, 2, sess))
s.sendall(struct.pack(">I", len(req)) + req)
r = reply(s); assert r.startswith(b"\x08\x07\x10\x02"), r  # id 7, INVALID_ARGUMENT
assert b"key material is 10 bytes" in r, r
s.sendall(struct.pack(">I", 0x7fffffff))
try:
    assert s.recv(1) == b"", "oversize: connection should close"
except ConnectionResetError:
    pass
s = conn(); s.sendall(struct.pack(">I", 100) + b"\x08\x01"); s.close()
EOF
[ "$(count sessions)" = 3 ] && ok "tables unchanged after errors" || fail "sessions now $(count sessions)"

# --- keys ---
expect 0 "key install" -- dp key install --peer-id 100 --key "$T/k2.key" --key-id 1 --grace-ms 60000
dp --json sessions | "$PY" -c '
import json, sys
s = {x["peer_id"]: x for x in json.load(sys.stdin)["sessions"]}
assert s[100]["key_id"] == 1, s[100]' && ok "new key seals" || fail "key id after install"
expect 1 "key install same id" -- dp key install --peer-id 100 --key "$T/k2.key" --key-id 1
expect 1 "key install unknown peer" -- dp key install --peer-id 555 --key "$T/k2.key" --key-id 1
expect 0 "key retire old" -- dp key retire --peer-id 100 --key-id 0
expect 1 "key retire only key" -- dp key retire --peer-id 100 --key-id 1

# --- stats ---
expect 0 "stats --json" -- dp --json stats
"$PY" -c '
import json, sys
st = json.load(open(sys.argv[1]))
assert st["rooms"] == 2 and st["sessions"] == 3, st
assert st["crypto_engine"] == "openssl", st  # the default engine
assert "replay" in st["drops"] and "auth" in st["drops"], st["drops"]
assert all(isinstance(v, int) for v in st["drops"].values()), st["drops"]
assert all(isinstance(l["rx_packets"], int) and "rx_pkts" not in l for l in st["lcores"]), st' "$T/out" &&
	ok "stats fields" || fail "stats fields: $(cat "$T/out")"
expect 0 "stats (text)" -- dp stats

# --- resync ---
mkdir -p "$T/sf/keys"
cp "$T/k1.key" "$T/sf/keys/a.key"
cat >"$T/sf/sessions.txt" <<'EOF'
# two rooms, three sessions
room 5 10.5.0.0/24
room 6 10.6.0.0/24
session 500 5 10.5.0.2 AES-256-GCM keys/a.key
session 501 5 10.5.0.3 AES-256-GCM keys/a.key key-id=1
session 600 6 10.6.0.2 CHACHA20-POLY1305 keys/a.key outer=127.0.0.1:41000
EOF
cp "$T/sf/sessions.txt" "$T/sf/bad.txt"
echo "session 601 7 10.7.0.2 AES-256-GCM keys/a.key" >>"$T/sf/bad.txt"
expect 1 "resync with an unknown room" -- dp resync --file "$T/sf/bad.txt"
[ "$(count sessions)" = 3 ] && ok "bad resync changed nothing" || fail "after bad resync"
printf 'room 5 10.5.0.0/24\nsession 500 5 10.5.0.2 AES-256-GCM nokey.key\n' >"$T/sf/nokey.txt"
expect 2 "resync with a missing key file" -- dp resync --file "$T/sf/nokey.txt"
grep -q "nokey.txt:2:" "$T/err" || fail "session file error names the line: $(cat "$T/err")"
expect 0 "resync" -- dp resync --file "$T/sf/sessions.txt"
dp --json sessions | "$PY" -c '
import json, sys
s = sorted(x["peer_id"] for x in json.load(sys.stdin)["sessions"])
assert s == [500, 501, 600], s' && ok "resync replaced everything" || fail "after resync"
[ "$(count rooms)" = 2 ] || fail "rooms after resync"

# --- deletes ---
expect 0 "session del" -- dp session del --peer-id 501
expect 0 "session del (positional)" -- dp session del 500
expect 1 "session del again" -- dp session del 500
expect 0 "room del (with its sessions)" -- dp room del 5
[ "$(count sessions)" = 1 ] && ok "one session left" || fail "sessions left $(count sessions)"

# the agent survived everything, stops cleanly, and (sanitizer builds) said nothing
kill -0 "$AGENT_PID" 2>/dev/null && ok "agent alive" || fail "agent died"
kill "$AGENT_PID"
wait "$AGENT_PID"
rc=$?
AGENT_PID=
[ $rc -eq 0 ] && ok "agent stopped cleanly" || fail "agent exit status $rc on SIGTERM"
grep -E "Sanitizer|runtime error" "$T/agent.log" && fail "sanitizer report in the agent's log"
[ -e "$SOCK" ] && fail "socket left behind after stop"
if [ $fails -ne 0 ]; then
	echo "--- agent log"
	cat "$T/agent.log"
	echo "$fails check(s) failed"
	exit 1
fi
echo "all dpctl checks passed"
