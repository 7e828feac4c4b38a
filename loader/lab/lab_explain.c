// SPDX-License-Identifier: Apache-2.0
/*
 * The lab asks `sluice explain` about every probe, in the source pod's node (one `sluice explain
 * -` per node, all its questions on stdin), and holds the answer next to what the probe saw: the
 * explanation must agree with the traffic, and a denied cell gets its reason from it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <json-c/json.h>

#include "lib/log.h"
#include "loader/lab/lab_internal.h"

/* An answer line of `sluice explain -o json` is about 2 KB; room for every probe's. */
#define LAB_EXPLAIN_LINE_MAX 8192

void lab_explain_free(struct lab *lab)
{
	for (size_t i = 0; lab->explain_reasons && i < lab->n_probes; i++)
		free(lab->explain_reasons[i]);
	free(lab->explain_reasons);
	free(lab->explained);
	lab->explain_reasons = NULL;
	lab->explained = NULL;
}

/* The reason of a denied path: the step that refused it, as explain words it. */
static char *lab_explain_reason(struct json_object *root)
{
	struct json_object *paths = json_object_object_get(root, "paths"), *path, *step;

	if (!paths || !json_object_array_length(paths))
		return strdup(json_object_get_string(json_object_object_get(root, "reason")));
	path = json_object_array_get_idx(paths, 0);
	step = json_object_object_get(path, "egress");
	if (json_object_get_boolean(json_object_object_get(step, "allowed")))
		step = json_object_object_get(path, "ingress");
	return strdup(json_object_get_string(json_object_object_get(step, "reason")));
}

/* Ask NODE's datapath about every probe from one of its pods; fills lab->explained. */
static int lab_explain_node(struct lab *lab, size_t node)
{
	const char *self = lab->options->agent ? lab->options->agent : lab->self;
	char *argv[] = {(char *)self, "--bpffs", lab->nodes[node].bpffs, "-o", "json", "explain",
			"-",	      NULL};
	size_t n = 0, *which, i, k = 0, out_len;
	char *input, *out, *line, *save = NULL;
	FILE *f;
	int ret;

	which = calloc(lab->n_probes + 1, sizeof(*which));
	input = NULL;
	f = which ? open_memstream(&input, &out_len) : NULL;
	if (!f) {
		free(which);
		return -ENOMEM;
	}
	for (i = 0; i < lab->n_probes; i++) {
		const struct lab_probe *probe = &lab->probes[i];
		char from[INET_ADDRSTRLEN], to[INET_ADDRSTRLEN];

		if (lab->pods[probe->from].node != node)
			continue;
		inet_ntop(AF_INET, &lab->pods[probe->from].ip, from, sizeof(from));
		inet_ntop(AF_INET, &lab->pods[probe->to].ip, to, sizeof(to));
		fprintf(f, "%s %s %u/%s\n", from, to, probe->port, ip_proto_name(probe->proto));
		which[n++] = i;
	}
	if (fclose(f) || !input) {
		free(which);
		free(input);
		return -ENOMEM;
	}
	out_len = n * LAB_EXPLAIN_LINE_MAX + 1;
	out = n ? malloc(out_len) : NULL;
	if (n && !out) {
		free(which);
		free(input);
		return -ENOMEM;
	}
	ret = n ? lab_exec(argv, NULL, lab->nodes[node].netns, input, out, out_len) : 0;
	for (line = n ? strtok_r(out, "\n", &save) : NULL; line && k < n;
	     line = strtok_r(NULL, "\n", &save)) {
		struct json_object *root = json_tokener_parse(line);
		const char *verdict =
		    json_object_get_string(json_object_object_get(root, "verdict"));
		size_t p = which[k++];

		lab->explained[p] = !verdict ? 0 : !strcmp(verdict, "allowed") ? 1 : 2;
		if (lab->explained[p] == 2)
			lab->explain_reasons[p] = lab_explain_reason(root);
		json_object_put(root);
	}
	if (k < n)
		log_warn("lab: sluice explain on %s answered %zu of %zu questions (exit %d)",
			 lab->nodes[node].name, k, n, ret);
	free(out);
	free(which);
	free(input);
	return 0;
}

int lab_explain_all(struct lab *lab)
{
	int err = 0;

	lab_explain_free(lab);
	lab->explained = calloc(lab->n_probes + 1, sizeof(*lab->explained));
	lab->explain_reasons = calloc(lab->n_probes + 1, sizeof(*lab->explain_reasons));
	if (!lab->explained || !lab->explain_reasons)
		return -ENOMEM;
	for (size_t node = 0; node < lab->n_nodes && !err; node++)
		err = lab_explain_node(lab, node);
	return err;
}

bool lab_explain_agrees(const struct lab *lab, size_t probe)
{
	return lab->explained && lab->explained[probe] == lab->observed[probe];
}
