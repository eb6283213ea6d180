/* OpenVPN static key files (--secret): "-----BEGIN OpenVPN Static key V1-----",
 * 256 bytes of hex, "-----END OpenVPN Static key V1-----". */
#ifndef RV_STATIC_KEY_H
#define RV_STATIC_KEY_H

#include <stddef.h>

#include "cipher.h"

#define RV_KEY_DIRECTION_NONE -1

/* Parse @text; on error returns -1 and writes a message naming the line. */
int rv_static_key_parse(const char *text, size_t len, struct rv_key_material *out, char *err,
			size_t errlen);
int rv_static_key_load(const char *path, struct rv_key_material *out, char *err, size_t errlen);
/* Write a key file's text into @buf; returns bytes written or -1 if too small. */
int rv_static_key_format(const struct rv_key_material *k, char *buf, size_t cap);
/* Pick the send and receive slices for key-direction @direction
 * (RV_KEY_DIRECTION_NONE, 0 or 1), as OpenVPN does. */
void rv_static_key_dirs(const struct rv_key_material *k, int direction, struct rv_key_dir *tx,
			struct rv_key_dir *rx);

#endif
