/* The data plane's sessions as roomvpn-dpctl --json sessions lists them:
 * one poll is one ReadStats over the agent socket (about 250 bytes of JSON
 * per session, read whole). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

long rv_dp_sessions(const char *dpctl, const char *sock, uint32_t peer_id, bool *has_peer)
{
	static const char key[] = "\"peer_id\":";
	char cmd[1024], *buf = NULL;
	size_t len = 0, cap = 0, got;
	long n = 0;
	FILE *p;

	*has_peer = false;
	snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' --json sessions 2>/dev/null", dpctl, sock);
	if (!(p = popen(cmd, "r")))
		return -1;
	do {
		if (cap - len < 65536) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 1 << 20);
			if (!nb)
				break;
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len - 1, p);
		len += got;
	} while (got > 0);
	if (pclose(p) != 0 || !buf) {
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	for (char *s = buf; (s = strstr(s, key)); s += sizeof(key) - 1) {
		n++;
		if (strtoul(s + sizeof(key) - 1, NULL, 10) == peer_id)
			*has_peer = true;
	}
	free(buf);
	return n;
}
