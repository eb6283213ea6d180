/* Fuzz the static key parser; a key it accepts must format and parse back
 * to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "static_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_key_material k, k2;
	char err[256], text[2048];

	if (rv_static_key_parse((const char *)data, size, &k, err, sizeof(err)) != 0) {
		if (strncmp(err, "line ", 5) != 0)
			abort(); /* every error names its line */
		return 0;
	}
	int n = rv_static_key_format(&k, text, sizeof(text));
	if (n < 0 || rv_static_key_parse(text, (size_t)n, &k2, err, sizeof(err)) != 0 ||
	    memcmp(&k, &k2, sizeof(k)) != 0)
		abort();
	return 0;
}
