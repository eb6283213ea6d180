/* rvpeer: a test VPN endpoint on libroomvpn (see rvpeer.h and --help). */
#include "log.h"
#include "rvpeer.h"

int main(int argc, char **argv)
{
	struct peer_opts o;
	int rc = peer_opts_parse(&o, argc, argv);

	if (rc != 0)
		return rc > 0 ? 0 : 2;
	rv_log_set_level(o.verbose ? RV_LOG_DEBUG : RV_LOG_INFO);
	return peer_run(&o);
}
