/* Config files: "key = value" lines, '#' comments, blank lines ignored.
 * Errors name the file, line and key. */
#ifndef RV_CONFIG_H
#define RV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called for each key; return 0, or -1 after writing a message into @err. */
typedef int (*rv_config_cb)(void *arg, const char *key, const char *value, char *err,
			    size_t errlen);

/* Returns 0, or -1 with "path:line: message" in @err. */
int rv_config_load(const char *path, rv_config_cb cb, void *arg, char *err, size_t errlen);
/* Same for one "key=value" string (command-line overrides). */
int rv_config_apply_override(const char *kv, rv_config_cb cb, void *arg, char *err, size_t errlen);

/* While a callback runs: "path:line" or "override" (for warnings, e.g. an old
 * key spelling); "config" outside a callback. */
const char *rv_config_where(void);

/* Value parsers: return 0, or -1 with a message in @err. */
int rv_parse_u32(const char *v, uint32_t min, uint32_t max, uint32_t *out, char *err,
		 size_t errlen);
int rv_parse_bool(const char *v, bool *out, char *err, size_t errlen);
/* "30s", "5m", "2h", "1500ms", or plain seconds -> nanoseconds. */
int rv_parse_duration_ns(const char *v, uint64_t *out, char *err, size_t errlen);

#endif
