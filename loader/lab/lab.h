/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice lab [--nodes N] FILE`: the network-policy lab. Builds one node (or N on a fabric) and
 * the file's pods as network namespaces (through sluice-cni), runs an agent per node on the
 * file's objects, probes every pod pair
 * on every declared port with real connections and compares what got through with the
 * reference evaluator (loader/desired/netpol_eval.c).
 */
#ifndef SLUICE_LAB_H
#define SLUICE_LAB_H

#include <stdbool.h>
#include <stddef.h>

#include "loader/k8s/objects.h"

#define LAB_MAX_NODES 8 /* --nodes */

struct lab_options {
	const char *file;
	bool is_json;		 /* -o json */
	bool is_watch;		 /* --watch: probe again whenever FILE changes */
	const char *cni;	 /* sluice-cni binary; default: next to this binary */
	const char *agent;	 /* sluice binary for the agent; default: this binary */
	unsigned int timeout_ms; /* per probe */
	unsigned int n_nodes;	 /* --nodes: pods spread over this many nodes (0: one) */
	bool is_explain;	 /* --explain: each denied cell's reason under its matrix */
	const char *html;	 /* -o html FILE: the matrices also as one HTML page, each round */
};

/* Runs the lab; returns 0 when every probe matched, 1 on a mismatch, -errno on failure. */
int lab_run(const struct lab_options *options);

/*
 * Decode every object of a YAML stream (other kinds skipped). Returns 0 with out and n_out set,
 * or -EINVAL after adding every problem to errors (nothing returned), or -ENOMEM.
 */
int lab_parse(const char *text, size_t size, const char *source, struct k8s_errors *errors,
	      struct k8s_object ***out, size_t *n_out);
void lab_objects_free(struct k8s_object **objects, size_t n);

#endif
