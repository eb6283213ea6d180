/* roomvpn: the standard client. See docs/client.md. */
#include "cli.h"
#include "version.h"

int main(int argc, char **argv)
{
	if (rv_version_asked(argc, argv, "roomvpn"))
		return 0;
	return rv_cli_main(argc, argv);
}
