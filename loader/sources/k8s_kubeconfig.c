// SPDX-License-Identifier: Apache-2.0
/* Where the API server is and who we are to it: a kubeconfig, or the pod's service account. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "lib/log.h"
#include "loader/k8s/yaml_tree.h"
#include "loader/sources/k8s_client_internal.h"

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static char *dup_bytes(const char *s, size_t n)
{
	char *p;

	if (!s)
		return NULL;
	p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

int k8s_api_config_copy(struct k8s_api_config *dst, const struct k8s_api_config *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->server = dup_or_null(src->server);
	dst->ca_file = dup_or_null(src->ca_file);
	dst->ca_data = dup_bytes(src->ca_data, src->ca_data_len);
	dst->ca_data_len = src->ca_data_len;
	dst->cert_file = dup_or_null(src->cert_file);
	dst->key_file = dup_or_null(src->key_file);
	dst->cert_data = dup_bytes(src->cert_data, src->cert_data_len);
	dst->cert_data_len = src->cert_data_len;
	dst->key_data = dup_bytes(src->key_data, src->key_data_len);
	dst->key_data_len = src->key_data_len;
	dst->token = dup_or_null(src->token);
	dst->token_file = dup_or_null(src->token_file);
	dst->username = dup_or_null(src->username);
	dst->password = dup_or_null(src->password);
	dst->tls_server_name = dup_or_null(src->tls_server_name);
	dst->is_insecure = src->is_insecure;
	if (!dst->server || (src->ca_file && !dst->ca_file) || (src->ca_data && !dst->ca_data) ||
	    (src->cert_file && !dst->cert_file) || (src->key_file && !dst->key_file) ||
	    (src->cert_data && !dst->cert_data) || (src->key_data && !dst->key_data) ||
	    (src->token && !dst->token) || (src->token_file && !dst->token_file) ||
	    (src->username && !dst->username) || (src->password && !dst->password) ||
	    (src->tls_server_name && !dst->tls_server_name)) {
		k8s_api_config_free(dst);
		return -ENOMEM;
	}
	return 0;
}

void k8s_api_config_free(struct k8s_api_config *config)
{
	free(config->server);
	free(config->ca_file);
	free(config->ca_data);
	free(config->cert_file);
	free(config->key_file);
	free(config->cert_data);
	free(config->key_data);
	free(config->token);
	free(config->token_file);
	free(config->username);
	free(config->password);
	free(config->tls_server_name);
	memset(config, 0, sizeof(*config));
}

int k8s_read_small_file(const char *path, char **out, size_t *size)
{
	char *buffer;
	size_t length = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), err = 0;

	*out = NULL;
	if (fd < 0)
		return -errno;
	buffer = malloc(K8S_MAX_FILE + 1);
	if (!buffer) {
		close(fd);
		return -ENOMEM;
	}
	while (length <= K8S_MAX_FILE) {
		n = read(fd, buffer + length, K8S_MAX_FILE + 1 - length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (!n)
			break;
		length += (size_t)n;
	}
	close(fd);
	if (!err && length > K8S_MAX_FILE)
		err = -EFBIG;
	if (err) {
		free(buffer);
		return err;
	}
	buffer[length] = '\0';
	*out = buffer;
	*size = length;
	return 0;
}

/* Standard base64 (kubeconfig *-data fields); whitespace ignored. Returns 0 or -EINVAL. */
static int base64_decode(const char *text, char **out, size_t *size)
{
	size_t n = strlen(text), i, used = 0;
	uint32_t acc = 0;
	int bits = 0;
	char *p = malloc(n / 4 * 3 + 4);

	if (!p)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		char c = text[i];
		int v;

		if (c == '=' || c == '\n' || c == '\r' || c == ' ' || c == '\t')
			continue;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else {
			free(p);
			return -EINVAL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			p[used++] = (char)((acc >> bits) & 0xff);
		}
	}
	p[used] = '\0';
	*out = p;
	*size = used;
	return 0;
}

/* A path from the kubeconfig, relative to its directory unless absolute. */
static char *resolve_path(const char *dir, const char *path)
{
	char *out;

	if (path[0] == '/' || !dir[0])
		return strdup(path);
	out = malloc(strlen(dir) + strlen(path) + 2);
	if (out)
		sprintf(out, "%s/%s", dir, path);
	return out;
}

/*
 * tls-server-name: the name the server's certificate is checked against (and sent in SNI), a
 * DNS name or an IPv4 address. It becomes the URL's host and a CURLOPT_CONNECT_TO entry, whose
 * syntax a ':' or space would break.
 */
static bool is_valid_tls_server_name(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > 253 || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-'))
			return false;
	}
	return true;
}

/*
 * The first credential of user that plain HTTP would expose (or, for a client certificate,
 * cannot present at all), by its kubeconfig field name; NULL when there is none.
 */
static const char *first_credential(const struct k8s_api_config *config)
{
	if (config->token)
		return "token";
	if (config->token_file)
		return "tokenFile";
	if (config->username || config->password)
		return config->password ? "password" : "username";
	if (config->cert_file || config->cert_data)
		return config->cert_file ? "client-certificate" : "client-certificate-data";
	if (config->key_file || config->key_data)
		return config->key_file ? "client-key" : "client-key-data";
	return NULL;
}

/* The entry of list (clusters, contexts, users) named name: its inner mapping under key. */
static const struct yaml_tree_node *named_entry(const struct yaml_tree_node *list, const char *name,
						const char *key)
{
	size_t i;

	if (!list || list->type != YAML_TREE_SEQUENCE)
		return NULL;
	for (i = 0; i < list->sequence.count; i++) {
		const struct yaml_tree_node *item = list->sequence.items[i];
		const char *item_name = yaml_tree_string(yaml_tree_get(item, "name"));

		if (item_name && !strcmp(item_name, name)) {
			const struct yaml_tree_node *inner = yaml_tree_get(item, key);

			return inner && inner->type == YAML_TREE_MAPPING ? inner : NULL;
		}
	}
	return NULL;
}

int k8s_kubeconfig_load(const char *path, struct k8s_api_config *config, char *error,
			size_t error_size)
{
	const struct yaml_tree_node *root, *context, *cluster, *user;
	const char *current, *cluster_name, *user_name, *value;
	char message[YAML_TREE_ERROR_LEN], dir[4096];
	struct yaml_tree tree;
	char *text = NULL;
	size_t size, i;
	unsigned int line;
	bool is_insecure = false;
	int err;

	memset(config, 0, sizeof(*config));
	yaml_tree_init(&tree);
	snprintf(dir, sizeof(dir), "%s", path);
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = '\0';
	else
		dir[0] = '\0';
	err = k8s_read_small_file(path, &text, &size);
	if (err) {
		snprintf(error, error_size, "kubeconfig %s: %s", path, strerror(-err));
		return err;
	}
	err = yaml_tree_parse(&tree, text, size, &line, message, sizeof(message));
	free(text);
	if (err) {
		snprintf(error, error_size, "kubeconfig %s:%u: %s", path, line, message);
		return err;
	}
	err = -EINVAL;
	root = tree.n_documents ? tree.documents[0] : NULL;
	current = yaml_tree_string(yaml_tree_get(root, "current-context"));
	if (!current || !*current) {
		snprintf(error, error_size, "kubeconfig %s: current-context: is required", path);
		goto cleanup;
	}
	context = named_entry(yaml_tree_get(root, "contexts"), current, "context");
	cluster_name = yaml_tree_string(yaml_tree_get(context, "cluster"));
	user_name = yaml_tree_string(yaml_tree_get(context, "user"));
	if (!context || !cluster_name) {
		snprintf(error, error_size,
			 "kubeconfig %s: contexts: no context \"%.64s\" with a "
			 "cluster",
			 path, current);
		goto cleanup;
	}
	cluster = named_entry(yaml_tree_get(root, "clusters"), cluster_name, "cluster");
	value = yaml_tree_string(yaml_tree_get(cluster, "server"));
	if (!value || (strncmp(value, "https://", 8) && strncmp(value, "http://", 7))) {
		snprintf(error, error_size,
			 "kubeconfig %s: clusters[%.64s].server: an https:// URL "
			 "is required",
			 path, cluster_name);
		goto cleanup;
	}
	config->server = strdup(value);
	if (config->server) {
		size_t n = strlen(config->server);

		while (n && config->server[n - 1] == '/')
			config->server[--n] = '\0';
	}
	yaml_tree_bool(yaml_tree_get(cluster, "insecure-skip-tls-verify"), &is_insecure);
	config->is_insecure = is_insecure;
	if ((value = yaml_tree_string(yaml_tree_get(cluster, "certificate-authority"))))
		config->ca_file = resolve_path(dir, value);
	if ((value = yaml_tree_string(yaml_tree_get(cluster, "certificate-authority-data"))) &&
	    base64_decode(value, &config->ca_data, &config->ca_data_len)) {
		snprintf(error, error_size,
			 "kubeconfig %s: clusters[%.64s]."
			 "certificate-authority-data: not base64",
			 path, cluster_name);
		goto cleanup;
	}
	if ((value = yaml_tree_string(yaml_tree_get(cluster, "tls-server-name")))) {
		if (!is_valid_tls_server_name(value)) {
			snprintf(error, error_size,
				 "kubeconfig %s: clusters[%.64s].tls-server-name: \"%.64s\" is not "
				 "a DNS name or IPv4 address",
				 path, cluster_name, value);
			goto cleanup;
		}
		config->tls_server_name = strdup(value);
	}

	user = user_name ? named_entry(yaml_tree_get(root, "users"), user_name, "user") : NULL;
	if (user && (yaml_tree_get(user, "exec") || yaml_tree_get(user, "auth-provider"))) {
		snprintf(error, error_size,
			 "kubeconfig %s: users[%.64s]: exec and auth-provider "
			 "plugins are not supported; use a token or a client certificate",
			 path, user_name);
		goto cleanup;
	}
	static const char *const files[] = {"client-certificate", "client-key", "tokenFile"};
	char **file_fields[] = {&config->cert_file, &config->key_file, &config->token_file};

	for (i = 0; i < 3; i++) {
		if ((value = yaml_tree_string(yaml_tree_get(user, files[i]))))
			*file_fields[i] = resolve_path(dir, value);
	}
	static const char *const datas[] = {"client-certificate-data", "client-key-data"};
	char **data_fields[] = {&config->cert_data, &config->key_data};
	size_t *data_lens[] = {&config->cert_data_len, &config->key_data_len};

	for (i = 0; i < 2; i++) {
		if ((value = yaml_tree_string(yaml_tree_get(user, datas[i]))) &&
		    base64_decode(value, data_fields[i], data_lens[i])) {
			snprintf(error, error_size, "kubeconfig %s: users[%.64s].%s: not base64",
				 path, user_name, datas[i]);
			goto cleanup;
		}
	}
	if ((value = yaml_tree_string(yaml_tree_get(user, "token"))))
		config->token = strdup(value);
	if ((value = yaml_tree_string(yaml_tree_get(user, "username"))))
		config->username = strdup(value);
	if ((value = yaml_tree_string(yaml_tree_get(user, "password"))))
		config->password = strdup(value);
	/*
	 * Plain HTTP carries a token or password in cleartext (and cannot present a client
	 * certificate): refused, where kubectl silently drops the credentials (kubectl#744) and
	 * the server answers 401. http:// without credentials stays, for `kubectl proxy`.
	 */
	value = first_credential(config);
	if (config->server && !strncmp(config->server, "http://", 7) && value) {
		snprintf(
		    error, error_size,
		    "kubeconfig %s: context \"%.64s\", cluster \"%.64s\": server %.128s is plain "
		    "http:// but users[%.64s].%s is set: credentials go only over https://, "
		    "a token or password would travel in cleartext",
		    path, current, cluster_name, config->server, user_name, value);
		goto cleanup;
	}
	err = config->server ? 0 : -ENOMEM;
cleanup:
	if (err)
		k8s_api_config_free(config);
	yaml_tree_free(&tree);
	return err;
}

int k8s_in_cluster_load(struct k8s_api_config *config, const char *server, char *error,
			size_t error_size)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *dir = getenv("SLUICE_SERVICEACCOUNT_DIR");
	char path[4096];
	struct stat st;

	memset(config, 0, sizeof(*config));
	if (!dir || !*dir)
		dir = K8S_SERVICEACCOUNT_DIR;
	if (!server && (!host || !*host || !port || !*port)) {
		snprintf(
		    error, error_size,
		    "--in-cluster: KUBERNETES_SERVICE_HOST and "
		    "KUBERNETES_SERVICE_PORT must be set (is this a pod?), or --k8s-api-server");
		return -EINVAL;
	}
	if (server && !strncmp(server, "http://", 7)) {
		snprintf(error, error_size,
			 "--k8s-api-server %s: plain http:// with the service account's token: "
			 "credentials go only over https://, the token would travel in cleartext",
			 server);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/token", dir);
	if (stat(path, &st)) {
		int err = -errno;

		snprintf(error, error_size, "--in-cluster: %s: %s", path, strerror(-err));
		return err;
	}
	config->server = server ? strdup(server) : malloc(strlen(host) + strlen(port) + 16);
	config->token_file = strdup(path);
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	config->ca_file = strdup(path);
	if (!config->server || !config->token_file || !config->ca_file) {
		k8s_api_config_free(config);
		return -ENOMEM;
	}
	/* An IPv6 service host needs brackets in a URL. */
	if (!server)
		sprintf(config->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
			host, port);
	return 0;
}

int k8s_api_server_parse(const char *url, char **out, char *error, size_t error_size)
{
	const char *scheme = "https://", *rest = url, *colon;
	size_t host_len;
	char *server;

	if (!strncmp(url, "https://", 8)) {
		rest = url + 8;
	} else if (!strncmp(url, "http://", 7)) {
		scheme = "http://";
		rest = url + 7;
	} else if (strstr(url, "://")) {
		snprintf(error, error_size, "--k8s-api-server %.128s: expected https:// or http://",
			 url);
		return -EINVAL;
	}
	host_len = strcspn(rest, "/");
	/* Nothing after the authority but a trailing '/': the API's paths are the client's. */
	if (rest[host_len] && strcmp(rest + host_len, "/")) {
		snprintf(error, error_size,
			 "--k8s-api-server %.128s: expected no path (SCHEME://HOST[:PORT])", url);
		return -EINVAL;
	}
	colon = memchr(rest, ':', host_len);
	if (!host_len || colon == rest || strpbrk(url, " \t\r\n@?#") ||
	    (colon && (colon + 1 == rest + host_len ||
		       strspn(colon + 1, "0123456789") != (size_t)(rest + host_len - colon - 1)))) {
		snprintf(error, error_size,
			 "--k8s-api-server %.128s: expected [https://]HOST[:PORT], e.g. "
			 "https://192.0.2.10:6443",
			 url);
		return -EINVAL;
	}
	server = malloc(strlen(scheme) + host_len + 1);
	if (!server)
		return -ENOMEM;
	sprintf(server, "%s%.*s", scheme, (int)host_len, rest);
	*out = server;
	return 0;
}

int k8s_api_config_set_server(struct k8s_api_config *config, const char *server, char *error,
			      size_t error_size)
{
	const char *credential = first_credential(config);
	char *copy;

	if (!strncmp(server, "http://", 7) && credential) {
		snprintf(error, error_size,
			 "--k8s-api-server %.128s: plain http:// but the kubeconfig's %s is set: "
			 "credentials go only over https://",
			 server, credential);
		return -EINVAL;
	}
	copy = strdup(server);
	if (!copy)
		return -ENOMEM;
	free(config->server);
	config->server = copy;
	return 0;
}
