/* Leveled logging to stderr with a timestamp; a per-call-site rate limit
 * for the data path (see rv_log_ratelimited in log.h). Under journald
 * (JOURNAL_STREAM set, systemd.exec(5)) each line starts with the sd-daemon
 * priority prefix "<N>" instead, and journald adds the time: so
 * `journalctl -p err` finds errors. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "log.h"

static enum rv_log_level level = RV_LOG_INFO;
static const char *const names[] = {"error", "warn", "notice", "info", "debug"};
/* syslog priorities of the levels above: LOG_ERR, LOG_WARNING, LOG_NOTICE,
 * LOG_INFO, LOG_DEBUG */
static const int priorities[] = {3, 4, 5, 6, 7};

void rv_log_set_level(enum rv_log_level l)
{
	level = l;
}

int rv_log_parse_level(const char *name, enum rv_log_level *out)
{
	for (unsigned i = 0; name && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i]) == 0) {
			*out = (enum rv_log_level)i;
			return 0;
		}
	}
	return -1;
}

void rv_log(enum rv_log_level l, const char *fmt, ...)
{
	char msg[1024], stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (l > level || (unsigned)l > RV_LOG_DEBUG)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (getenv("JOURNAL_STREAM")) {
		fprintf(stderr, "<%d>%s\n", priorities[l], msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	/* one fprintf so that lines from several threads don't interleave */
	fprintf(stderr, "%s.%03ldZ %-5s %s\n", stamp, ts.tv_nsec / 1000000, names[l], msg);
}

int rv_log_allow_(long *last_s)
{
	struct timespec ts;
	long now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now = (long)ts.tv_sec + 1; /* +1: 0 means "never logged" */
	if (*last_s == now)
		return 0;
	*last_s = now;
	return 1;
}
