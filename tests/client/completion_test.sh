#!/bin/bash
# The shell completion scripts: they parse (bash -n, zsh -n when zsh is
# installed), and bash completes command words and options, with a global
# option before the command.
set -eu
dir=$(cd "$(dirname "$0")/../../client/completion" && pwd)
bash -n "$dir/roomvpn.bash"
if command -v zsh >/dev/null; then
	zsh -n "$dir/_roomvpn"
else
	echo "zsh not installed: zsh -n skipped"
fi
# shellcheck source=/dev/null
source "$dir/roomvpn.bash"
complete_of() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMPREPLY=()
	_roomvpn
	echo "${COMPREPLY[*]}"
}
expect() {
	local want=$1 got
	shift
	got=$(complete_of "$@")
	if [[ " $got " != *" $want "* ]]; then
		echo "FAIL: '$*' completes to '$got', missing '$want'"
		exit 1
	fi
}
expect members roomvpn rooms m
expect status roomvpn st
expect status roomvpn --json st
expect --json roomvpn status --j
expect --username roomvpn login --u
expect --page-size roomvpn --config-dir /tmp rooms list --page
expect tcp roomvpn rooms create r --transport t
expect dataplanes roomvpn admin d
expect drain roomvpn admin dataplanes d
expect --placement roomvpn rooms create r --pla
expect --no-placement roomvpn rooms update r --no-pl
echo "completion ok"
