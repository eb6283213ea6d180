/* Access rules of a room (room_rules.h). The text, one rule per line:
 *
 *   # a comment; blank lines are fine
 *   tag admins = alice carol
 *   deny  tcp  from alice to bob port 22
 *   allow tcp  from tag:admins to any port 80-443
 *   allow icmp from any to 10.88.0.0/24
 *   deny  any  from any to any
 *
 * ACTION (allow|deny) PROTO (any|tcp|udp|icmp) from SEL to SEL [port N|N-M];
 * SEL is any, a member's user name (all of that user's devices in the
 * room), tag:NAME (a tag line above), or an IPv4 address or network. */
#include "room_rules.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "events.h"
#include "log.h"
#include "room_records.h"
#include "store.h"
#include "store_keys.h"
#include "roomvpn/v1/rooms.pb-c.h"

typedef Roomvpn__V1__AclRuleRecord AclRule;

#define TAGS_MAX  64
#define WORDS_MAX 64
#define ADDRS_MAX 256

struct tag {
	char name[32];
	char *users[WORDS_MAX];
	size_t n;
};

struct addr {
	uint32_t net, plen;
};

struct compile {
	const struct rv_rule_member *members;
	size_t n_members;
	bool strict; /* an unknown name is an error (else it matches nothing) */
	struct tag tags[TAGS_MAX];
	size_t n_tags;
	AclRule **out;
	size_t n;
	unsigned line;
	char *msg;
	size_t msglen;
};

static int bad(struct compile *c, const char *fmt, const char *word)
{
	int n = snprintf(c->msg, c->msglen, "line %u: ", c->line);
	if (n >= 0 && (size_t)n < c->msglen)
		snprintf(c->msg + n, c->msglen - (size_t)n, fmt, word);
	return -1;
}

static size_t split(char *line, char **w)
{
	size_t n = 0;
	for (char *s = strtok(line, " \t\r"); s && n < WORDS_MAX; s = strtok(NULL, " \t\r"))
		w[n++] = s;
	return n;
}

static int user_addrs(struct compile *c, const char *user, struct addr *a, size_t *n)
{
	size_t before = *n;
	for (size_t i = 0; i < c->n_members; i++)
		if (strcmp(c->members[i].user, user) == 0) {
			if (*n == ADDRS_MAX)
				return bad(c, "'%s': too many addresses in one selector", user);
			a[(*n)++] = (struct addr){c->members[i].vip, 32};
		}
	return *n > before || !c->strict ? 0 : bad(c, "'%s' is no member of the room", user);
}

static int network(struct compile *c, const char *word, struct addr *a)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%s", word);
	char *slash = strchr(buf, '/');
	long plen = 32;
	if (slash) {
		char *end;
		*slash = 0;
		plen = strtol(slash + 1, &end, 10);
		if (*end || plen < 0 || plen > 32)
			return bad(c, "'%s': prefix length out of range 0..32", word);
	}
	struct in_addr in;
	if (inet_pton(AF_INET, buf, &in) != 1)
		return bad(c, "'%s' is no IPv4 address", word);
	uint32_t ip = ntohl(in.s_addr), mask = plen ? ~0u << (32 - plen) : 0;
	if (ip & ~mask)
		return bad(c, "'%s' has host bits set", word);
	*a = (struct addr){ip, (uint32_t)plen};
	return 0;
}

/* A selector into a list of networks. */
static int selector(struct compile *c, const char *word, struct addr *a, size_t *n)
{
	*n = 0;
	if (strcmp(word, "any") == 0) {
		a[(*n)++] = (struct addr){0, 0};
		return 0;
	}
	if (strncmp(word, "tag:", 4) == 0) {
		for (size_t t = 0; t < c->n_tags; t++)
			if (strcmp(c->tags[t].name, word + 4) == 0) {
				for (size_t u = 0; u < c->tags[t].n; u++)
					if (user_addrs(c, c->tags[t].users[u], a, n) < 0)
						return -1;
				return 0;
			}
		return bad(c, "no tag '%s' defined above", word + 4);
	}
	if (isdigit((unsigned char)word[0])) {
		*n = 1;
		return network(c, word, a);
	}
	return user_addrs(c, word, a, n);
}

static int tag_line(struct compile *c, char **w, size_t n)
{
	if (n < 3 || strcmp(w[2], "=") != 0)
		return bad(c, "%s: write 'tag NAME = USER...'", "tag");
	if (c->n_tags == TAGS_MAX)
		return bad(c, "more than %s tags", "64");
	if (strlen(w[1]) >= sizeof(c->tags[0].name))
		return bad(c, "tag name '%s' too long", w[1]);
	for (size_t t = 0; t < c->n_tags; t++)
		if (strcmp(c->tags[t].name, w[1]) == 0)
			return bad(c, "tag '%s' defined twice", w[1]);
	struct tag *t = &c->tags[c->n_tags++];
	snprintf(t->name, sizeof(t->name), "%s", w[1]);
	for (size_t i = 3; i < n; i++)
		t->users[t->n++] = w[i];
	return 0;
}

static int ports(struct compile *c, const char *word, uint32_t *lo, uint32_t *hi)
{
	char *end;
	long a = strtol(word, &end, 10), b = a;
	if (*end == '-')
		b = strtol(end + 1, &end, 10);
	if (*end || end == word || a < 0 || b > 65535 || a > b)
		return bad(c, "'%s': write a port N or a range N-M within 0..65535", word);
	*lo = (uint32_t)a;
	*hi = (uint32_t)b;
	return 0;
}

static int emit(struct compile *c, const AclRule *tmpl, const struct addr *s, size_t ns,
		const struct addr *d, size_t nd)
{
	for (size_t i = 0; i < ns; i++)
		for (size_t j = 0; j < nd; j++) {
			if (c->n == RV_ROOM_RULES_MAX)
				return bad(c, "the rules come to more than %s address rules",
					   "1024");
			AclRule *r = malloc(sizeof(*r));
			if (!r)
				return bad(c, "%s", "out of memory");
			*r = *tmpl;
			r->src = s[i].net;
			r->src_prefix = s[i].plen;
			r->dst = d[j].net;
			r->dst_prefix = d[j].plen;
			c->out[c->n++] = r;
		}
	return 0;
}

static int rule_line(struct compile *c, char **w, size_t n)
{
	static const struct {
		const char *name;
		uint32_t proto;
	} protos[] = {{"any", 0}, {"icmp", 1}, {"tcp", 6}, {"udp", 17}};
	AclRule t;
	roomvpn__v1__acl_rule_record__init(&t);
	t.deny = strcmp(w[0], "deny") == 0;
	t.port_hi = 65535;
	if (n != 6 && n != 8)
		return bad(c, "%s: write 'ACTION PROTO from SEL to SEL [port N[-M]]'", w[0]);
	size_t p = 0;
	while (p < 4 && strcmp(protos[p].name, w[1]) != 0)
		p++;
	if (p == 4)
		return bad(c, "'%s': the protocol is any, tcp, udp or icmp", w[1]);
	t.proto = protos[p].proto;
	if (strcmp(w[2], "from") != 0 || strcmp(w[4], "to") != 0)
		return bad(c, "%s: write 'ACTION PROTO from SEL to SEL [port N[-M]]'", w[0]);
	if (n == 8) {
		if (strcmp(w[6], "port") != 0)
			return bad(c, "'%s': only 'port N[-M]' may follow", w[6]);
		if (t.proto != 6 && t.proto != 17)
			return bad(c, "ports need tcp or udp, not %s", w[1]);
		if (ports(c, w[7], &t.port_lo, &t.port_hi) < 0)
			return -1;
	}
	static struct addr s[ADDRS_MAX], d[ADDRS_MAX]; /* under the catalog lock */
	size_t ns, nd;
	if (selector(c, w[3], s, &ns) < 0 || selector(c, w[5], d, &nd) < 0)
		return -1;
	return emit(c, &t, s, ns, d, nd);
}

/* (@v NULL: handed on, nothing to free whatever @n says) */
static void free_rules(AclRule **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

int rv_room_rules_compile(const char *text, const struct rv_rule_member *members, size_t n_members,
			  bool strict, AclRule ***out, size_t *n_out, char *msg, size_t msglen)
{
	struct compile *c = calloc(1, sizeof(*c));
	char *copy = strdup(text ? text : "");
	AclRule **v = calloc(RV_ROOM_RULES_MAX, sizeof(*v));
	int rc = -1;
	*out = NULL;
	*n_out = 0;
	if (!c || !copy || !v) {
		snprintf(msg, msglen, "out of memory");
		goto out;
	}
	*c = (struct compile){.members = members,
			      .n_members = n_members,
			      .strict = strict,
			      .out = v,
			      .msg = msg,
			      .msglen = msglen};
	char *w[WORDS_MAX];
	for (char *line = copy; line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		c->line++;
		size_t n = split(line, w);
		int r = 0;
		if (n && strcmp(w[0], "tag") == 0)
			r = tag_line(c, w, n);
		else if (n && (strcmp(w[0], "allow") == 0 || strcmp(w[0], "deny") == 0))
			r = rule_line(c, w, n);
		else if (n)
			r = bad(c, "'%s': a line starts with allow, deny or tag", w[0]);
		if (r < 0)
			goto out;
		line = nl ? nl + 1 : NULL;
	}
	*out = v;
	*n_out = c->n;
	v = NULL;
	rc = 0;
out:
	if (v)
		free_rules(v, c ? c->n : 0);
	free(copy);
	free(c);
	return rc;
}

/* ---- RPCs ---- */

struct members {
	struct rv_rule_member *v;
	size_t n, cap;
	bool oom;
};

static int member_cb(void *arg, const void *k, size_t kl, const void *val, size_t vl)
{
	(void)k;
	(void)kl;
	struct members *ms = arg;
	Roomvpn__V1__MemberRecord *mr = roomvpn__v1__member_record__unpack(NULL, vl, val);
	if (!mr)
		return 0;
	if (ms->n == ms->cap) {
		size_t cap = ms->cap ? 2 * ms->cap : 64;
		struct rv_rule_member *v = realloc(ms->v, cap * sizeof(*v));
		if (!v) {
			ms->oom = true;
			roomvpn__v1__member_record__free_unpacked(mr, NULL);
			return 1;
		}
		ms->v = v;
		ms->cap = cap;
	}
	char *user = strdup(mr->username ? mr->username : "");
	if (user)
		ms->v[ms->n++] = (struct rv_rule_member){user, mr->virtual_ip};
	ms->oom |= !user;
	roomvpn__v1__member_record__free_unpacked(mr, NULL);
	return ms->oom;
}

static void members_free(struct members *ms)
{
	for (size_t i = 0; i < ms->n; i++)
		free((char *)ms->v[i].user);
	free(ms->v);
}

static int put_room(struct rv_store *s, const Roomvpn__V1__RoomRecord *r)
{
	char k[RV_KEY_MAX];
	struct rv_store_batch *b = rv_store_batch_new();
	if (!b)
		return -1;
	int rc = rv_rooms_batch_put_msg(b, k, rv_key_room_by_id(k, r->id), &r->base);
	if (rc == 0)
		rc = rv_store_batch_commit(s, b, true);
	rv_store_batch_free(b);
	return rc;
}

/* @text and its rules into @r (the old ones freed). -1: out of memory. */
static int replace_rules(Roomvpn__V1__RoomRecord *r, const char *text, AclRule **v, size_t n)
{
	char *t = strdup(text);
	if (!t)
		return -1;
	if (r->rules_text && r->rules_text != protobuf_c_empty_string)
		free(r->rules_text);
	r->rules_text = t;
	free_rules(r->acl_rules, r->n_acl_rules);
	r->acl_rules = v;
	r->n_acl_rules = n;
	return 0;
}

static grpc_status_code rules_reply(const Roomvpn__V1__RoomRecord *r, const char *room,
				    ProtobufCMessage **resp, char *msg, size_t msglen)
{
	Roomvpn__V1__RoomRules *m = malloc(sizeof(*m));
	bool oom = !m;
	if (m) {
		roomvpn__v1__room_rules__init(m);
		m->room = rv_rooms_strdup(room, &oom);
		m->text = rv_rooms_strdup(r->rules_text, &oom);
		m->compiled = (uint32_t)r->n_acl_rules;
		*resp = &m->base; /* the server frees it on any status */
	}
	return oom ? rv_rooms_oom(msg, msglen) : GRPC_STATUS_OK;
}

grpc_status_code rv_rooms_set_rules_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
					ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__SetRoomRulesRequest *q = (const void *)req;
	Roomvpn__V1__RoomRecord *r = NULL;
	struct members ms = {0};
	AclRule **v = NULL;
	size_t n = 0;
	char p[RV_KEY_MAX];

	if (strlen(q->text) > RV_ROOM_RULES_TEXT_MAX) {
		snprintf(msg, msglen, "the rules text is longer than %d bytes",
			 RV_ROOM_RULES_TEXT_MAX);
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	rv_rooms_catalog_lock();
	grpc_status_code st = rv_rooms_find(ctx, q->room, &r, msg, msglen);
	if (st == GRPC_STATUS_OK &&
	    rv_store_scan_prefix(ctx->ctl->store, p, rv_key_member_prefix(p, r->id), NULL, 0,
				 member_cb, &ms) < 0)
		st = ms.oom ? rv_rooms_oom(msg, msglen) : rv_rooms_store_error(msg, msglen);
	if (st == GRPC_STATUS_OK &&
	    rv_room_rules_compile(q->text, ms.v, ms.n, true, &v, &n, msg, msglen) < 0)
		st = GRPC_STATUS_INVALID_ARGUMENT;
	if (st == GRPC_STATUS_OK && replace_rules(r, q->text, v, n) < 0)
		st = rv_rooms_oom(msg, msglen);
	else if (st == GRPC_STATUS_OK)
		v = NULL; /* r owns them */
	if (st == GRPC_STATUS_OK && put_room(ctx->ctl->store, r) < 0)
		st = rv_rooms_store_error(msg, msglen);
	rv_rooms_catalog_unlock();
	if (st == GRPC_STATUS_OK)
		rv_events_room_changed(ctx->ctl, r); /* the data plane gets them */
	if (st == GRPC_STATUS_OK)
		st = rules_reply(r, q->room, resp, msg, msglen);
	free_rules(v, n);
	members_free(&ms);
	if (r)
		roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st;
}

static bool same_rules(AclRule *const *a, size_t na, AclRule *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i]->deny != b[i]->deny || a[i]->proto != b[i]->proto ||
		    a[i]->src != b[i]->src || a[i]->src_prefix != b[i]->src_prefix ||
		    a[i]->dst != b[i]->dst || a[i]->dst_prefix != b[i]->dst_prefix ||
		    a[i]->port_lo != b[i]->port_lo || a[i]->port_hi != b[i]->port_hi)
			return false;
	return true;
}

void rv_room_rules_refresh(struct rv_control *ctl, uint64_t room)
{
	Roomvpn__V1__RoomRecord *r = NULL;
	struct members ms = {0};
	AclRule **v = NULL;
	size_t n = 0;
	char p[RV_KEY_MAX], msg[256] = "";
	bool changed = false;

	rv_rooms_catalog_lock();
	int rc = rv_rooms_load_id(ctl->store, room, &r);
	if (rc != 0 || !r->rules_text || !r->rules_text[0])
		goto out; /* gone, or no rules: nothing names a member */
	if (rv_store_scan_prefix(ctl->store, p, rv_key_member_prefix(p, room), NULL, 0, member_cb,
				 &ms) < 0 ||
	    ms.oom) {
		snprintf(msg, sizeof(msg), "%s", ms.oom ? "out of memory" : "store error");
		goto out;
	}
	if (rv_room_rules_compile(r->rules_text, ms.v, ms.n, false, &v, &n, msg, sizeof(msg)) < 0)
		goto out;
	if (same_rules(v, n, r->acl_rules, r->n_acl_rules)) {
		msg[0] = 0;
		goto out;
	}
	free_rules(r->acl_rules, r->n_acl_rules);
	r->acl_rules = v;
	r->n_acl_rules = n;
	v = NULL;
	if (put_room(ctl->store, r) < 0)
		snprintf(msg, sizeof(msg), "store error");
	else
		changed = true;
out:
	rv_rooms_catalog_unlock();
	if (msg[0]) /* the rules in force stay the last ones compiled */
		rv_log(RV_LOG_WARN,
		       "rooms: recompiling the rules of room %" PRIu64 " after a "
		       "membership change: %s; the previous rules stay",
		       room, msg);
	if (changed)
		rv_events_room_rules_changed(ctl, r);
	free_rules(v, n);
	members_free(&ms);
	if (r)
		roomvpn__v1__room_record__free_unpacked(r, NULL);
}

grpc_status_code rv_rooms_get_rules_rpc(struct rv_rpc_ctx *ctx, const ProtobufCMessage *req,
					ProtobufCMessage **resp, char *msg, size_t msglen)
{
	const Roomvpn__V1__GetRoomRulesRequest *q = (const void *)req;
	Roomvpn__V1__RoomRecord *r = NULL;
	grpc_status_code st = rv_rooms_find(ctx, q->room, &r, msg, msglen);
	if (st == GRPC_STATUS_OK)
		st = rules_reply(r, q->room, resp, msg, msglen);
	if (r)
		roomvpn__v1__room_record__free_unpacked(r, NULL);
	return st;
}
