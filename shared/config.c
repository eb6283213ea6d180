/* Config files ("key = value", '#' comments) and value parsers. Every error
 * names where it happened: "path:line: key: message". */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

#define MAX_LINE 4096

static __thread char cur_where[512]; /* rv_config_where */

const char *rv_config_where(void)
{
	return cur_where[0] ? cur_where : "config";
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

/* Strip a comment: '#' at the start or after whitespace. */
static void strip_comment(char *s)
{
	for (char *p = s; *p; p++) {
		if (*p == '#' && (p == s || isspace((unsigned char)p[-1]))) {
			*p = 0;
			return;
		}
	}
}

static bool valid_key(const char *k)
{
	for (; *k; k++)
		if (!isalnum((unsigned char)*k) && !strchr("_-.", *k))
			return false;
	return true;
}

/* Handle one line; @where is "path:line" or "override". */
static int one_line(char *line, const char *where, rv_config_cb cb, void *arg, char *err,
		    size_t errlen)
{
	char msg[512] = "";
	char *eq, *key, *value;

	strip_comment(line);
	line = trim(line);
	if (*line == 0)
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		snprintf(err, errlen, "%s: expected 'key = value', got '%.64s'", where, line);
		return -1;
	}
	*eq = 0;
	key = trim(line);
	value = trim(eq + 1);
	if (*key == 0) {
		snprintf(err, errlen, "%s: missing key before '='", where);
		return -1;
	}
	if (!valid_key(key)) {
		snprintf(err, errlen, "%s: invalid key '%.64s' (letters, digits, '_', '-', '.')",
			 where, key);
		return -1;
	}
	snprintf(cur_where, sizeof(cur_where), "%s", where);
	int rc = cb(arg, key, value, msg, sizeof(msg));
	cur_where[0] = 0;
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s: %s", where, key, msg[0] ? msg : "invalid value");
		return -1;
	}
	return 0;
}

int rv_config_load(const char *path, rv_config_cb cb, void *arg, char *err, size_t errlen)
{
	char line[MAX_LINE], where[512];
	unsigned lineno = 0;
	FILE *f = fopen(path, "r");
	int rc = 0;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s: line longer than %d bytes", where, MAX_LINE - 2);
			rc = -1;
			break;
		}
		rc = one_line(line, where, cb, arg, err, errlen);
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		rc = -1;
	}
	fclose(f);
	return rc;
}

int rv_config_apply_override(const char *kv, rv_config_cb cb, void *arg, char *err, size_t errlen)
{
	char line[MAX_LINE];

	if (strlen(kv) >= sizeof(line)) {
		snprintf(err, errlen, "override: longer than %d bytes", MAX_LINE - 1);
		return -1;
	}
	strcpy(line, kv);
	if (!strchr(line, '=')) {
		snprintf(err, errlen, "override '%.64s': expected key=value", kv);
		return -1;
	}
	return one_line(line, "override", cb, arg, err, errlen);
}

int rv_parse_u32(const char *v, uint32_t min, uint32_t max, uint32_t *out, char *err, size_t errlen)
{
	unsigned long long n;
	char *end;

	errno = 0;
	if (!v || !isdigit((unsigned char)*v)) {
		snprintf(err, errlen, "'%s' is not a number", v ? v : "");
		return -1;
	}
	n = strtoull(v, &end, 0);
	if (errno || *end) {
		snprintf(err, errlen, "'%s' is not a number", v);
		return -1;
	}
	if (n < min || n > max) {
		snprintf(err, errlen, "%llu is out of range [%" PRIu32 ", %" PRIu32 "]", n, min,
			 max);
		return -1;
	}
	*out = (uint32_t)n;
	return 0;
}

int rv_parse_bool(const char *v, bool *out, char *err, size_t errlen)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (unsigned i = 0; v && i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
			*out = strcasecmp(v, yes[i]) == 0;
			return 0;
		}
	}
	snprintf(err, errlen, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)",
		 v ? v : "");
	return -1;
}

int rv_parse_duration_ns(const char *v, uint64_t *out, char *err, size_t errlen)
{
	static const struct {
		const char *suffix;
		uint64_t ns;
	} units[] = {{"ms", 1000000ull},
		     {"s", 1000000000ull},
		     {"m", 60000000000ull},
		     {"h", 3600000000000ull},
		     {"", 1000000000ull}};
	unsigned long long n;
	char *end;

	errno = 0;
	if (!v || !isdigit((unsigned char)*v))
		goto bad;
	n = strtoull(v, &end, 10);
	if (errno)
		goto bad;
	for (unsigned i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			if (n > UINT64_MAX / units[i].ns) {
				snprintf(err, errlen, "'%s' is too long a duration", v);
				return -1;
			}
			*out = n * units[i].ns;
			return 0;
		}
	}
bad:
	snprintf(err, errlen, "'%s' is not a duration (e.g. 30s, 5m, 2h, 1500ms)", v ? v : "");
	return -1;
}
