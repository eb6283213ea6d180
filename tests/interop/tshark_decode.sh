#!/usr/bin/env bash
# Wire format: rvpeer's P_DATA_V2 packets, captured live with tshark on a
# non-1194 port and decoded by Wireshark's OpenVPN dissector (-d udp.port==PORT,openvpn),
# show opcode P_DATA_V2 (9), the configured key-id and peer-id; once per
# cipher with a P_DATA_V2 header.
# Usage: tshark_decode.sh PATH/TO/rvpeer   (as root)
set -uo pipefail
RV_TEST=tshark_decode
. "$(dirname "$0")/lib.sh"

RVPEER=${1:-${RVPEER:-}}
[ -x "$RVPEER" ] || fail "usage: $0 PATH/TO/rvpeer"
need_root ip python3 openvpn tshark
PORT=45002
PEER_ID=0x123456
KEY_ID=3

rv_two_ns
openvpn --genkey secret "$RV_TMP/k" >/dev/null 2>&1 || fail "openvpn --genkey"
n=0

# replies_seen PID NAME MIN: the peer has received at least MIN echo replies.
replies_seen() {
	rv_counters "$1" "$2" && [ "$(rv_stat "$RV_TMP/$2.json" echo_rep_in)" -ge "$3" ]
}

for cipher in AES-256-GCM CHACHA20-POLY1305 AES-256-CBC; do
	n=$((n + 1))
	CAP=$RV_TMP/$n.txt
	rv_capture "$NS_A" "$VETH_A" $PORT "$CAP" ip.src udp.length openvpn.opcode openvpn.keyid \
		openvpn.peerid
	# a sends echo requests (b answers them), b sends keepalive pings.
	rv_peer "$NS_A" a "tun${RV_TAG}${n}a" --mode v2 --cipher "$cipher" --key "$RV_TMP/k" \
		--key-direction 0 --peer-id $PEER_ID --key-id $KEY_ID --echo 0.1 \
		--local 10.99.0.1:$PORT --remote 10.99.0.2:$PORT
	PID_A=$LAST_PID
	rv_peer "$NS_B" b "tun${RV_TAG}${n}b" --mode v2 --cipher "$cipher" --key "$RV_TMP/k" \
		--key-direction 1 --peer-id $PEER_ID --key-id $KEY_ID --ping 0.2 \
		--local 10.99.0.2:$PORT --remote 10.99.0.1:$PORT
	PID_B=$LAST_PID
	wait_for 20 "$cipher: 10 echo replies" replies_seen "$PID_A" a 10
	wait_for 20 "$cipher: 10 packets each way in the capture" \
		eval 'rv_lines_from "$CAP" 10.99.0.1 10 && rv_lines_from "$CAP" 10.99.0.2 10'
	rv_stop "$PID_A"
	rv_stop "$PID_B"
	rv_capture_stop
	rv_expect_clean a
	rv_expect_clean b
	[ "$(rv_stat "$RV_TMP/b.json" echo_req_in)" -ge 10 ] || fail "$cipher: b answered too few echos"

	log "$cipher: first packets as tshark decodes them (src, udp length, opcode, key id, peer id):"
	head -4 "$CAP" | sed 's/^/    /'
	python3 - "$CAP" "$cipher" $PEER_ID $KEY_ID <<'PY' || fail "$cipher: decode check failed"
import sys
path, cipher, peer_id, key_id = sys.argv[1], sys.argv[2], int(sys.argv[3], 0), int(sys.argv[4])
rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
per_src = {}
bad = 0
for src, _, opcode, kid, pid in rows:
    per_src[src] = per_src.get(src, 0) + 1
    ok = opcode != "" and int(opcode, 0) == 9 and kid == str(key_id) and pid != "" \
        and int(pid, 0) == peer_id
    if not ok:
        bad += 1
    if not ok and bad <= 5:
        print(f"  unexpected: src={src} opcode={opcode!r} keyid={kid!r} peerid={pid!r}")
print(f"  {cipher}: {len(rows)} packets {per_src}; all opcode 9 (P_DATA_V2), key id {key_id}, "
      f"peer id {peer_id:#x}: {'yes' if bad == 0 else 'NO'}")
if bad or per_src.get("10.99.0.1", 0) < 10 or per_src.get("10.99.0.2", 0) < 10:
    sys.exit(1)
PY
done
log "PASS"
