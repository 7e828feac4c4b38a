// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the lab's HTML page (loader/lab/lab_html.c) on a report built by hand: what a
 * real lab rarely shows (a mismatch, explain disagreeing) is marked by class and sign, markup in
 * names is escaped, and the page is written whole or refused by name.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "loader/lab/lab_internal.h"

struct fixture {
	struct lab lab;
	struct lab_options options;
	struct k8s_object objects[2];
	struct lab_probe probes[3];
	uint8_t observed[3], explained[3];
	char *reasons[3];
	char dir[64];
};

/*
 * Two pods whose names carry markup (a real file's names are DNS names; labels and reasons are
 * not); probe 0 a mismatch, probe 1 explain disagreeing, probe 2 on another port.
 */
static int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct lab *lab;

	if (!f)
		return -1;
	lab = &f->lab;
	f->options.file = "lab<1>.yaml";
	lab->options = &f->options;
	lab->has_sctp = true;
	lab->n_nodes = 1;
	snprintf(lab->nodes[0].name, sizeof(lab->nodes[0].name), "lab");
	lab->n_pods = 2;
	snprintf(lab->pods[0].id, sizeof(lab->pods[0].id), "x/<script>");
	snprintf(lab->pods[1].id, sizeof(lab->pods[1].id), "x/a&b\"c'");
	for (size_t i = 0; i < 2; i++) {
		lab->pods[i].object = &f->objects[i];
		lab->pods[i].ip = htonl(0x0af40102 + i);
	}
	f->probes[0] =
	    (struct lab_probe){.from = 0, .to = 1, .port = 80, .proto = 6, .expected = 1};
	f->probes[1] = (struct lab_probe){.from = 1, .to = 0, .port = 80, .proto = 6};
	f->probes[2] =
	    (struct lab_probe){.from = 0, .to = 0, .port = 53, .proto = 17, .expected = 1};
	f->observed[0] = 2, f->explained[0] = 2;
	f->observed[1] = 2, f->explained[1] = 1;
	f->observed[2] = 1, f->explained[2] = 1;
	f->reasons[0] = "default deny of x/<p>: no ingress rule admits TCP 80 from x {k=<v>}";
	f->reasons[1] = "a rule of x/q admits TCP 80";
	lab->n_probes = 3;
	lab->probes = f->probes;
	lab->observed = f->observed;
	lab->explained = f->explained;
	lab->explain_reasons = f->reasons;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sl-lab-html.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static int fixture_teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	free(f);
	return system(cmd) ? -1 : 0;
}

static char *page_of(const struct lab *lab)
{
	char *page = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&page, &len);

	assert_non_null(out);
	assert_int_equal(lab_html_write(lab, out), 0);
	assert_int_equal(fclose(out), 0);
	return page;
}

/* The first cell whose attributes hold ATTRS, from its opening tag to its end. */
static char *cell_of(const char *page, const char *attrs)
{
	const char *at = strstr(page, attrs), *start, *end;

	if (!at)
		return NULL;
	for (start = at; start > page && strncmp(start, "<td", 3); start--)
		;
	end = strstr(at, "</td>");
	return end ? strndup(start, (size_t)(end - start)) : NULL;
}

static void test_marks_mismatch_and_disagreement(void **state)
{
	struct fixture *f = *state;
	char *page = page_of(&f->lab), *cell;

	cell = cell_of(page, "data-to=\"x/a&amp;b&quot;c&#39;\"");
	assert_non_null(cell);
	assert_non_null(strstr(cell, "class=\"cell denied mismatch\""));
	assert_non_null(strstr(cell, "<span class=\"mark\">!</span>denied"));
	assert_non_null(strstr(cell, "<small>expected allowed</small>"));
	assert_non_null(strstr(cell, "(MISMATCH)"));
	free(cell);
	cell = cell_of(page, "data-to=\"x/&lt;script&gt;\" data-observed=\"denied\"");
	assert_non_null(cell);
	assert_non_null(strstr(cell, "class=\"cell denied disagree\""));
	assert_non_null(strstr(cell, "<span class=\"mark\">?</span>denied"));
	assert_null(strstr(cell, "mismatch"));
	free(cell);
	assert_non_null(strstr(page, "3 probes, 1 mismatches, sluice explain agreeing on 2"));
	assert_non_null(strstr(page, "<h2 class=\"bad\">mismatches</h2>"));
	assert_non_null(strstr(page, "sluice explain disagrees with the traffic</h2>"));
	/* One matrix per port and protocol, each a full pods x pods grid. */
	assert_non_null(strstr(page, "data-protocol=\"TCP\" data-port=\"80\""));
	assert_non_null(strstr(page, "data-protocol=\"UDP\" data-port=\"53\""));
	free(page);
}

static void test_escapes_names_and_reasons(void **state)
{
	struct fixture *f = *state;
	char *page = page_of(&f->lab);

	assert_null(strstr(page, "<script"));
	assert_null(strstr(page, "<p>:"));
	assert_null(strstr(page, "{k=<v>}"));
	assert_non_null(strstr(page, "x/&lt;script&gt;"));
	assert_non_null(strstr(page, "x/a&amp;b&quot;c&#39;"));
	assert_non_null(strstr(page, "default deny of x/&lt;p&gt;: no ingress rule admits TCP 80 "
				     "from x {k=&lt;v&gt;}"));
	assert_non_null(strstr(page, "<title>sluice lab: lab&lt;1&gt;.yaml</title>"));
	free(page);
}

static void test_writes_whole_or_names_the_path(void **state)
{
	struct fixture *f = *state;
	char path[128], *page = page_of(&f->lab), *read;
	struct stat st;
	FILE *in;

	snprintf(path, sizeof(path), "%s/page.html", f->dir);
	f->options.html = path;
	assert_int_equal(lab_html_check_target(path), 0);
	assert_int_equal(lab_report_html(&f->lab), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	read = calloc(1, (size_t)st.st_size + 1);
	in = fopen(path, "r");
	assert_non_null(in);
	assert_int_equal(fread(read, 1, (size_t)st.st_size, in), (size_t)st.st_size);
	fclose(in);
	assert_string_equal(read, page);
	free(read);
	free(page);

	snprintf(path, sizeof(path), "%s/missing/page.html", f->dir);
	assert_int_equal(lab_html_check_target(path), -ENOENT);
	assert_int_equal(lab_report_html(&f->lab), -ENOENT);
	assert_int_equal(lab_html_check_target(f->dir), -EISDIR);
	snprintf(path, sizeof(path), "%s/", f->dir);
	assert_int_equal(lab_html_check_target(path), -EISDIR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_marks_mismatch_and_disagreement, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_escapes_names_and_reasons, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_writes_whole_or_names_the_path, fixture_setup,
					    fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
