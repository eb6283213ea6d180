/* The etcd store backend (store_backend.h) over the etcd v3 client
 * (etcd/etcd.h). Keys and values are the same bytes as on RocksDB.
 *   get       Range of one key (linearizable: answered through the leader)
 *   get_many  one Txn without compares whose operations are Ranges of one
 *             key each: every key at one revision, one round trip
 *   put, del  Put, DeleteRange of one key
 *   scan      Range [key, prefix end) in pages of SCAN_PAGE with a moving
 *             start key, every page at the revision of the first, so a
 *             scan sees one snapshot and no answer is ever huge
 *   count     Range with count_only
 *   commit    one Txn: expectations as compares, writes as the success
 *             branch; not succeeded means RV_STORE_CONFLICT
 *   sync      nothing: etcd acknowledges a write once a quorum has it in
 *             its fsynced WAL, so every write is durable when it returns
 * No checkpoint (etcdctl snapshot save). docs/etcd.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/etcd.h"
#include "store_backend.h"

#define SCAN_PAGE 256

struct etcd_store {
	struct rv_etcd *e;
};

static void log_err(const char *err)
{
	fprintf(stderr, "roomvpn-control: etcd: %s\n", err);
}

/* One call; logs a failure. Returns the response or NULL. */
static ProtobufCMessage *call(struct etcd_store *s, const char *path, const ProtobufCMessage *req,
			      const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *resp;
	char err[512];
	if (rv_etcd_call(s->e, path, req, desc, &resp, err, sizeof(err)) != GRPC_STATUS_OK) {
		log_err(err);
		return NULL;
	}
	return resp;
}

static ProtobufCBinaryData bin(const void *p, size_t n)
{
	return (ProtobufCBinaryData){n, (uint8_t *)p};
}

int rv_store_etcd_open(const char *endpoints, const struct rv_store_etcd_tls *tls, void **impl,
		       char *err, size_t errlen)
{
	struct etcd_store *s = calloc(1, sizeof(*s));
	struct rv_etcd_config cfg = {
	    .endpoints = endpoints, .ca = tls->ca, .cert = tls->cert, .key = tls->key};

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (rv_etcd_open(&cfg, &s->e, err, errlen) < 0) {
		free(s);
		return -1;
	}
	*impl = s;
	return 0;
}

static void etcd_close(void *impl)
{
	struct etcd_store *s = impl;
	rv_etcd_close(s->e);
	free(s);
}

static int etcd_get(void *impl, const void *key, size_t klen, void **val, size_t *vlen)
{
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	req.key = bin(key, klen);
	ProtobufCMessage *m = call(impl, "/etcdserverpb.KV/Range", &req.base,
				   &etcdserverpb__range_response__descriptor);
	if (!m)
		return -1;
	Etcdserverpb__RangeResponse *r = (Etcdserverpb__RangeResponse *)m;
	int rc = 1;
	if (r->n_kvs > 0) {
		size_t n = r->kvs[0]->value.len;
		void *copy = malloc(n ? n : 1);
		rc = copy ? 0 : -1;
		if (copy) {
			if (n)
				memcpy(copy, r->kvs[0]->value.data, n);
			*val = copy;
			*vlen = n;
		}
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

/* A copy of the first value of @r into @out (found or not). 0 or -1. */
static int take_value(const Etcdserverpb__RangeResponse *r, struct rv_store_read *out)
{
	if (!r || r->n_kvs == 0)
		return 0;
	size_t n = r->kvs[0]->value.len;
	void *copy = malloc(n ? n : 1);
	if (!copy)
		return -1;
	if (n)
		memcpy(copy, r->kvs[0]->value.data, n);
	out->found = true;
	out->val = copy;
	out->vlen = n;
	return 0;
}

static int etcd_get_many(void *impl, struct rv_store_read *rd, size_t n)
{
	Etcdserverpb__RangeRequest *ranges = calloc(n, sizeof(*ranges));
	Etcdserverpb__RequestOp *ops = calloc(n, sizeof(*ops));
	Etcdserverpb__RequestOp **opsp = calloc(n, sizeof(*opsp));
	Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
	int rc = -1;

	if (!ranges || !ops || !opsp)
		goto out;
	for (size_t i = 0; i < n; i++) {
		etcdserverpb__range_request__init(&ranges[i]);
		ranges[i].key = bin(rd[i].key, rd[i].klen);
		etcdserverpb__request_op__init(&ops[i]);
		ops[i].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
		ops[i].request_range = &ranges[i];
		opsp[i] = &ops[i];
	}
	txn.n_success = n;
	txn.success = opsp;
	ProtobufCMessage *m =
	    call(impl, "/etcdserverpb.KV/Txn", &txn.base, &etcdserverpb__txn_response__descriptor);
	if (!m)
		goto out;
	Etcdserverpb__TxnResponse *t = (Etcdserverpb__TxnResponse *)m;
	rc = t->succeeded && t->n_responses == n ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const Etcdserverpb__ResponseOp *o = t->responses[i];
		if (o->response_case != ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE ||
		    take_value(o->response_range, &rd[i]) < 0)
			rc = -1;
	}
	if (rc < 0) {
		log_err("a read transaction's answer does not match its ranges");
		rv_store_reads_free(rd, n);
	}
	protobuf_c_message_free_unpacked(m, NULL);
out:
	free(ranges);
	free(ops);
	free(opsp);
	return rc;
}

static int etcd_put(void *impl, const void *key, size_t klen, const void *val, size_t vlen,
		    bool sync)
{
	Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
	(void)sync; /* always durable: see the top of the file */
	req.key = bin(key, klen);
	req.value = bin(val, vlen);
	ProtobufCMessage *m =
	    call(impl, "/etcdserverpb.KV/Put", &req.base, &etcdserverpb__put_response__descriptor);
	if (!m)
		return -1;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

static int etcd_delete(void *impl, const void *key, size_t klen, bool sync)
{
	Etcdserverpb__DeleteRangeRequest req = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	(void)sync;
	req.key = bin(key, klen);
	ProtobufCMessage *m = call(impl, "/etcdserverpb.KV/DeleteRange", &req.base,
				   &etcdserverpb__delete_range_response__descriptor);
	if (!m)
		return -1;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

static int etcd_sync(void *impl)
{
	(void)impl;
	return 0;
}

static int bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* *start = @k followed by a zero byte: the first key after @k. */
static int key_after(uint8_t **start, size_t *slen, const void *k, size_t kl)
{
	uint8_t *n = realloc(*start, kl + 1);
	if (!n)
		return -1;
	memcpy(n, k, kl);
	n[kl] = 0;
	*start = n;
	*slen = kl + 1;
	return 0;
}

static int etcd_scan(void *impl, const void *prefix, size_t plen, const void *start_after,
		     size_t salen, rv_store_scan_cb cb, void *arg)
{
	uint8_t *end = malloc(plen ? plen : 1), *start = NULL;
	size_t elen, slen = 0;
	int64_t rev = 0;
	int rc = -1;

	if (!end)
		return -1;
	elen = rv_etcd_prefix_end(prefix, plen, end);
	/* Start at the later of the prefix and just after start_after. */
	if (start_after && bytes_cmp(start_after, salen, prefix, plen) >= 0) {
		if (key_after(&start, &slen, start_after, salen) < 0)
			goto out;
	} else if (key_after(&start, &slen, prefix, plen) < 0) {
		goto out;
	} else if (plen > 0) {
		slen--; /* the prefix itself, not the key after it */
	}
	for (;;) {
		Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
		req.key = bin(start, slen);
		req.range_end = bin(end, elen);
		req.limit = SCAN_PAGE;
		req.revision = rev;
		ProtobufCMessage *m = call(impl, "/etcdserverpb.KV/Range", &req.base,
					   &etcdserverpb__range_response__descriptor);
		if (!m)
			goto out;
		Etcdserverpb__RangeResponse *r = (Etcdserverpb__RangeResponse *)m;
		bool stop = false;
		if (!rev && r->header)
			rev = r->header->revision;
		for (size_t i = 0; i < r->n_kvs && !stop; i++)
			stop = cb(arg, r->kvs[i]->key.data, r->kvs[i]->key.len,
				  r->kvs[i]->value.data, r->kvs[i]->value.len) != 0;
		bool more = r->more && r->n_kvs > 0 && !stop;
		int krc = more ? key_after(&start, &slen, r->kvs[r->n_kvs - 1]->key.data,
					   r->kvs[r->n_kvs - 1]->key.len)
			       : 0;
		protobuf_c_message_free_unpacked(m, NULL);
		if (krc < 0)
			goto out;
		if (!more)
			break;
	}
	rc = 0;
out:
	free(start);
	free(end);
	return rc;
}

static int etcd_count(void *impl, const void *prefix, size_t plen, uint64_t *n)
{
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	uint8_t *end = malloc(plen ? plen : 1);
	static const uint8_t zero = 0;

	if (!end)
		return -1;
	req.key = plen ? bin(prefix, plen) : bin(&zero, 1);
	req.range_end = bin(end, rv_etcd_prefix_end(prefix, plen, end));
	req.count_only = true;
	ProtobufCMessage *m = call(impl, "/etcdserverpb.KV/Range", &req.base,
				   &etcdserverpb__range_response__descriptor);
	free(end);
	if (!m)
		return -1;
	*n = (uint64_t)((Etcdserverpb__RangeResponse *)m)->count;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

/* Is @op overridden by a later write to the same key in @b? etcd refuses a
 * Txn that writes a key twice, and the batch contract is "the last wins". */
static bool overridden(const struct rv_store_batch *b, size_t i)
{
	const struct rv_store_op *op = &b->ops[i];
	for (size_t j = i + 1; j < b->n; j++)
		if (b->ops[j].kind != RV_STORE_OP_EXPECT && b->ops[j].klen == op->klen &&
		    !memcmp(b->ops[j].key, op->key, op->klen))
			return true;
	return false;
}

static int etcd_commit(void *impl, const struct rv_store_batch *b, bool sync)
{
	size_t n = b->n;
	Etcdserverpb__Compare *cmp = calloc(n ? n : 1, sizeof(*cmp));
	Etcdserverpb__Compare **cmpp = calloc(n ? n : 1, sizeof(*cmpp));
	Etcdserverpb__RequestOp *ops = calloc(n ? n : 1, sizeof(*ops));
	Etcdserverpb__RequestOp **opsp = calloc(n ? n : 1, sizeof(*opsp));
	Etcdserverpb__PutRequest *puts = calloc(n ? n : 1, sizeof(*puts));
	Etcdserverpb__DeleteRangeRequest *dels = calloc(n ? n : 1, sizeof(*dels));
	Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
	int rc = -1;
	(void)sync;

	if (!cmp || !cmpp || !ops || !opsp || !puts || !dels)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct rv_store_op *op = &b->ops[i];
		if (op->kind == RV_STORE_OP_EXPECT) {
			Etcdserverpb__Compare *c = &cmp[txn.n_compare];
			etcdserverpb__compare__init(c);
			c->key = bin(op->key, op->klen);
			c->result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
			if (op->val) {
				c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE;
				c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
				c->value = bin(op->val, op->vlen);
			} else { /* absent: version 0 */
				c->target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION;
				c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
				c->version = 0;
			}
			cmpp[txn.n_compare++] = c;
			continue;
		}
		if (overridden(b, i))
			continue;
		Etcdserverpb__RequestOp *r = &ops[txn.n_success];
		etcdserverpb__request_op__init(r);
		if (op->kind == RV_STORE_OP_PUT) {
			etcdserverpb__put_request__init(&puts[i]);
			puts[i].key = bin(op->key, op->klen);
			puts[i].value = bin(op->val, op->vlen);
			r->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
			r->request_put = &puts[i];
		} else {
			etcdserverpb__delete_range_request__init(&dels[i]);
			dels[i].key = bin(op->key, op->klen);
			r->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
			r->request_delete_range = &dels[i];
		}
		opsp[txn.n_success++] = r;
	}
	if (txn.n_success > RV_STORE_BATCH_MAX || txn.n_compare > RV_STORE_BATCH_MAX) {
		char err[256];
		snprintf(err, sizeof(err),
			 "batch of %zu writes and %zu expectations refused: an etcd transaction "
			 "carries at most %d of each (--max-txn-ops; docs/etcd.md)",
			 txn.n_success, txn.n_compare, RV_STORE_BATCH_MAX);
		log_err(err);
		goto out;
	}
	txn.compare = cmpp;
	txn.success = opsp;
	ProtobufCMessage *m =
	    call(impl, "/etcdserverpb.KV/Txn", &txn.base, &etcdserverpb__txn_response__descriptor);
	if (m) {
		rc = ((Etcdserverpb__TxnResponse *)m)->succeeded ? 0 : RV_STORE_CONFLICT;
		protobuf_c_message_free_unpacked(m, NULL);
	}
out:
	free(cmp);
	free(cmpp);
	free(ops);
	free(opsp);
	free(puts);
	free(dels);
	return rc;
}

const struct rv_store_backend rv_store_etcd_backend = {
    .name = "etcd",
    .shared = true,
    .get = etcd_get,
    .get_many = etcd_get_many,
    .put = etcd_put,
    .del = etcd_delete,
    .sync = etcd_sync,
    .scan = etcd_scan,
    .count = etcd_count,
    .commit = etcd_commit,
    .checkpoint = NULL,
    .close = etcd_close,
};
