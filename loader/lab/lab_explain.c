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

/* A step's reason, as explain words it. */
static const char *lab_explain_step_reason(struct json_object *step)
{
	return json_object_get_string(json_object_object_get(step, "reason"));
}

static char *lab_strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/*
 * The reason of a path: denied, the step that refused it; allowed, the steps that judged it (a
 * rule that admits), else why neither was judged (no isolation).
 */
static char *lab_explain_reason(struct json_object *root, bool is_allowed)
{
	struct json_object *paths = json_object_object_get(root, "paths"), *path, *egress, *ingress;
	const char *why[2];
	size_t n = 0;
	char *out;

	if (!paths || !json_object_array_length(paths))
		return lab_strdup_or_null(lab_explain_step_reason(root));
	path = json_object_array_get_idx(paths, 0);
	egress = json_object_object_get(path, "egress");
	ingress = json_object_object_get(path, "ingress");
	if (!is_allowed)
		return lab_strdup_or_null(lab_explain_step_reason(
		    json_object_get_boolean(json_object_object_get(egress, "allowed")) ? ingress
										       : egress));
	if (json_object_get_boolean(json_object_object_get(egress, "judged")))
		why[n++] = lab_explain_step_reason(egress);
	if (json_object_get_boolean(json_object_object_get(ingress, "judged")))
		why[n++] = lab_explain_step_reason(ingress);
	if (!n) {
		why[n++] = lab_explain_step_reason(egress);
		why[n++] = lab_explain_step_reason(ingress);
		if (why[0] && why[1] && !strcmp(why[0], why[1]))
			n = 1;
	}
	if (n == 1 || !why[1])
		return lab_strdup_or_null(why[0]);
	if (!why[0])
		return strdup(why[1]);
	return asprintf(&out, "%s; %s", why[0], why[1]) < 0 ? NULL : out;
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
		if (lab->explained[p])
			lab->explain_reasons[p] = lab_explain_reason(root, lab->explained[p] == 1);
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

const char *lab_explain_denial(const struct lab *lab, size_t probe)
{
	if (!lab->explained || lab->explained[probe] != 2 || !lab->explain_reasons)
		return NULL;
	return lab->explain_reasons[probe];
}
