/* roomvpn: the standard client. See docs/client.md. */
#include "cli.h"

int main(int argc, char **argv)
{
	return rv_cli_main(argc, argv);
}
