/* rvpeer counters: one JSON line, on SIGUSR1 and at exit. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rvpeer.h"

#define FIELD(name)                                                                                \
	{                                                                                          \
#name, offsetof(struct peer_stats, name)                                           \
	}

static const struct {
	const char *name;
	size_t off;
} fields[] = {
    FIELD(packets_in),	FIELD(bytes_in),     FIELD(packets_out),  FIELD(bytes_out),
    FIELD(tun_in),	FIELD(tun_out),	     FIELD(pings_in),	  FIELD(pings_out),
    FIELD(echo_req_in), FIELD(echo_req_out), FIELD(echo_rep_in),  FIELD(echo_rep_out),
    FIELD(rtt_last_ns), FIELD(rtt_min_ns),   FIELD(rtt_max_ns),	  FIELD(rekeys),
    FIELD(tx_errors),	FIELD(tun_errors),   FIELD(tcp_connects), FIELD(duplicates_out),
};

/* Append to @buf at *@at; false once it no longer fits. */
static bool put(char *buf, size_t cap, size_t *at, const char *fmt, const char *name,
		unsigned long long v)
{
	int n = snprintf(buf + *at, cap - *at, fmt, name, v);
	if (n < 0 || (size_t)n >= cap - *at)
		return false;
	*at += (size_t)n;
	return true;
}

int peer_stats_json(const struct peer_stats *s, const char *mode, const char *engine, int key_id,
		    char *buf, size_t cap)
{
	unsigned long long total = 0;
	size_t at = 0;
	bool ok = put(buf, cap, &at, "{\"mode\":\"%s\",\"key_id\":%llu", mode,
		      (unsigned long long)key_id) &&
		  put(buf, cap, &at, ",\"engine\":\"%s\"", engine, 0); /* no number */

	for (size_t i = 0; ok && i < sizeof(fields) / sizeof(fields[0]); i++) {
		uint64_t v;
		memcpy(&v, (const char *)s + fields[i].off, sizeof(v));
		ok = put(buf, cap, &at, ",\"%s\":%llu", fields[i].name, v);
	}
	for (int r = 1; r < RV_DROP__COUNT; r++)
		total += s->drops[r];
	ok = ok && put(buf, cap, &at, ",\"%s\":%llu,\"drops\":{", "drops_total", total);
	for (int r = 1; ok && r < RV_DROP__COUNT; r++)
		ok = put(buf, cap, &at, r == 1 ? "\"%s\":%llu" : ",\"%s\":%llu",
			 rv_drop_name((enum rv_drop)r), s->drops[r]);
	ok = ok && put(buf, cap, &at, "%s}}", "", 0);
	return ok ? (int)at : -1;
}

static void write_file(const char *path, const char *line, size_t len)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		fprintf(stderr, "rvpeer: --stats-file path too long\n");
		return;
	}
	f = fopen(tmp, "w");
	if (!f || fwrite(line, 1, len, f) != len || fputc('\n', f) == EOF) {
		perror("rvpeer: writing --stats-file");
		if (f)
			fclose(f);
		return;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		perror("rvpeer: writing --stats-file");
}

void peer_stats_report(const struct peer_stats *s, const char *mode, const char *engine, int key_id,
		       const char *path)
{
	char line[2048];
	int n = peer_stats_json(s, mode, engine, key_id, line, sizeof(line));

	if (n < 0) {
		fprintf(stderr, "rvpeer: counters do not fit the JSON buffer\n");
		return;
	}
	printf("%s\n", line);
	fflush(stdout);
	if (path)
		write_file(path, line, (size_t)n);
}
