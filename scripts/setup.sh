#!/usr/bin/env bash
# Installs every Debian dependency (idempotent) and builds roomvpn:
#   build/       release build with every program and test
#   build-asan/  ASan+UBSan build (unit tests, control plane)
#   build-fuzz/  clang + libFuzzer targets
# Usage: scripts/setup.sh [--no-asan] [--no-fuzz]
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
  dpdk dpdk-dev libdpdk-dev
  libgrpc-dev protobuf-compiler protobuf-c-compiler libprotobuf-c-dev libprotobuf-dev
  libssl-dev libargon2-dev librocksdb-dev liburcu-dev libcmocka-dev libipsec-mb-dev
  libmicrohttpd-dev libgnutls28-dev libmnl-dev libjson-c-dev
  openvpn iperf3 iputils-ping tshark prometheus iproute2 iptables procps psmisc
  python3-grpcio python3-protobuf openssl gnuplot-nox
  libsystemd-dev help2man lintian
  etcd-server etcd-client golang-etcd-server-dev
  wireguard-go wireguard-tools stress libxdp1 libbpf1  # bench/e2e anchors and hog; net_af_xdp
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer no.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y --no-install-recommends "${missing[@]}"
fi

asan=1 fuzz=1
for a in "$@"; do
  case "$a" in
  --no-asan) asan=0 ;;
  --no-fuzz) fuzz=0 ;;
  *) echo "setup: unknown option $a" >&2; exit 2 ;;
  esac
done

jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRV_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
if [ $asan = 1 ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRV_WERROR=ON -DRV_SANITIZE=ON -DRV_WITH_DATAPLANE=OFF >/dev/null
  cmake --build build-asan -j"$jobs"
fi
if [ $fuzz = 1 ]; then
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DRV_WERROR=ON -DRV_FUZZ=ON \
    -DRV_WITH_DATAPLANE=OFF -DRV_WITH_CONTROL=OFF >/dev/null
  cmake --build build-fuzz -j"$jobs" --target rv_fuzz_targets
fi
echo "setup: built build/ $( [ $asan = 1 ] && echo build-asan/ ) $( [ $fuzz = 1 ] && echo build-fuzz/ )"
