#!/usr/bin/env bash
# The systemd units as `cmake --install` writes them: `systemd-analyze verify`
# clean (ExecStart= binaries exist), and `systemd-analyze security` exposure
# at most 4.0 for the control plane and 6.5 for the data plane.
# Usage: units.sh BUILD_DIR
set -u
build=$1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/usr" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; echo "FAIL: cmake --install"; exit 1; }
units=$tmp/usr/lib/systemd/system
fail=0
for u in roomvpn-control.service roomvpn-dataplane.service roomvpn@.service; do
  [ -f "$units/$u" ] || { echo "FAIL: $u not installed"; fail=1; continue; }
  exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$units/$u")
  [ -x "$exe" ] && [ "${exe#"$tmp/usr/bin/"}" != "$exe" ] ||
    { echo "FAIL: $u: ExecStart $exe is not an installed program in bin/"; fail=1; }
done
cp "$units/roomvpn@.service" "$units/roomvpn@test.service" 2>/dev/null
# Documentation=man:... is looked up by man(1): the installed pages.
out=$(MANPATH=$tmp/usr/share/man systemd-analyze verify "$units/roomvpn-control.service" "$units/roomvpn-dataplane.service" \
  "$units/roomvpn@test.service" 2>&1)
if [ -n "$out" ]; then echo "FAIL: systemd-analyze verify:"; echo "$out"; fail=1; else echo "ok: verify clean"; fi
for pair in roomvpn-control.service:4.0 roomvpn-dataplane.service:6.5; do
  u=${pair%%:*} max=${pair#*:}
  level=$(systemd-analyze security --offline=yes "$units/$u" 2>&1 |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  if [ -z "$level" ]; then
    echo "FAIL: $u: no exposure level from systemd-analyze security"; fail=1
  elif awk -v l="$level" -v m="$max" 'BEGIN { exit !(l > m) }'; then
    echo "FAIL: $u: exposure $level above $max"
    systemd-analyze security --offline=yes "$units/$u" | grep -v '^  ✓' | head -40
    fail=1
  else
    echo "ok: $u exposure $level <= $max"
  fi
done
exit $fail
