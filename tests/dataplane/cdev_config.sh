#!/usr/bin/env bash
# roomvpn-dataplane --check-config with crypto_engine = cryptodev: the EAL
# starts with the options before "--" and the device is checked as at
# start-up; each refusal exits 2 with its reason (docs/dataplane.md "Crypto
# engines"). Software PMDs only (crypto_aesni_gcm, crypto_null); exit 77
# when DPDK's software cryptodev PMD is not installed.
# usage: cdev_config.sh BUILD_DIR
set -uo pipefail
DP="$1/dataplane/roomvpn-dataplane"
FAILS=0
if ! ls /usr/lib/*/dpdk/pmds-*/librte_crypto_ipsec_mb.so >/dev/null 2>&1; then
	echo "SKIP: DPDK's software cryptodev PMD (librte_crypto_ipsec_mb) is not installed"
	exit 77
fi
EAL=(--no-huge -m 128 --no-pci --file-prefix "cdevcfg$$" --log-level=lib.eal:error)
GCM=(--set crypto_engine=cryptodev --set crypto_dev=crypto_aesni_gcm0)

# expect RC PATTERN ARGS...: --check-config with ARGS exits RC, output has PATTERN
expect() {
	local want=$1 pattern=$2 out rc
	shift 2
	out=$("$DP" --check-config "$@" 2>&1)
	rc=$?
	if [ $rc = "$want" ] && grep -q -- "$pattern" <<<"$out"; then
		echo "ok: exit $rc: $(grep -m1 -- "$pattern" <<<"$out")"
	else
		echo "FAIL: '$*' exited $rc (want $want), output without '$pattern':"
		tail -5 <<<"$out"
		FAILS=$((FAILS + 1))
	fi
}

expect 0 "configuration OK" "${EAL[@]}" --vdev crypto_aesni_gcm0 -- --set ip=10.0.0.1/24 \
	--set workers=2 "${GCM[@]}"
expect 2 "crypto_dev crypto_aesni_gcm0: no such crypto device (the EAL has: none)" "${EAL[@]}" \
	-- --set ip=10.0.0.1/24 "${GCM[@]}"
expect 2 "crypto_dev crypto_null0 (driver crypto_null) has no AES-256-GCM AEAD capability" \
	"${EAL[@]}" --vdev crypto_null0 -- --set ip=10.0.0.1/24 --set crypto_engine=cryptodev \
	--set crypto_dev=crypto_null0
expect 2 "crypto_dev crypto_aesni_gcm0 has 2 queue pair(s); 2 worker(s) need 3" "${EAL[@]}" \
	--vdev crypto_aesni_gcm0,max_nb_queue_pairs=2 -- --set ip=10.0.0.1/24 --set workers=2 \
	"${GCM[@]}"
expect 2 "crypto_engine = cryptodev needs crypto_dev = NAME" -- --set ip=10.0.0.1/24 \
	--set crypto_engine=cryptodev
expect 2 "crypto_dev is set but crypto_engine is not cryptodev" -- --set ip=10.0.0.1/24 \
	--set crypto_dev=crypto_aesni_gcm0
expect 2 "must be openssl, ipsec-mb, cryptodev or auto" -- --set ip=10.0.0.1/24 \
	--set crypto_engine=qat
help=$("$DP" --help)
for k in "crypto_engine = openssl|ipsec-mb|cryptodev|auto" "crypto_dev = NAME" "crypto_sessions = N"; do
	grep -qF -- "$k" <<<"$help" || {
		echo "FAIL: --help does not list '$k'"
		FAILS=$((FAILS + 1))
	}
done
[ $FAILS = 0 ] && echo "cdev_config: all passed" && exit 0
echo "cdev_config: $FAILS failure(s)"
exit 1
