#!/usr/bin/env bash
# Builds the .debs with cpack, lints them (no lintian errors), unpacks them
# into a throw-away root and checks what an operator gets: the programs in
# /usr/bin answering --version, units whose ExecStart= names them, man pages,
# example configs, copyright and changelog, the postinst that adds the user.
# Then the main job (scripts/demo.sh: control plane, data plane, two clients
# in namespaces, ping and iperf3 through a room) from the installed programs,
# the control and data plane started from the installed units' ExecStart=
# lines (as root, when the data plane was packaged).
# Usage: deb.sh BUILD_DIR VERSION
set -u
build=$1 version=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

(cd "$build" && cpack -G DEB -B "$tmp/out" >"$tmp/cpack.log" 2>&1) ||
  { cat "$tmp/cpack.log"; echo "FAIL: cpack"; exit 1; }
arch=$(dpkg --print-architecture)
declare -A progs=([server]="roomvpn-control roomvpn-dataplane roomvpn-dpctl"
  [client]="roomvpn" [bench]="roomvpn-loadgen")
root=$tmp/root
for comp in server client bench; do
  deb=$tmp/out/roomvpn-${comp}_${version}_${arch}.deb
  [ -f "$deb" ] || { bad "no $deb (cpack wrote: $(ls "$tmp/out"))"; continue; }
  # lintian: errors fail the test, warnings are printed
  lintian --fail-on error --no-tag-display-limit "$deb" >"$tmp/lintian.log" 2>&1 ||
    { cat "$tmp/lintian.log"; bad "lintian errors in roomvpn-$comp"; }
  grep -E '^W:' "$tmp/lintian.log"
  dpkg-deb -x "$deb" "$root"
  doc=$root/usr/share/doc/roomvpn-$comp
  for f in "$doc/copyright" "$doc/changelog.gz"; do [ -s "$f" ] || bad "roomvpn-$comp: no $f"; done
  for p in ${progs[$comp]}; do
    [ -s "$root/usr/share/man/man1/$p.1.gz" ] || bad "roomvpn-$comp: no man page for $p"
    out=$("$root/usr/bin/$p" --version 2>&1) || true
    [ "$out" = "$p $version" ] && echo "ok: installed $out" ||
      bad "installed /usr/bin/$p --version printed '$out'"
  done
done
units=$root/lib/systemd/system
for u in roomvpn-control.service roomvpn-dataplane.service roomvpn@.service; do
  exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$units/$u" 2>/dev/null)
  case "$exe" in
  /usr/bin/*) [ -x "$root$exe" ] && echo "ok: $u runs $exe" || bad "$u: $exe not in the packages" ;;
  *) bad "$u: missing, or ExecStart '$exe' not in /usr/bin" ;;
  esac
done
for f in control.conf dataplane.conf dataplane.env; do
  [ -s "$root/usr/share/doc/roomvpn-server/examples/$f" ] || bad "no example $f"
done
dpkg-deb -I "$tmp/out/roomvpn-server_${version}_${arch}.deb" postinst 2>/dev/null |
  grep -q 'adduser --system' || bad "roomvpn-server's postinst does not add the roomvpn user"
[ $fail = 0 ] && echo "ok: packages"

if [ $fail = 0 ] && [ -x "$root/usr/bin/roomvpn-dataplane" ] && [ "$(id -u)" = 0 ]; then
  "$src/scripts/demo.sh" --bin-dir "$root/usr/bin" --unit-dir "$units" >"$tmp/demo.log" 2>&1 ||
    { tail -40 "$tmp/demo.log"; bad "the main job from the installed packages"; }
  # the planes ran the units' ExecStart= command lines, programs from the root
  grep -F "started as: $root/usr/bin/roomvpn-control serve --config " "$tmp/demo.log" ||
    bad "the control plane did not run from its unit's ExecStart="
  grep -E "started as: $root/usr/bin/roomvpn-dataplane -l .* -- --config " "$tmp/demo.log" ||
    bad "the data plane did not run from its unit's ExecStart="
  grep -q "demo: OK" "$tmp/demo.log" && echo "ok: the main job ran from the installed packages"
fi
exit $fail
