/* The ipsec-mb engine's place when libroomvpn is built without
 * libipsec-mb-dev: listed, never usable, and it says why. */
#include "cipher_ctx.h"

static const char *absent(void)
{
	return "built without libipsec-mb (install libipsec-mb-dev and rebuild)";
}

static bool supports(enum rv_cipher c)
{
	(void)c;
	return false;
}

const struct rv_cipher_engine rv_engine_ipsec_mb = {
    .name = "ipsec-mb",
    .absent = absent,
    .supports = supports,
};
