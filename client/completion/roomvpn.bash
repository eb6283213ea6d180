# bash completion for roomvpn (installed as
# share/bash-completion/completions/roomvpn). Commands and options as in
# client/cli_*.c; `roomvpn COMMAND --help` is the reference.
_roomvpn()
{
	local cur prev words=() cmd="" i
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}

	case $prev in
	--config-dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
	--ca) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--transport) COMPREPLY=($(compgen -W "udp tcp" -- "$cur")); return ;;
	--admin | --disabled) COMPREPLY=($(compgen -W "true false" -- "$cur")); return ;;
	esac

	# the command words typed so far (global options may stand anywhere)
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--config-dir) ((i++)) ;;
		-*) ;;
		*) words+=("${COMP_WORDS[i]}") ;;
		esac
	done
	cmd="${words[*]}"

	local globals="--json --config-dir --help" opts=""
	case $cmd in
	"") COMPREPLY=($(compgen -W "login logout rooms join leave up down status admin $globals" -- "$cur")); return ;;
	rooms) COMPREPLY=($(compgen -W "list show create update delete members kick rules" -- "$cur")); return ;;
	admin) COMPREPLY=($(compgen -W "users audit dataplanes" -- "$cur")); return ;;
	"admin dataplanes") COMPREPLY=($(compgen -W "list drain undrain" -- "$cur")); return ;;
	"admin users") COMPREPLY=($(compgen -W "list create update delete" -- "$cur")); return ;;
	login*) opts="--username --fingerprint --ca --tls-name --device-name --password-stdin" ;;
	logout*) opts="--all-devices" ;;
	"rooms list"* | "admin users list"*) opts="--page-size --page-token" ;;
	"rooms create"* | "rooms update"*)
		opts="--subnet --subnet6 --mtu --transport --keepalive --password --password-stdin --no-password
		      --routes --no-routes --dns --dns-search --no-dns --rotate-key --placement
		      --no-placement" ;;
	join*) opts="--password --password-stdin" ;;
	up*) opts="--daemon --interface --no-dns" ;;
	"admin users create"*) opts="--admin --password-stdin" ;;
	"admin users update"*) opts="--admin --disabled --password --password-stdin" ;;
	"admin audit"*) opts="--actor --action --page-size --page-token" ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts $globals" -- "$cur"))
	fi
}
complete -F _roomvpn roomvpn
