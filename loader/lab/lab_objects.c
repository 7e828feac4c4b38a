// SPDX-License-Identifier: Apache-2.0
/* The lab's objects: the file decoded, and the manifests written for the agent. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/ip_proto.h"
#include "lib/log.h"
#include "loader/desired/state.h"
#include "loader/k8s/yaml_tree.h"
#include "loader/lab/lab_internal.h"

/* ---- objects ----------------------------------------------------------------------------- */

void lab_objects_free(struct k8s_object **objects, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		k8s_object_put(objects[i]);
	free(objects);
}

int lab_parse(const char *text, size_t size, const char *source, struct k8s_errors *errors,
	      struct k8s_object ***out, size_t *n_out)
{
	struct k8s_object **objects = NULL;
	struct yaml_tree tree;
	char message[YAML_TREE_ERROR_LEN];
	unsigned int line = 0;
	size_t i, n = 0;
	int err, bad = 0;

	*out = NULL;
	*n_out = 0;
	yaml_tree_init(&tree);
	err = yaml_tree_parse(&tree, text, size, &line, message, sizeof(message));
	if (err == -ENOMEM)
		return err;
	if (err) {
		k8s_errors_add(errors, "%s:%u: %s", source, line, message);
		return -EINVAL;
	}
	objects = calloc(tree.n_documents + 1, sizeof(*objects));
	if (!objects) {
		yaml_tree_free(&tree);
		return -ENOMEM;
	}
	for (i = 0; i < tree.n_documents; i++) {
		struct k8s_object *object;
		enum k8s_kind kind;

		if (!tree.documents[i])
			continue;
		err = k8s_object_kind(tree.documents[i], source, errors, &kind);
		if (err == -ENOENT)
			continue;
		if (err) {
			bad++;
			continue;
		}
		err = k8s_object_decode(tree.documents[i], kind, source, errors, &object);
		if (err == -ENOMEM) {
			lab_objects_free(objects, n);
			yaml_tree_free(&tree);
			return err;
		}
		if (err) {
			k8s_object_put(object);
			bad++;
			continue;
		}
		objects[n++] = object;
	}
	yaml_tree_free(&tree);
	if (bad) {
		lab_objects_free(objects, n);
		return -EINVAL;
	}
	*out = objects;
	*n_out = n;
	return 0;
}

/* Read and decode FILE; every problem printed. */
int lab_load(const char *file, struct k8s_object ***out, size_t *n_out)
{
	struct k8s_errors errors = {0};
	char *text = NULL;
	size_t size = 0;
	FILE *f = fopen(file, "r");
	int err;

	if (!f) {
		err = -errno;
		log_error("lab %s: %s", file, strerror(errno));
		return err;
	}
	text = malloc(1 << 24);
	if (!text) {
		fclose(f);
		return -ENOMEM;
	}
	size = fread(text, 1, (1 << 24) - 1, f);
	fclose(f);
	err = lab_parse(text, size, file, &errors, out, n_out);
	free(text);
	for (size_t i = 0; i < errors.count; i++)
		log_error("%s", errors.items[i]);
	k8s_errors_free(&errors);
	return err;
}

/* ---- manifests for the agent ------------------------------------------------------------- */

static void lab_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* A document tree in YAML's flow style (JSON with YAML scalars), which the agent reads back. */
static void lab_emit(FILE *f, const struct yaml_tree_node *node)
{
	size_t i;

	if (!node) {
		fputs("null", f);
		return;
	}
	switch (node->type) {
	case YAML_TREE_SCALAR:
		if (node->scalar.kind == YAML_TREE_STRING)
			lab_json_string(f, node->scalar.value);
		else if (node->scalar.kind == YAML_TREE_NULL)
			fputs("null", f);
		else
			fputs(node->scalar.value, f);
		break;
	case YAML_TREE_MAPPING:
		fputc('{', f);
		for (i = 0; i < node->mapping.count; i++) {
			fputs(i ? ", " : "", f);
			lab_json_string(f, node->mapping.pairs[i].key->scalar.value);
			fputs(": ", f);
			lab_emit(f, node->mapping.pairs[i].value);
		}
		fputc('}', f);
		break;
	case YAML_TREE_SEQUENCE:
		fputc('[', f);
		for (i = 0; i < node->sequence.count; i++) {
			fputs(i ? ", " : "", f);
			lab_emit(f, node->sequence.items[i]);
		}
		fputc(']', f);
		break;
	}
}

static void lab_emit_labels(FILE *f, const struct k8s_labels *labels)
{
	size_t i;

	fputc('{', f);
	for (i = 0; i < labels->count; i++) {
		fputs(i ? ", " : "", f);
		lab_json_string(f, labels->items[i].key);
		fputs(": ", f);
		lab_json_string(f, labels->items[i].value);
	}
	fputc('}', f);
}

/* Namespaces, the pods with their addresses, and the policies as written, in one file. */
int lab_write_manifests(struct lab *lab, struct k8s_object *const *objects, size_t n)
{
	char tmp[PATH_MAX + 32], path[PATH_MAX + 32], ip[INET_ADDRSTRLEN];
	size_t i, j;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s/lab.yaml.tmp", lab->dir);
	snprintf(path, sizeof(path), "%s/manifests/lab.yaml", lab->dir);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	for (i = 0; i < n; i++) {
		const struct k8s_object *o = objects[i];

		if (o->kind == K8S_KIND_NAMESPACE) {
			fputs(
			    "---\n{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": "
			    "{\"name\": ",
			    f);
			lab_json_string(f, o->name);
			fputs(", \"labels\": ", f);
			lab_emit_labels(f, &o->labels);
			fputs("}}\n", f);
		} else if (o->kind == K8S_KIND_NETWORK_POLICY && o->raw.n_documents) {
			fputs("---\n", f);
			lab_emit(f, o->raw.documents[0]);
			fputc('\n', f);
		}
	}
	for (i = 0; i < lab->n_pods; i++) {
		const struct lab_pod *pod = &lab->pods[i];
		const struct k8s_pod *p = &pod->object->pod;

		inet_ntop(AF_INET, &pod->ip, ip, sizeof(ip));
		fputs("---\n{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": ",
		      f);
		lab_json_string(f, pod->object->name);
		fputs(", \"namespace\": ", f);
		lab_json_string(f, pod->object->namespace);
		fputs(", \"labels\": ", f);
		lab_emit_labels(f, &pod->object->labels);
		fprintf(f,
			"}, \"spec\": {\"nodeName\": \"%s\", \"containers\": [{\"name\": \"c\", "
			"\"ports\": [",
			lab->nodes[pod->node].name);
		for (j = 0; j < p->n_ports; j++) {
			fprintf(f, "%s{\"containerPort\": %u, \"protocol\": \"%s\"", j ? ", " : "",
				p->ports[j].port, ip_proto_name(p->ports[j].proto));
			if (p->ports[j].name[0])
				fprintf(f, ", \"name\": \"%s\"", p->ports[j].name);
			fputc('}', f);
		}
		fprintf(f,
			"]}]}, \"status\": {\"phase\": \"Running\", \"podIP\": \"%s\", "
			"\"conditions\": [{\"type\": \"Ready\", \"status\": \"True\"}]}}\n",
			ip);
	}
	if (fclose(f))
		return -errno;
	if (rename(tmp, path))
		return -errno;
	return 0;
}

/*
 * Several nodes: a Node object each (InternalIP, spec.podCIDR), written before the agents
 * start, so that every agent knows its own address and block and its peers from the start.
 */
int lab_write_nodes(struct lab *lab)
{
	char tmp[PATH_MAX + 32], path[PATH_MAX + 32];
	size_t i;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s/nodes.yaml.tmp", lab->dir);
	snprintf(path, sizeof(path), "%s/manifests/nodes.yaml", lab->dir);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	for (i = 0; i < lab->n_nodes; i++) {
		const struct lab_node *node = &lab->nodes[i];

		fprintf(
		    f,
		    "---\n{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": "
		    "\"%s\"}, \"spec\": {\"podCIDR\": \"%s\", \"podCIDRs\": [\"%s\"]}, "
		    "\"status\": {\"addresses\": [{\"type\": \"InternalIP\", \"address\": \"%s\"}, "
		    "{\"type\": \"Hostname\", \"address\": \"%s\"}]}}\n",
		    node->name, node->subnet, node->subnet, node->ip, node->name);
	}
	if (fclose(f))
		return -errno;
	if (rename(tmp, path))
		return -errno;
	return 0;
}
