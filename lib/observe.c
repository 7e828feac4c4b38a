// SPDX-License-Identifier: Apache-2.0
/* Where the agent's flow-event socket is, derived from its --bpffs the same way on both sides. */
#include <errno.h>
#include <stdio.h>

#include "lib/observe.h"

int observe_socket_path(const char *bpffs, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/", OBSERVE_SOCKET_DIR);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	for (const char *c = bpffs; *c; c++) {
		if ((size_t)n + 1 >= len)
			return -ENAMETOOLONG;
		buf[n++] = *c == '/' ? '_' : *c;
	}
	if ((size_t)snprintf(buf + n, len - (size_t)n, ".sock") >= len - (size_t)n)
		return -ENAMETOOLONG;
	return 0;
}
