#!/usr/bin/python3
"""Generates the framing known-answer vectors embedded in test_cipher.c.

Independent of libroomvpn: it builds each wire format from the byte layouts
in docs/protocol.md with python3-cryptography (Debian's /usr/bin/python3).
Run: /usr/bin/python3 tests/unit/gen_kat.py  (prints C arrays)."""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

CIPHER = bytes(range(0x00, 0x40))  # rv_key_dir.cipher
HMAC = bytes(range(0x40, 0x80))  # rv_key_dir.hmac
KEY_ID, PEER_ID, PID, TIME = 5, 0x0A0B0C, 0x01020304, 0x65A1B2C3
PAYLOAD = bytes((i * 7 + 3) & 0xFF for i in range(37))
CBC_IV = bytes(range(0xA0, 0xB0))


def hdr():
    return bytes([9 << 3 | KEY_ID]) + PEER_ID.to_bytes(3, "big")


def aead(cls):
    h, pid = hdr(), struct.pack(">I", PID)
    out = cls(CIPHER[:32]).encrypt(pid + HMAC[:8], PAYLOAD, h + pid)
    ct, tag = out[:-16], out[-16:]
    return h + pid + tag + ct


def cbc(pt):
    pad = 16 - len(pt) % 16
    pt += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(CIPHER[:32]), modes.CBC(CBC_IV)).encryptor()
    ct = enc.update(pt) + enc.finalize()
    mac = hmac.new(HMAC[:32], CBC_IV + ct, hashlib.sha256).digest()
    return mac + CBC_IV + ct


def emit(name, b):
    print(f"static const uint8_t {name}[{len(b)}] = {{")
    for i in range(0, len(b), 12):
        print("\t" + ", ".join(f"0x{x:02x}" for x in b[i:i + 12]) + ",")
    print("};")


emit("kat_gcm", aead(AESGCM))
emit("kat_chacha", aead(ChaCha20Poly1305))
emit("kat_cbc", hdr() + cbc(struct.pack(">I", PID) + PAYLOAD))
emit("kat_static", cbc(struct.pack(">II", PID, TIME) + PAYLOAD))
emit("kat_none", hdr() + struct.pack(">I", PID) + PAYLOAD)
