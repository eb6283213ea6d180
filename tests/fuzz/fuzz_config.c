/* Fuzz the config parser (file and override forms) and the value parsers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

static int cb(void *arg, const char *key, const char *value, char *err, size_t errlen)
{
	uint32_t u;
	uint64_t ns;
	bool b;

	(void)arg;
	if (!*key || strchr(key, '\n'))
		abort(); /* keys are trimmed, non-empty lines */
	if (key[0] == 'u')
		return rv_parse_u32(value, 0, 1000, &u, err, errlen);
	if (key[0] == 'b')
		return rv_parse_bool(value, &b, err, errlen);
	if (key[0] == 'd')
		return rv_parse_duration_ns(value, &ns, err, errlen);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	char err[512], kv[256];

	if (fd < 0) {
		fd = memfd_create("rv-fuzz-config", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (rv_config_load(path, cb, NULL, err, sizeof(err)) != 0 &&
	    strncmp(err, path, strlen(path)))
		abort(); /* errors start with the path */
	size_t n = size < sizeof(kv) - 1 ? size : sizeof(kv) - 1;
	memcpy(kv, data, n);
	kv[n] = 0;
	rv_config_apply_override(kv, cb, NULL, err, sizeof(err));
	return 0;
}
