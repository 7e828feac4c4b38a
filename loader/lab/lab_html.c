// SPDX-License-Identifier: Apache-2.0
/*
 * The lab's report as one self-contained HTML page (`sluice lab FILE -o html OUT`): the text
 * report's matrices, each cell's verdicts and explain's reason on hover, inline CSS, no script and
 * no external resource, written by temporary file and rename. It reads the report's data (probes,
 * observed, explained) and derives no verdict of its own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "lib/file_atomic.h"
#include "lib/ip_proto.h"
#include "lib/log.h"
#include "loader/lab/lab_internal.h"

/* Inline, so the page opens offline; classes carry the meaning, colour only repeats it. */
static const char lab_html_style[] =
    "body{font-family:sans-serif;margin:1.5em;color:#111;background:#fff}"
    "table{border-collapse:collapse;margin:.5em 0 1em}"
    "caption{text-align:left;font-weight:bold;padding:.3em 0}"
    "th,td{border:1px solid #999;padding:.2em .5em}"
    "td.cell{text-align:center;cursor:help;min-width:4.5em}"
    "td.allowed{background:#e2f3df}"
    "td.denied{background:#f7dada}"
    "td.none{color:#777;background:#f4f4f4;cursor:default}"
    "td.mismatch{outline:3px solid #000;outline-offset:-3px;font-weight:bold}"
    "td.disagree{text-decoration:underline dotted}"
    ".mark{font-weight:bold;margin-right:.2em}"
    "small{display:block;font-size:.75em}"
    ".bad{font-weight:bold}"
    "code{font-size:.9em}";

/* Text and attribute values alike: every string of the user's file passes through here. */
static void lab_html_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		case '\n':
			fputs("&#10;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static const char *lab_html_verdict(uint8_t state)
{
	return state == 1 ? "allowed" : state == 2 ? "denied" : "unknown";
}

/* "shop/web (node lab-1, 10.244.1.2)" */
static void lab_html_pod(FILE *f, const struct lab *lab, size_t pod)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &lab->pods[pod].ip, ip, sizeof(ip));
	lab_html_text(f, lab->pods[pod].id);
	fprintf(f, " (node ");
	lab_html_text(f, lab->nodes[lab->pods[pod].node].name);
	fprintf(f, ", %s)", ip);
}

static void lab_html_pods(FILE *f, const struct lab *lab)
{
	fprintf(f,
		"<table class=\"pods\"><caption>pods (%zu on %zu node%s)</caption>\n"
		"<tr><th scope=\"col\">#</th><th scope=\"col\">pod</th>"
		"<th scope=\"col\">node</th><th scope=\"col\">IP</th>"
		"<th scope=\"col\">labels</th></tr>\n",
		lab->n_pods, lab->n_nodes, lab->n_nodes == 1 ? "" : "s");
	for (size_t i = 0; i < lab->n_pods; i++) {
		const struct k8s_labels *labels = &lab->pods[i].object->labels;
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &lab->pods[i].ip, ip, sizeof(ip));
		fprintf(f, "<tr><td>%zu</td><td>", i + 1);
		lab_html_text(f, lab->pods[i].id);
		fprintf(f, "</td><td>");
		lab_html_text(f, lab->nodes[lab->pods[i].node].name);
		fprintf(f, "</td><td>%s</td><td>", ip);
		for (size_t j = 0; j < labels->count; j++) {
			fprintf(f, "%s<code>", j ? " " : "");
			lab_html_text(f, labels->items[j].key);
			fputc('=', f);
			lab_html_text(f, labels->items[j].value);
			fprintf(f, "</code>");
		}
		fprintf(f, "</td></tr>\n");
	}
	fprintf(f, "</table>\n");
}

/* One probe's cell: the observed verdict, marked when it differs from the expected one. */
static void lab_html_cell(FILE *f, const struct lab *lab, size_t i)
{
	const struct lab_probe *probe = &lab->probes[i];
	const char *observed = lab->observed[i] == 1 ? "allowed" : "denied"; /* as the text */
	const char *expected = probe->expected ? "allowed" : "denied";
	const char *explained = lab_html_verdict(lab->explained ? lab->explained[i] : 0);
	const char *reason = lab->explain_reasons ? lab->explain_reasons[i] : NULL;
	bool is_mismatch = (lab->observed[i] == 1) != probe->expected;
	bool is_disagreement = !lab_explain_agrees(lab, i);

	fprintf(f, "<td class=\"cell %s%s%s\" data-from=\"", observed,
		is_mismatch ? " mismatch" : "", is_disagreement ? " disagree" : "");
	lab_html_text(f, lab->pods[probe->from].id);
	fprintf(f, "\" data-to=\"");
	lab_html_text(f, lab->pods[probe->to].id);
	fprintf(f,
		"\" data-observed=\"%s\" data-expected=\"%s\" data-explained=\"%s\" data-reason=\"",
		observed, expected, explained);
	lab_html_text(f, reason);
	fprintf(f, "\" title=\"");
	lab_html_pod(f, lab, probe->from);
	fprintf(f, " \xe2\x86\x92 ");
	lab_html_pod(f, lab, probe->to);
	fprintf(f, " %s/%u&#10;observed %s, expected %s%s&#10;sluice explain: %s%s",
		ip_proto_name(probe->proto), probe->port, observed, expected,
		is_mismatch ? " (MISMATCH)" : "", explained, reason ? ": " : "");
	lab_html_text(f, reason);
	fprintf(f, "\">%s%s%s", is_mismatch ? "<span class=\"mark\">!</span>" : "",
		is_disagreement ? "<span class=\"mark\">?</span>" : "", observed);
	if (is_mismatch)
		fprintf(f, "<small>expected %s</small>", expected);
	fprintf(f, "</td>");
}

/* The matrix of the port and protocol of probe FIRST (the first probe of that pair). */
static void lab_html_matrix(FILE *f, const struct lab *lab, size_t first)
{
	const struct lab_probe *head = &lab->probes[first];
	const char *proto = ip_proto_name(head->proto);
	size_t s, d, j, n_denied = 0, cells[LAB_MAX_PODS];

	fprintf(f,
		"<h2 id=\"%s-%u\">%s/%u</h2>\n<table class=\"matrix\" data-protocol=\"%s\" "
		"data-port=\"%u\"><caption>%s/%u: rows are the source pods (from), columns the "
		"destination pods (to)</caption>\n<tr><th scope=\"col\">from \xe2\x86\x93 / to "
		"\xe2\x86\x92</th>",
		proto, head->port, proto, head->port, proto, head->port, proto, head->port);
	for (d = 0; d < lab->n_pods; d++) {
		fprintf(f, "<th scope=\"col\" title=\"");
		lab_html_pod(f, lab, d);
		fprintf(f, "\">%zu ", d + 1);
		lab_html_text(f, lab->pods[d].id);
		fprintf(f, "</th>");
	}
	fprintf(f, "</tr>\n");
	for (s = 0; s < lab->n_pods; s++) {
		fprintf(f, "<tr><th scope=\"row\" title=\"");
		lab_html_pod(f, lab, s);
		fprintf(f, "\">%zu ", s + 1);
		lab_html_text(f, lab->pods[s].id);
		fprintf(f, "</th>");
		/* One pass over the probes per row, as the text report makes it. */
		for (d = 0; d < lab->n_pods; d++)
			cells[d] = SIZE_MAX;
		for (j = first; j < lab->n_probes; j++) {
			const struct lab_probe *probe = &lab->probes[j];

			if (probe->from == s && probe->port == head->port &&
			    probe->proto == head->proto && cells[probe->to] == SIZE_MAX)
				cells[probe->to] = j;
		}
		for (d = 0; d < lab->n_pods; d++) {
			if (cells[d] != SIZE_MAX)
				lab_html_cell(f, lab, cells[d]);
			else
				fprintf(f, "<td class=\"none\" title=\"not probed: no such "
					   "port\">-</td>");
		}
		fprintf(f, "</tr>\n");
	}
	fprintf(f, "</table>\n");
	for (j = first; j < lab->n_probes; j++)
		n_denied += lab->probes[j].port == head->port &&
			    lab->probes[j].proto == head->proto && lab->observed[j] != 1;
	if (!n_denied)
		return;
	/* The same lines as `--explain` under the text matrix, foldable without a script. */
	fprintf(f, "<details><summary>why each denied cell was denied (%zu)</summary><ul>\n",
		n_denied);
	for (j = first; j < lab->n_probes; j++) {
		const struct lab_probe *probe = &lab->probes[j];
		const char *reason = lab_explain_denial(lab, j);

		if (probe->port != head->port || probe->proto != head->proto ||
		    lab->observed[j] == 1)
			continue;
		fprintf(f, "<li>%zu \xe2\x86\x92 %zu (", probe->from + 1, probe->to + 1);
		lab_html_text(f, lab->pods[probe->from].id);
		fprintf(f, " \xe2\x86\x92 ");
		lab_html_text(f, lab->pods[probe->to].id);
		fprintf(f, ") denied: ");
		lab_html_text(f, reason ? reason : "(sluice explain says allowed)");
		fprintf(f, "</li>\n");
	}
	fprintf(f, "</ul></details>\n");
}

/* Where the traffic differs from the expectation (or explain from the traffic), as in the text. */
static void lab_html_differences(FILE *f, const struct lab *lab, bool is_explain)
{
	size_t n = 0;

	for (size_t i = 0; i < lab->n_probes; i++) {
		const struct lab_probe *probe = &lab->probes[i];
		bool observed = lab->observed[i] == 1;

		if (is_explain ? lab_explain_agrees(lab, i) : observed == probe->expected)
			continue;
		if (!n++)
			fprintf(f, "<h2 class=\"bad\">%s</h2>\n<ul>\n",
				is_explain ? "sluice explain disagrees with the traffic"
					   : "mismatches");
		fprintf(f, "<li>");
		lab_html_text(f, lab->pods[probe->from].id);
		fprintf(f, " \xe2\x86\x92 ");
		lab_html_text(f, lab->pods[probe->to].id);
		fprintf(f, " %s/%u: observed %s, %s %s</li>\n", ip_proto_name(probe->proto),
			probe->port, observed ? "allowed" : "denied",
			is_explain ? "explain says" : "expected",
			is_explain	  ? lab_html_verdict(lab->explained ? lab->explained[i] : 0)
			: probe->expected ? "allowed"
					  : "denied");
	}
	if (n)
		fprintf(f, "</ul>\n");
}

int lab_html_write(const struct lab *lab, FILE *f)
{
	size_t i, j, mismatches = 0, disagreements = 0;

	for (i = 0; i < lab->n_probes; i++) {
		mismatches += (lab->observed[i] == 1) != lab->probes[i].expected;
		disagreements += !lab_explain_agrees(lab, i);
	}
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
		   "<title>sluice lab: ");
	lab_html_text(f, lab->options->file);
	fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>sluice lab: <code>",
		lab_html_style);
	lab_html_text(f, lab->options->file);
	fprintf(f,
		"</code></h1>\n<p class=\"summary%s\">%zu probes, %zu mismatches, sluice explain "
		"agreeing on %zu%s</p>\n",
		mismatches + disagreements ? " bad" : "", lab->n_probes, mismatches,
		lab->n_probes - disagreements,
		lab->has_sctp ? "" : " (SCTP ports not probed: no SCTP in this kernel)");
	fprintf(f, "<p>One table per port and protocol: each row is a source pod (from), each "
		   "column a destination pod (to). A cell shows what the connection met "
		   "(<b>allowed</b> or <b>denied</b>); <b>-</b>: the destination has no such port. "
		   "<span class=\"mark\">!</span>marks a cell where the traffic differs from what "
		   "Kubernetes defines (the expected verdict is written under it), "
		   "<span class=\"mark\">?</span>one where <code>sluice explain</code> disagrees "
		   "with the traffic. Hover over a cell for both verdicts and explain's reason: "
		   "the policy rule or default deny that decided it.</p>\n");
	lab_html_pods(f, lab);
	for (i = 0; i < lab->n_probes; i++) {
		bool is_new = true;

		for (j = 0; j < i && is_new; j++)
			is_new = lab->probes[j].port != lab->probes[i].port ||
				 lab->probes[j].proto != lab->probes[i].proto;
		if (is_new)
			lab_html_matrix(f, lab, i);
	}
	lab_html_differences(f, lab, false);
	lab_html_differences(f, lab, true);
	fprintf(f, "</body>\n</html>\n");
	return ferror(f) ? -EIO : 0;
}

/*
 * Split PATH into its directory, opened, and its last component. Returns the directory's fd or
 * -errno; *name points into PATH.
 */
static int lab_html_open_dir(const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int fd;

	*name = slash ? slash + 1 : path;
	if (!**name)
		return -EISDIR;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if (snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Before the lab spends a minute probing: can PATH be written? 0 or -errno, logged. */
int lab_html_check_target(const char *path)
{
	const char *name;
	struct stat st;
	int fd, err = 0;

	fd = lab_html_open_dir(path, &name);
	if (fd < 0)
		err = fd;
	else if (faccessat(fd, ".", W_OK, AT_EACCESS))
		err = -errno;
	else if (!fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) && S_ISDIR(st.st_mode))
		err = -EISDIR;
	else if (strlen(name) + 6 > NAME_MAX) /* the temporary ".NAME.tmp" beside it */
		err = -ENAMETOOLONG;
	if (fd >= 0)
		close(fd);
	if (err)
		log_error("lab: -o html %s: cannot write it: %s", path, strerror(-err));
	return err;
}

int lab_report_html(const struct lab *lab)
{
	const char *path = lab->options->html, *name;
	char *page = NULL;
	size_t len = 0;
	FILE *f;
	int err, fd;

	f = open_memstream(&page, &len);
	if (!f)
		return -ENOMEM;
	err = lab_html_write(lab, f);
	if (fclose(f) && !err)
		err = -ENOMEM;
	fd = err ? err : lab_html_open_dir(path, &name);
	if (fd < 0)
		err = fd;
	else
		err = file_write_atomic(fd, name, page, len, 0644, false);
	if (fd >= 0)
		close(fd);
	free(page);
	if (err)
		log_error("lab: -o html %s: cannot write it: %s", path, strerror(-err));
	else if (!lab->options->is_json)
		fprintf(stderr, "lab: wrote %s\n", path);
	return err;
}
