/* The dispatch table: every RPC the server knows, its handler and scope. */
#ifndef RV_METHODS_H
#define RV_METHODS_H

#include <stddef.h>

#include "rpc.h"

extern const struct rv_method rv_methods[];
extern const size_t rv_methods_count;

#endif
