#!/bin/sh
# Builds deploy/docker/Dockerfile.* when a container runtime is present
# (docker, else podman), then runs each image's check: the control plane's
# check-config on a minimal config, the data plane's --check-config.
# Without a runtime it prints SKIP and the reason, and exits 0.
# usage: build_test.sh SOURCE_DIR
set -eu
src=${1:?usage: build_test.sh SOURCE_DIR}
rt=
for r in docker podman; do
	if command -v "$r" >/dev/null 2>&1 && "$r" info >/dev/null 2>&1; then rt=$r; break; fi
done
if [ -z "$rt" ]; then
	echo "SKIP: no usable container runtime (docker or podman not installed or not running)"
	exit 0
fi
tag=rv-test-$$
trap '"$rt" rmi -f "$tag-control" "$tag-dataplane" >/dev/null 2>&1 || true' EXIT
"$rt" build -q -f "$src/deploy/docker/Dockerfile.control" -t "$tag-control" "$src"
"$rt" build -q -f "$src/deploy/docker/Dockerfile.dataplane" -t "$tag-dataplane" "$src"
"$rt" run --rm "$tag-control" check-config --set state_dir=/var/lib/roomvpn
"$rt" run --rm "$tag-dataplane" --check-config -- --set ip=10.0.0.1/24
echo "container images build and check their config"
