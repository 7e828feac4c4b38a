/* SPDX-License-Identifier: Apache-2.0 */
/* Read-only commands over the pinned maps of a node: tables for people, JSON for scripts. */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H

#include <stdbool.h>
#include <stdio.h>

enum cli_output { CLI_OUTPUT_TEXT, CLI_OUTPUT_JSON };

struct cli_options {
	const char *bpffs;
	enum cli_output output;
};

/*
 * Each prints its result on stdout, or one line on stderr naming the object at fault.
 * Returns 0 or -errno.
 */
int cli_service_list(const struct cli_options *options);
int cli_ct_list(const struct cli_options *options);
int cli_endpoint_list(const struct cli_options *options);
int cli_status(const struct cli_options *options);
int cli_drops(const struct cli_options *options);
/* This node and the other nodes: addresses, pod CIDRs, why one is refused, how it is routed. */
int cli_node_list(const struct cli_options *options);
/* Pods of this node (or only ENDPOINT: "ns/pod" or its address), their policy and rules. */
int cli_policy_list(const struct cli_options *options, const char *endpoint);
/*
 * What a new flow FROM -> TO (each "ns/pod" of this node or an address; TO also "ns/service")
 * on PORT_PROTO
 * ("80", "53/udp", "icmp") would meet: the Service and its backends, each direction's policy
 * and the rule or default deny that decides it, and the verdict.
 */
int cli_explain(const struct cli_options *options, const char *from, const char *to,
		const char *port_proto);
/*
 * `sluice explain -`: one question "FROM TO PORT[/PROTO]" per line of IN, each answered in
 * turn (-o json: one JSON object per line), the maps opened once (the lab asks hundreds).
 * Returns 0, or -EINVAL when a line could not be answered (said, the others answered).
 */
int cli_explain_batch(const struct cli_options *options, FILE *in);
/* `sluice observe [flags]` (ARGV[0] is "observe"): the agent's flow events (cli_observe.c). */
int cli_observe(const struct cli_options *options, int argc, char **argv);

#endif
