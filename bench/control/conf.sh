# shellcheck shell=bash
# The load benches' roomvpn-control settings (sourced by run.sh and
# etcd_replicas.sh): cheap Argon2 and no login limits, so that what is
# measured is the control plane's work, not its guessing defences.
# bench_control_conf STATE_DIR LISTEN [EXTRA LINE...]: the config on stdout.
bench_control_conf() {
	local state=$1 listen=$2
	shift 2
	printf '%s\n' "state_dir = $state" "listen = $listen" "log_level = warn" \
		"argon2_memory_kib = 256" "argon2_iterations = 1" "argon2_parallelism = 1" \
		"login_fail_per_user = 1000000" "login_fail_per_addr = 1000000" \
		"login_inflight_per_addr = 1024" "max_tunnels_per_user = 0" "$@"
}
