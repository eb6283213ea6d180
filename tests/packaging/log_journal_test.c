/* shared/log.c under journald: with JOURNAL_STREAM set each line starts with
 * the sd-daemon priority "<N>" and carries no timestamp of its own; without
 * it, the timestamp comes first. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Logs one line at @l with stderr sent to a temporary file; returns it. */
static const char *logged(enum rv_log_level l, const char *msg)
{
	static char line[1200];
	FILE *f = tmpfile();
	int saved = dup(2);

	assert(f && saved >= 0);
	fflush(stderr);
	dup2(fileno(f), 2);
	rv_log(l, "%s", msg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	return line;
}

static int expect(const char *got, const char *want)
{
	if (strcmp(got, want) == 0)
		return 0;
	fprintf(stderr, "FAIL: logged '%s', want '%s'\n", got, want);
	return 1;
}

int main(void)
{
	int fail = 0;

	rv_log_set_level(RV_LOG_DEBUG);
	setenv("JOURNAL_STREAM", "8:12345", 1);
	fail |= expect(logged(RV_LOG_ERROR, "disk on fire"), "<3>disk on fire\n");
	fail |= expect(logged(RV_LOG_WARN, "smoke"), "<4>smoke\n");
	fail |= expect(logged(RV_LOG_NOTICE, "port 0 link up"), "<5>port 0 link up\n");
	fail |= expect(logged(RV_LOG_INFO, "up"), "<6>up\n");
	fail |= expect(logged(RV_LOG_DEBUG, "detail"), "<7>detail\n");

	unsetenv("JOURNAL_STREAM");
	const char *plain = logged(RV_LOG_ERROR, "disk on fire");
	/* 2025-03-01T12:00:00.000Z error disk on fire */
	if (!(plain[0] >= '0' && plain[0] <= '9' && strstr(plain, "Z error disk on fire\n"))) {
		fprintf(stderr, "FAIL: without journald: '%s'\n", plain);
		fail = 1;
	}
	if (!strstr(logged(RV_LOG_NOTICE, "stopping"), "Z notice stopping\n")) {
		fprintf(stderr, "FAIL: notice without journald\n");
		fail = 1;
	}
	enum rv_log_level l;
	if (rv_log_parse_level("notice", &l) != 0 || l != RV_LOG_NOTICE) {
		fprintf(stderr, "FAIL: log level 'notice' not parsed\n");
		fail = 1;
	}
	rv_log_set_level(RV_LOG_WARN);
	if (logged(RV_LOG_NOTICE, "hidden")[0]) {
		fprintf(stderr, "FAIL: notice logged at level warn\n");
		fail = 1;
	}
	if (!fail)
		printf("ok: journald priority prefixes, timestamps otherwise\n");
	return fail;
}
