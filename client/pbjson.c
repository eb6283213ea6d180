#include "pbjson.h"

#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

void rv_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void print_bytes(FILE *f, const ProtobufCBinaryData *b)
{
	char out[4 * 1024 / 3 + 8];

	if (b->len > 1024) {
		fputs("\"\"", f);
		return;
	}
	EVP_EncodeBlock((unsigned char *)out, b->data, (int)b->len);
	rv_json_string(f, out);
}

static void print_enum(FILE *f, const ProtobufCFieldDescriptor *fd, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(fd->descriptor, v);

	if (ev)
		rv_json_string(f, ev->name);
	else
		fprintf(f, "%d", v);
}

/* One value of field @fd stored at @p. */
static void print_value(FILE *f, const ProtobufCFieldDescriptor *fd, const void *p)
{
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		fprintf(f, "%" PRId32, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		fprintf(f, "%" PRIu32, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		fprintf(f, "%" PRId64, *(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		fprintf(f, "%" PRIu64, *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		fprintf(f, "%g", (double)*(const float *)p);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		fprintf(f, "%g", *(const double *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		fputs(*(const protobuf_c_boolean *)p ? "true" : "false", f);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		print_enum(f, fd, *(const int *)p);
		break;
	case PROTOBUF_C_TYPE_STRING:
		rv_json_string(f, *(char *const *)p);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		print_bytes(f, p);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		if (*(ProtobufCMessage *const *)p)
			rv_pbjson_print(f, *(ProtobufCMessage *const *)p);
		else
			fputs("null", f);
		break;
	}
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

static void print_repeated(FILE *f, const ProtobufCFieldDescriptor *fd, const uint8_t *base)
{
	size_t n = *(const size_t *)(base + fd->quantifier_offset);
	const uint8_t *arr = *(uint8_t *const *)(base + fd->offset);

	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		print_value(f, fd, arr + i * value_size(fd));
	}
	fputc(']', f);
}

void rv_pbjson_print(FILE *f, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const uint8_t *base = (const uint8_t *)m;
	int first = 1;

	fputc('{', f);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
			continue;
		if (!first)
			fputc(',', f);
		first = 0;
		rv_json_string(f, fd->name);
		fputc(':', f);
		if (fd->label == PROTOBUF_C_LABEL_REPEATED)
			print_repeated(f, fd, base);
		else
			print_value(f, fd, base + fd->offset);
	}
	fputc('}', f);
}
