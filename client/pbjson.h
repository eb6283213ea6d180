/* Any protobuf-c message as JSON, driven by its descriptor: field names as
 * in the .proto, every field present (defaults included, so scripts need
 * no special cases), 64-bit integers as numbers, enums by name, bytes as
 * base64, only the set member of a oneof. For `roomvpn --json`. */
#ifndef RV_CLIENT_PBJSON_H
#define RV_CLIENT_PBJSON_H

#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

void rv_pbjson_print(FILE *f, const ProtobufCMessage *m);
/* A JSON string literal with escapes. */
void rv_json_string(FILE *f, const char *s);

#endif
