#!/usr/bin/env bash
# The programs carry Debian's hardening (dpkg-buildflags hardening=+all):
# PIE, full RELRO (GNU_RELRO + BIND_NOW), stack protector, FORTIFY.
# Checked with readelf, as hardening-check (devscripts) does.
# Usage: hardening.sh PROGRAM...
set -u
fail=0
check() { # program what command...
  local p=$1 what=$2; shift 2
  if "$@"; then echo "ok: $(basename "$p"): $what"; else echo "FAIL: $p: no $what"; fail=1; fi
}
for p in "$@"; do
  hdr=$(readelf -hW "$p"); dyn=$(readelf -dW "$p"); seg=$(readelf -lW "$p")
  syms=$(readelf --dyn-syms -W "$p")
  check "$p" "PIE" grep -q 'Type:.*DYN' <<<"$hdr"
  check "$p" "PIE flag" grep -q 'FLAGS_1.*PIE' <<<"$dyn"
  check "$p" "GNU_RELRO" grep -q 'GNU_RELRO' <<<"$seg"
  check "$p" "BIND_NOW" grep -Eq 'BIND_NOW|FLAGS_1.*NOW' <<<"$dyn"
  check "$p" "stack protector" grep -q '__stack_chk_fail' <<<"$syms"
  check "$p" "FORTIFY (*_chk functions)" grep -Eq '__[a-z_]+_chk@' <<<"$syms"
done
[ $# -ge 1 ] || { echo "FAIL: no programs"; fail=1; }
exit $fail
