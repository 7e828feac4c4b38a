// SPDX-License-Identifier: Apache-2.0
/* The lab's report: the matrix observed next to the expected one, as text or JSON. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <json-c/json.h>

#include "lib/ip_proto.h"
#include "loader/desired/state.h"
#include "loader/lab/lab_internal.h"

/* ---- reporting --------------------------------------------------------------------------- */

size_t lab_report_json(const struct lab *lab)
{
	size_t i, mismatches = 0, disagreements = 0;

	printf("{");
	if (lab->n_nodes > 1) { /* where each pod ran */
		printf("\"pods\": [");
		for (i = 0; i < lab->n_pods; i++) {
			char ip[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &lab->pods[i].ip, ip, sizeof(ip));
			printf("%s\n  {\"pod\": \"%s\", \"node\": \"%s\", \"ip\": \"%s\"}",
			       i ? "," : "", lab->pods[i].id, lab->nodes[lab->pods[i].node].name,
			       ip);
		}
		printf("\n], ");
	}
	printf("\"probes\": [");
	for (i = 0; i < lab->n_probes; i++) {
		const struct lab_probe *probe = &lab->probes[i];
		bool observed = lab->observed[i] == 1;

		mismatches += observed != probe->expected;
		disagreements += !lab_explain_agrees(lab, i);
		printf(
		    "%s\n  {\"from\": \"%s\", \"to\": \"%s\", \"port\": %u, \"protocol\": \"%s\", "
		    "\"observed\": \"%s\", \"expected\": \"%s\", \"explained\": \"%s\"",
		    i ? "," : "", lab->pods[probe->from].id, lab->pods[probe->to].id, probe->port,
		    ip_proto_name(probe->proto), observed ? "allowed" : "denied",
		    probe->expected ? "allowed" : "denied",
		    !lab->explained || !lab->explained[i] ? "unknown"
		    : lab->explained[i] == 1		  ? "allowed"
							  : "denied");
		if (lab_explain_denial(lab, i)) {
			struct json_object *reason =
			    json_object_new_string(lab_explain_denial(lab, i));

			/* Names are DNS labels, but the reason is a sentence: let json-c quote it.
			 */
			printf(", \"reason\": %s", json_object_to_json_string(reason));
			json_object_put(reason);
		}
		printf("}");
	}
	printf("\n], \"mismatches\": %zu, \"explain_disagreements\": %zu}\n", mismatches,
	       disagreements);
	fflush(stdout);
	return mismatches + disagreements;
}

/* One table per (port, protocol): rows from, columns to; observed | expected side by side. */
size_t lab_report_text(const struct lab *lab)
{
	size_t i, j, k, s, mismatches = 0, disagreements = 0, width = 3;
	char cell[4];

	for (i = 0; i < lab->n_pods; i++)
		width = strlen(lab->pods[i].id) > width ? strlen(lab->pods[i].id) : width;
	if (lab->n_nodes > 1) {
		printf("\npods on %zu nodes\n", lab->n_nodes);
		for (i = 0; i < lab->n_pods; i++) {
			char ip[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &lab->pods[i].ip, ip, sizeof(ip));
			printf("%2zu %-*s  %-8s %s\n", i + 1, (int)width, lab->pods[i].id,
			       lab->nodes[lab->pods[i].node].name, ip);
		}
	}
	for (i = 0; i < lab->n_probes; i++) {
		const struct lab_probe *first = &lab->probes[i];
		bool is_new = true;

		for (j = 0; j < i && is_new; j++)
			is_new = lab->probes[j].port != first->port ||
				 lab->probes[j].proto != first->proto;
		if (!is_new)
			continue;
		printf("\n%s/%u   rows: from (source pod), columns: to (destination pod)\n"
		       "observed (. allowed, X denied, - no such port; ! mismatch, ? explain "
		       "disagrees)  |  expected\n",
		       ip_proto_name(first->proto), first->port);
		for (k = 0; k < 2; k++) {
			printf("%*s", k ? 1 : (int)width + 3, "");
			for (j = 0; j < lab->n_pods; j++)
				printf(" %2zu", j + 1);
			printf(k ? "\n" : "  |");
		}
		for (s = 0; s < lab->n_pods; s++) {
			char row[2][LAB_MAX_PODS * 3 + 1];

			for (k = 0; k < 2; k++) {
				for (j = 0; j < lab->n_pods; j++)
					memcpy(row[k] + j * 3, "  -", 3);
				row[k][lab->n_pods * 3] = '\0';
			}
			for (j = i; j < lab->n_probes; j++) {
				const struct lab_probe *probe = &lab->probes[j];
				bool observed = lab->observed[j] == 1;

				if (probe->from != s || probe->port != first->port ||
				    probe->proto != first->proto)
					continue;
				snprintf(cell, sizeof(cell), " %c%c",
					 observed != probe->expected   ? '!'
					 : !lab_explain_agrees(lab, j) ? '?'
								       : ' ',
					 observed ? '.' : 'X');
				memcpy(row[0] + probe->to * 3, cell, 3);
				snprintf(cell, sizeof(cell), "  %c", probe->expected ? '.' : 'X');
				memcpy(row[1] + probe->to * 3, cell, 3);
			}
			printf("%2zu %-*s%s  | %s\n", s + 1, (int)width, lab->pods[s].id, row[0],
			       row[1]);
		}
		for (j = i; lab->options->is_explain && j < lab->n_probes; j++) {
			const struct lab_probe *probe = &lab->probes[j];

			if (probe->port != first->port || probe->proto != first->proto ||
			    lab->observed[j] == 1)
				continue;
			printf("  %zu -> %zu denied: %s\n", probe->from + 1, probe->to + 1,
			       lab_explain_denial(lab, j) ? lab_explain_denial(lab, j)
							  : "(sluice explain says allowed)");
		}
	}
	for (i = 0; i < lab->n_probes; i++) {
		const struct lab_probe *probe = &lab->probes[i];
		bool observed = lab->observed[i] == 1;

		if (observed == probe->expected)
			continue;
		if (!mismatches++)
			printf("\nmismatches:\n");
		printf("  %s -> %s %s/%u: observed %s, expected %s\n", lab->pods[probe->from].id,
		       lab->pods[probe->to].id, ip_proto_name(probe->proto), probe->port,
		       observed ? "allowed" : "denied", probe->expected ? "allowed" : "denied");
	}
	for (i = 0; i < lab->n_probes; i++) {
		const struct lab_probe *probe = &lab->probes[i];

		if (lab_explain_agrees(lab, i))
			continue;
		if (!disagreements++)
			printf("\nsluice explain disagrees with the traffic:\n");
		printf("  %s -> %s %s/%u: observed %s, explain says %s\n",
		       lab->pods[probe->from].id, lab->pods[probe->to].id,
		       ip_proto_name(probe->proto), probe->port,
		       lab->observed[i] == 1 ? "allowed" : "denied",
		       !lab->explained || !lab->explained[i] ? "nothing"
		       : lab->explained[i] == 1		     ? "allowed"
							     : "denied");
	}
	printf("\n%zu probes, %zu mismatches, sluice explain agreeing on %zu%s\n", lab->n_probes,
	       mismatches, lab->n_probes - disagreements,
	       lab->has_sctp ? "" : " (SCTP ports not probed: no SCTP in this kernel)");
	fflush(stdout);
	return mismatches + disagreements;
}
