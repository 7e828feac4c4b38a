/* SPDX-License-Identifier: Apache-2.0 */
/* sluice-cni output: ADD result, VERSION reply and the spec's error object, shaped per version. */
#ifndef SLUICE_CNI_RESULT_H
#define SLUICE_CNI_RESULT_H

#include <stdio.h>
#include <netinet/in.h>

#include "cni/cni.h"

struct cni_add_result {
	char host_ifname[16];
	unsigned char host_mac[6];
	char pod_ifname[16];
	unsigned char pod_mac[6];
	const char *netns;
	unsigned int mtu;
	struct in_addr address; /* /32 on the pod interface */
	struct in_addr gateway;
};

/* Each returns 0 or -errno; the JSON is one line followed by a newline. */
int cni_print_result(FILE *out, const struct cni_config *cfg, const struct cni_add_result *r);
int cni_print_version(FILE *out, const char *requested_version);
/* version: the config's cniVersion when it was understood, else NULL (latest is used). */
int cni_print_error(FILE *out, const char *version, const struct cni_error *err);

#endif
