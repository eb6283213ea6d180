/* Protobuf-c messages as JSON through json-c, driven by their descriptors
 * (the scheme: pbjson.h). */
#include "pbjson.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>

static const char *const grpc_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

/* Fields that carry a gRPC status code (shown by name). */
static const struct {
	const char *message, *field;
} status_fields[] = {
    {"roomvpn.v1.AuditRecord", "status"},
};

const char *rv_grpc_status_name(uint32_t code, char *buf, size_t len)
{
	if (code < sizeof(grpc_names) / sizeof(grpc_names[0]))
		return grpc_names[code];
	snprintf(buf, len, "UNKNOWN_%" PRIu32, code);
	return buf;
}

struct json_object *rv_json_u64(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_object_new_string(buf);
}

static struct json_object *i64_string(int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_object_new_string(buf);
}

static struct json_object *bytes_value(const ProtobufCBinaryData *b)
{
	char out[4 * 1024 / 3 + 8];

	if (b->len > 1024)
		return json_object_new_string("");
	EVP_EncodeBlock((unsigned char *)out, b->data, (int)b->len);
	return json_object_new_string(out);
}

static struct json_object *enum_value(const ProtobufCFieldDescriptor *fd, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(fd->descriptor, v);

	return ev ? json_object_new_string(ev->name) : json_object_new_int(v);
}

static bool is_status_field(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *fd)
{
	for (size_t i = 0; i < sizeof(status_fields) / sizeof(status_fields[0]); i++)
		if (!strcmp(d->name, status_fields[i].message) &&
		    !strcmp(fd->name, status_fields[i].field))
			return true;
	return false;
}

/* One value of field @fd (of message @d) stored at @p. */
static struct json_object *value(const ProtobufCMessageDescriptor *d,
				 const ProtobufCFieldDescriptor *fd, const void *p)
{
	char buf[32];

	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_object_new_int(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (is_status_field(d, fd))
			return json_object_new_string(
			    rv_grpc_status_name(*(const uint32_t *)p, buf, sizeof(buf)));
		return json_object_new_int64(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return i64_string(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return rv_json_u64(*(const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_object_new_double((double)*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_object_new_double(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_object_new_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM:
		return enum_value(fd, *(const int *)p);
	case PROTOBUF_C_TYPE_STRING:
		return json_object_new_string(*(char *const *)p ? *(char *const *)p : "");
	case PROTOBUF_C_TYPE_BYTES:
		return bytes_value(p);
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)p
			   ? rv_pbjson_object(*(ProtobufCMessage *const *)p)
			   : NULL;
	}
	return NULL;
}

static size_t value_size(const ProtobufCFieldDescriptor *fd)
{
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	default:
		return 4;
	}
}

/* protoc-c turns a map<K, V> field into a repeated XxxEntry { key = 1;
 * value = 2; }: the proto3 JSON mapping makes it one object. */
static bool map_entry(const ProtobufCFieldDescriptor *fd)
{
	const ProtobufCMessageDescriptor *e = fd->descriptor;
	size_t n;

	if (fd->type != PROTOBUF_C_TYPE_MESSAGE || !e || e->n_fields != 2 ||
	    strcmp(e->fields[0].name, "key") || strcmp(e->fields[1].name, "value") ||
	    e->fields[0].type != PROTOBUF_C_TYPE_STRING)
		return false;
	n = strlen(e->short_name);
	return n > 5 && !strcmp(e->short_name + n - 5, "Entry");
}

static struct json_object *map_object(const ProtobufCFieldDescriptor *fd, size_t n,
				      ProtobufCMessage *const *entries)
{
	const ProtobufCMessageDescriptor *e = fd->descriptor;
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; o && i < n; i++) {
		const uint8_t *eb = (const uint8_t *)entries[i];
		const char *key = *(char *const *)(eb + e->fields[0].offset);
		json_object_object_add(o, key ? key : "",
				       value(e, &e->fields[1], eb + e->fields[1].offset));
	}
	return o;
}

static struct json_object *repeated(const ProtobufCMessageDescriptor *d,
				    const ProtobufCFieldDescriptor *fd, const uint8_t *base)
{
	size_t n = *(const size_t *)(base + fd->quantifier_offset);
	const uint8_t *arr = *(uint8_t *const *)(base + fd->offset);
	struct json_object *a;

	if (map_entry(fd))
		return map_object(fd, n, (ProtobufCMessage *const *)arr);
	a = json_object_new_array_ext((int)n);

	for (size_t i = 0; a && i < n; i++)
		json_object_array_add(a, value(d, fd, arr + i * value_size(fd)));
	return a;
}

struct json_object *rv_pbjson_object(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const uint8_t *base = (const uint8_t *)m;
	struct json_object *o = json_object_new_object();

	for (unsigned i = 0; o && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
			continue;
		json_object_object_add(o, fd->name,
				       fd->label == PROTOBUF_C_LABEL_REPEATED
					   ? repeated(d, fd, base)
					   : value(d, fd, base + fd->offset));
	}
	return o;
}

void rv_json_print(FILE *f, struct json_object *o)
{
	fputs(o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE)
		: "null",
	      f);
	fputc('\n', f);
	json_object_put(o);
}

void rv_pbjson_print(FILE *f, const ProtobufCMessage *m)
{
	rv_json_print(f, rv_pbjson_object(m));
}
