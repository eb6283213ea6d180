/* Session files: rooms and sessions as text (see session_file.h). */
#include "session_file.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "inet.h"
#include "static_key.h"

#define MAX_FIELDS 12

struct parse_ctx {
	const char *name; /* file name for messages */
	const char *dir;  /* base for relative key paths */
	unsigned line;
	char *err;
	size_t errlen;
	struct rv_session_file *out;
	size_t cap_rooms, cap_sessions;
	char last_key_path[PATH_MAX]; /* one-entry cache: many sessions share a key file */
	struct rv_key_material last_key;
};

static int fail(struct parse_ctx *c, const char *fmt, const char *arg)
{
	char msg[512];
	snprintf(msg, sizeof(msg), fmt, arg);
	snprintf(c->err, c->errlen, "%s:%u: %s", c->name, c->line, msg);
	return -1;
}

static int parse_u32(struct parse_ctx *c, const char *what, const char *v, uint32_t max,
		     uint32_t *out)
{
	char *end;
	errno = 0;
	/* decimal, or hex with 0x (no octal surprises from a leading 0) */
	int base = v[0] == '0' && (v[1] == 'x' || v[1] == 'X') ? 16 : 10;
	unsigned long n = strtoul(v, &end, base);
	if (errno || end == v || *end || v[0] == '-' || n > max) {
		char msg[128];
		snprintf(msg, sizeof(msg), "bad %s \"%s\"", what, v);
		return fail(c, "%s", msg);
	}
	*out = (uint32_t)n;
	return 0;
}

static int parse_ipv4(const char *v, uint32_t *out)
{
	struct in_addr a;
	if (inet_pton(AF_INET, v, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return 0;
}

static void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return arr;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *p = realloc(arr, ncap * elem);
	if (p)
		*cap = ncap;
	return p;
}

static int parse_room(struct parse_ctx *c, char **f, int n)
{
	struct rv_st_room r = {0};
	uint32_t plen32;
	if (n != 3)
		return fail(c, "%s", "expected: room <room-id> <subnet>/<prefix-len>");
	if (parse_u32(c, "room id", f[1], UINT32_MAX, &r.room_id) < 0)
		return -1;
	const char *slash = strchr(f[2], '/');
	char addr[32];
	if (!slash || (size_t)(slash - f[2]) >= sizeof(addr))
		return fail(c, "bad subnet \"%s\" (expected A.B.C.D/N)", f[2]);
	memcpy(addr, f[2], (size_t)(slash - f[2]));
	addr[slash - f[2]] = '\0';
	if (parse_ipv4(addr, &r.subnet) < 0 ||
	    parse_u32(c, "prefix length", slash + 1, 30, &plen32))
		return fail(c, "bad subnet \"%s\" (expected A.B.C.D/N)", f[2]);
	if (plen32 < 8)
		return fail(c, "prefix length of \"%s\" must be 8..30", f[2]);
	r.prefix_len = (uint8_t)plen32;
	if (r.subnet & ~(~0u << (32 - plen32)))
		return fail(c, "subnet \"%s\" has host bits set", f[2]);
	struct rv_st_room *rooms =
	    grow(c->out->rooms, &c->cap_rooms, c->out->n_rooms, sizeof(*rooms));
	if (!rooms)
		return fail(c, "%s", "out of memory");
	c->out->rooms = rooms;
	rooms[c->out->n_rooms++] = r;
	return 0;
}

static int load_key(struct parse_ctx *c, const char *file, struct rv_key_material *k)
{
	char path[PATH_MAX], kerr[256];
	if (file[0] == '/' || !c->dir || !c->dir[0])
		snprintf(path, sizeof(path), "%s", file);
	else
		snprintf(path, sizeof(path), "%s/%s", c->dir, file);
	if (strcmp(path, c->last_key_path) == 0) {
		*k = c->last_key;
		return 0;
	}
	if (rv_static_key_load(path, k, kerr, sizeof(kerr)) < 0)
		return fail(c, "key file: %s", kerr);
	snprintf(c->last_key_path, sizeof(c->last_key_path), "%s", path);
	c->last_key = *k;
	return 0;
}

/* key-id=N, key-direction=0|1|none, outer=A.B.C.D:PORT or [IPV6]:PORT */
static int parse_option(struct parse_ctx *c, const char *opt, struct rv_st_session *s)
{
	uint32_t v;
	if (strncmp(opt, "key-id=", 7) == 0) {
		if (parse_u32(c, "key-id (0..7)", opt + 7, 7, &v) < 0)
			return -1;
		s->key_id = (uint8_t)v;
	} else if (strcmp(opt, "key-direction=none") == 0) {
		s->key_direction = RV_KEY_DIRECTION_NONE;
	} else if (strncmp(opt, "key-direction=", 14) == 0) {
		if (parse_u32(c, "key-direction (0, 1 or none)", opt + 14, 1, &v) < 0)
			return -1;
		s->key_direction = (int)v;
	} else if (strncmp(opt, "outer=", 6) == 0) {
		s->addr.kind = RV_ADDR_UDP6;
		if (rv_parse_hostport6(opt + 6, s->addr.ip6, &s->addr.port) == 0 && s->addr.port)
			return 0;
		if (rv_parse_hostport(opt + 6, &s->addr.ip, &s->addr.port) < 0 || !s->addr.port)
			return fail(
			    c, "bad outer address \"%s\" (expected A.B.C.D:PORT or [IPV6]:PORT)",
			    opt + 6);
		s->addr.kind = RV_ADDR_UDP;
	} else {
		return fail(c, "unknown option \"%s\"", opt);
	}
	return 0;
}

static int parse_session(struct parse_ctx *c, char **f, int n)
{
	struct rv_st_session s = {.key_direction = 1};
	if (n < 6)
		return fail(c, "%s",
			    "expected: session <peer-id> <room-id> <vip> <cipher> <key-file> "
			    "[key-id=N] [key-direction=0|1|none] [outer=A.B.C.D:PORT|[IPV6]:PORT]");
	if (parse_u32(c, "peer-id (0..16777214)", f[1], RV_ST_PEER_ID_MAX, &s.peer_id) < 0 ||
	    parse_u32(c, "room id", f[2], UINT32_MAX, &s.room_id) < 0)
		return -1;
	if (parse_ipv4(f[3], &s.vip) < 0)
		return fail(c, "bad virtual IP \"%s\"", f[3]);
	if (rv_cipher_parse(f[4], &s.cipher) < 0)
		return fail(c, "unknown cipher \"%s\"", f[4]);
	for (int i = 6; i < n; i++)
		if (parse_option(c, f[i], &s) < 0)
			return -1;
	if (load_key(c, f[5], &s.key) < 0)
		return -1;
	struct rv_st_session *arr =
	    grow(c->out->sessions, &c->cap_sessions, c->out->n_sessions, sizeof(*arr));
	if (!arr) {
		OPENSSL_cleanse(&s.key, sizeof(s.key));
		return fail(c, "%s", "out of memory");
	}
	c->out->sessions = arr;
	arr[c->out->n_sessions++] = s;
	OPENSSL_cleanse(&s.key, sizeof(s.key));
	return 0;
}

static int parse_line(struct parse_ctx *c, char *line)
{
	char *f[MAX_FIELDS], *save = NULL;
	int n = 0;
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	for (char *t = strtok_r(line, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
		if (n == MAX_FIELDS)
			return fail(c, "%s", "too many fields");
		f[n++] = t;
	}
	if (n == 0)
		return 0;
	if (strcmp(f[0], "room") == 0)
		return parse_room(c, f, n);
	if (strcmp(f[0], "session") == 0)
		return parse_session(c, f, n);
	return fail(c, "unknown entry \"%s\" (expected room or session)", f[0]);
}

int rv_session_file_parse(const char *text, const char *name, const char *dir,
			  struct rv_session_file *out, char *err, size_t errlen)
{
	struct parse_ctx c = {.name = name, .dir = dir, .err = err, .errlen = errlen, .out = out};
	char *copy = strdup(text);
	int rc = 0;
	memset(out, 0, sizeof(*out));
	if (!copy) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	char *save = NULL;
	/* strtok_r would merge empty lines and break line numbers: split by hand. */
	for (char *p = copy; p && rc == 0; p = save) {
		char *nl = strchr(p, '\n');
		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		c.line++;
		rc = parse_line(&c, p);
	}
	free(copy);
	OPENSSL_cleanse(&c.last_key, sizeof(c.last_key));
	if (rc < 0)
		rv_session_file_free(out);
	return rc;
}

int rv_session_file_load(const char *path, struct rv_session_file *out, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	if (!fp) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char *text = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&text, &cap, '\0', fp);
	int rerr = ferror(fp);
	fclose(fp);
	if (n < 0 && rerr) {
		free(text);
		snprintf(err, errlen, "%s: read error", path);
		return -1;
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	int rc = rv_session_file_parse(text ? text : "", path, dir, out, err, errlen);
	free(text);
	return rc;
}

void rv_session_file_free(struct rv_session_file *f)
{
	if (f->sessions)
		OPENSSL_cleanse(f->sessions, f->n_sessions * sizeof(*f->sessions));
	free(f->sessions);
	free(f->rooms);
	memset(f, 0, sizeof(*f));
}
