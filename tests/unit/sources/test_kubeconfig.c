// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the kubeconfig's transport rules (loader/sources/k8s_kubeconfig.c): credentials
 * only over https://, and tls-server-name kept for the certificate check. The rest of the
 * kubeconfig reading is tested in tests/unit/k8s/test_objects.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "loader/sources/k8s_client.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sluice-kubeconfig-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/config", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Load a kubeconfig whose current context "ctx" joins cluster "c" (CLUSTER) and user "u" (USER). */
static int load(struct fixture *f, const char *cluster, const char *user,
		struct k8s_api_config *config, char *error, size_t error_size)
{
	FILE *file = fopen(f->path, "w");

	assert_non_null(file);
	fprintf(file,
		"current-context: ctx\n"
		"contexts: [{name: ctx, context: {cluster: c, user: u}}]\n"
		"clusters: [{name: c, cluster: %s}]\n"
		"users: [{name: u, user: %s}]\n",
		cluster, user);
	assert_int_equal(fclose(file), 0);
	error[0] = '\0';
	return k8s_kubeconfig_load(f->path, config, error, error_size);
}

/* http:// with any credential is refused, naming the file, context, cluster and field. */
static void test_http_with_credentials_refused(void **state)
{
	static const struct {
		const char *user;
		const char *field;
	} cases[] = {
	    {"{token: secret}", "users[u].token is set"},
	    {"{tokenFile: /run/token}", "users[u].tokenFile is set"},
	    {"{username: admin, password: secret}", "users[u].password is set"},
	    {"{client-certificate-data: aGVsbG8=, client-key-data: aGVsbG8=}",
	     "users[u].client-certificate-data is set"},
	};
	struct fixture *f = *state;
	struct k8s_api_config config;
	char error[512], want[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = load(f, "{server: 'http://10.0.0.1:8080'}", cases[i].user, &config, error,
			       sizeof(error));

		snprintf(
		    want, sizeof(want),
		    "kubeconfig %s: context \"ctx\", cluster \"c\": server http://10.0.0.1:8080 "
		    "is plain http:// but %s",
		    f->path, cases[i].field);
		if (ret != -EINVAL || strncmp(error, want, strlen(want)) ||
		    !strstr(error, "cleartext"))
			fail_msg("user %s: got %d \"%s\", want -EINVAL \"%s...\"", cases[i].user,
				 ret, error, want);
		assert_null(config.server); /* nothing is left to use */
	}
}

/* http:// without credentials (kubectl proxy) and https:// with a token are accepted. */
static void test_http_without_credentials_accepted(void **state)
{
	struct fixture *f = *state;
	struct k8s_api_config config;
	char error[512];

	assert_int_equal(
	    load(f, "{server: 'http://127.0.0.1:8001'}", "{}", &config, error, sizeof(error)), 0);
	assert_string_equal(config.server, "http://127.0.0.1:8001");
	assert_null(config.token);
	k8s_api_config_free(&config);

	assert_int_equal(load(f, "{server: 'https://10.0.0.1:6443'}", "{token: secret}", &config,
			      error, sizeof(error)),
			 0);
	assert_string_equal(config.token, "secret");
	k8s_api_config_free(&config);
}

/* tls-server-name is kept; a value that is no host name is refused with its field. */
static void test_tls_server_name(void **state)
{
	static const char *const bad[] = {"api:6443", "api example", "-api", "[fd00::1]"};
	struct fixture *f = *state;
	struct k8s_api_config config;
	char error[512], cluster[128];

	assert_int_equal(load(f, "{server: 'https://10.0.0.1:6443', tls-server-name: api.example}",
			      "{token: secret}", &config, error, sizeof(error)),
			 0);
	assert_string_equal(config.server, "https://10.0.0.1:6443");
	assert_string_equal(config.tls_server_name, "api.example");
	k8s_api_config_free(&config);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(cluster, sizeof(cluster),
			 "{server: 'https://10.0.0.1:6443', tls-server-name: '%s'}", bad[i]);
		if (load(f, cluster, "{}", &config, error, sizeof(error)) != -EINVAL ||
		    !strstr(error, "clusters[c].tls-server-name:"))
			fail_msg("tls-server-name %s: got \"%s\", want it refused", bad[i], error);
		assert_null(config.tls_server_name);
	}
}

/* --k8s-api-server: the accepted forms, normalized; the rest refused naming the flag. */
static void test_api_server_parse(void **state)
{
	static const struct {
		const char *url, *want;
	} good[] = {
	    {"https://192.0.2.10:6443", "https://192.0.2.10:6443"},
	    {"https://192.0.2.10:6443/", "https://192.0.2.10:6443"},
	    {"192.0.2.10:6443", "https://192.0.2.10:6443"},
	    {"api.example.test", "https://api.example.test"},
	    {"http://127.0.0.1:8001", "http://127.0.0.1:8001"},
	};
	static const char *const bad[] = {
	    "",
	    "https://",
	    "ftp://192.0.2.10",
	    "https://192.0.2.10:6443/api",
	    "https://192.0.2.10:",
	    "https://192.0.2.10:64x3",
	    "https://:6443",
	    "https://user@192.0.2.10",
	    "192.0.2.10 6443",
	};
	char error[256], *server;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		server = NULL;
		assert_int_equal(k8s_api_server_parse(good[i].url, &server, error, sizeof(error)),
				 0);
		assert_string_equal(server, good[i].want);
		free(server);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		server = NULL;
		error[0] = '\0';
		if (k8s_api_server_parse(bad[i], &server, error, sizeof(error)) != -EINVAL)
			fail_msg("\"%s\": accepted as %s", bad[i], server ? server : "?");
		assert_non_null(strstr(error, "--k8s-api-server"));
	}
}

/* --k8s-api-server replaces a kubeconfig's server, keeping its credentials, never over http://. */
static void test_api_server_overrides_kubeconfig(void **state)
{
	struct fixture *f = *state;
	struct k8s_api_config config;
	char error[512];

	assert_int_equal(load(f, "{server: \"https://10.96.0.1:443\"}", "{token: t}", &config,
			      error, sizeof(error)),
			 0);
	assert_int_equal(
	    k8s_api_config_set_server(&config, "https://192.0.2.10:6443", error, sizeof(error)), 0);
	assert_string_equal(config.server, "https://192.0.2.10:6443");
	assert_string_equal(config.token, "t");
	assert_int_equal(
	    k8s_api_config_set_server(&config, "http://192.0.2.10:8080", error, sizeof(error)),
	    -EINVAL);
	assert_non_null(strstr(error, "credentials go only over https://"));
	assert_string_equal(config.server, "https://192.0.2.10:6443");
	k8s_api_config_free(&config);
}

/* In-cluster credentials at --k8s-api-server: no KUBERNETES_SERVICE_* needed; http:// refused. */
static void test_in_cluster_at_api_server(void **state)
{
	struct fixture *f = *state;
	struct k8s_api_config config;
	char error[512], token[160];
	FILE *file;

	snprintf(token, sizeof(token), "%s/token", f->dir);
	file = fopen(token, "w");
	assert_non_null(file);
	fputs("t\n", file);
	assert_int_equal(fclose(file), 0);
	setenv("SLUICE_SERVICEACCOUNT_DIR", f->dir, 1);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");

	assert_int_equal(k8s_in_cluster_load(&config, NULL, error, sizeof(error)), -EINVAL);
	assert_non_null(strstr(error, "KUBERNETES_SERVICE_HOST"));
	assert_int_equal(
	    k8s_in_cluster_load(&config, "https://192.0.2.10:6443", error, sizeof(error)), 0);
	assert_string_equal(config.server, "https://192.0.2.10:6443");
	assert_string_equal(config.token_file, token);
	k8s_api_config_free(&config);
	assert_int_equal(
	    k8s_in_cluster_load(&config, "http://192.0.2.10:8080", error, sizeof(error)), -EINVAL);
	assert_non_null(strstr(error, "cleartext"));
	unlink(token);
	unsetenv("SLUICE_SERVICEACCOUNT_DIR");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_http_with_credentials_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http_without_credentials_accepted, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_tls_server_name, setup, teardown),
	    cmocka_unit_test(test_api_server_parse),
	    cmocka_unit_test_setup_teardown(test_api_server_overrides_kubeconfig, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_in_cluster_at_api_server, setup, teardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
