/* The client's JSON, all of it through json-c, in one scheme (the proto3
 * JSON mapping's): field names as in the .proto (snake_case), every field
 * present (defaults included, so scripts need no special cases), 64-bit
 * integers (ids, timestamps, counters of the server) as decimal strings so
 * that jq and JavaScript keep every digit, enums by name, gRPC status codes
 * by name ("PERMISSION_DENIED"), bytes as base64, only the set member of a
 * oneof, map fields as objects. For `roomvpn --json`. */
#ifndef RV_CLIENT_PBJSON_H
#define RV_CLIENT_PBJSON_H

#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>

/* @m as a new JSON object (NULL when out of memory). */
struct json_object *rv_pbjson_object(const ProtobufCMessage *m);
/* Print @m as one line of JSON. */
void rv_pbjson_print(FILE *f, const ProtobufCMessage *m);
/* Print @o as one line of JSON and release it (NULL prints null). */
void rv_json_print(FILE *f, struct json_object *o);
/* A 64-bit id or timestamp as the scheme has it: a decimal string. */
struct json_object *rv_json_u64(uint64_t v);
/* "PERMISSION_DENIED" for 7; "UNKNOWN_<n>" past the known codes. */
const char *rv_grpc_status_name(uint32_t code, char *buf, size_t len);

#endif
