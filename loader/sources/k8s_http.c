// SPDX-License-Identifier: Apache-2.0
/* One HTTP request of a watcher (libcurl): credentials, timeouts, and what its status means. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "lib/log.h"
#include "loader/k8s/json.h"
#include "loader/sources/k8s_client_internal.h"

static int xferinfo(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		    curl_off_t ulnow)
{
	struct watcher *w = opaque;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return atomic_load(&w->client->is_stopping) ? 1 : 0;
}

/*
 * Where requests go. Without tls-server-name, to config->server. With it (client-go's
 * ServerName: the name sent in SNI and checked in the server's certificate, for a server
 * reached by an address its certificate does not name), libcurl 7.88 has no option of its own:
 * it checks the certificate against the URL's host. So the URL names tls-server-name,
 * CURLOPT_CONNECT_TO takes the connection to the server's own host and port (it changes neither
 * SNI nor the name checked), and a Host header keeps the server's authority, as client-go sends.
 */
int k8s_http_target_init(struct k8s_client *client)
{
	const struct k8s_api_config *config = &client->config;
	char *host = NULL, *port = NULL, *explicit_port = NULL, *url = NULL, *entry = NULL;
	CURLU *parts;
	int err = -EINVAL;

	if (!config->tls_server_name || strncmp(config->server, "https://", 8)) {
		client->base_url = strdup(config->server);
		return client->base_url ? 0 : -ENOMEM;
	}
	parts = curl_url();
	if (!parts)
		return -ENOMEM;
	if (curl_url_set(parts, CURLUPART_URL, config->server, 0) ||
	    curl_url_get(parts, CURLUPART_HOST, &host, 0) ||
	    curl_url_get(parts, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT))
		goto cleanup;
	if (curl_url_get(parts, CURLUPART_PORT, &explicit_port, 0))
		explicit_port = NULL; /* CURLUE_NO_PORT: the URL has none */
	if (curl_url_set(parts, CURLUPART_HOST, config->tls_server_name, 0) ||
	    curl_url_get(parts, CURLUPART_URL, &url, 0))
		goto cleanup;
	err = -ENOMEM;
	/* HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT; curl gives an IPv6 host in brackets. */
	entry = malloc(strlen(config->tls_server_name) + 2 * strlen(port) + strlen(host) + 4);
	client->host_header =
	    malloc(strlen(host) + (explicit_port ? strlen(explicit_port) : 0) + 8);
	client->base_url = strdup(url);
	if (!entry || !client->host_header || !client->base_url)
		goto cleanup;
	sprintf(entry, "%s:%s:%s:%s", config->tls_server_name, port, host, port);
	sprintf(client->host_header, "Host: %s%s%s", host, explicit_port ? ":" : "",
		explicit_port ? explicit_port : "");
	client->connect_to = curl_slist_append(NULL, entry);
	if (!client->connect_to)
		goto cleanup;
	/* A server URL may carry a path: curl's URL ends in '/' where the kubeconfig's did not. */
	for (size_t n = strlen(client->base_url); n && client->base_url[n - 1] == '/';)
		client->base_url[--n] = '\0';
	err = 0;
cleanup:
	free(entry);
	curl_free(host);
	curl_free(port);
	curl_free(explicit_port);
	curl_free(url);
	curl_url_cleanup(parts);
	return err;
}

/* Set up the easy handle for one request of url. */
int k8s_http_setup(struct watcher *w, const char *url, long timeout_ms, struct curl_slist **headers)
{
	const struct k8s_api_config *config = &w->client->config;
	CURL *curl = w->curl;
	char *token = NULL, *header;
	size_t size;

	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)K8S_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	/* A dead peer under an idle watch is found by keepalive probes, not by waiting. */
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, k8s_watch_on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, xferinfo);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, w);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "sluice-agent");
	if (config->ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, config->ca_file);
	if (config->ca_data) {
		struct curl_blob blob = {config->ca_data, config->ca_data_len, CURL_BLOB_COPY};

		curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (config->cert_file)
		curl_easy_setopt(curl, CURLOPT_SSLCERT, config->cert_file);
	if (config->key_file)
		curl_easy_setopt(curl, CURLOPT_SSLKEY, config->key_file);
	if (config->cert_data) {
		struct curl_blob blob = {config->cert_data, config->cert_data_len, CURL_BLOB_COPY};

		curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &blob);
		curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (config->key_data) {
		struct curl_blob blob = {config->key_data, config->key_data_len, CURL_BLOB_COPY};

		curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &blob);
		curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (config->is_insecure) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (config->username) {
		curl_easy_setopt(curl, CURLOPT_USERNAME, config->username);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, config->password ? config->password : "");
	}
	if (w->client->connect_to)
		curl_easy_setopt(curl, CURLOPT_CONNECT_TO, w->client->connect_to);
	*headers = curl_slist_append(NULL, "Accept: application/json");
	if (*headers && w->client->host_header)
		*headers = curl_slist_append(*headers, w->client->host_header);
	if (config->token_file && !k8s_read_small_file(config->token_file, &token, &size)) {
		while (size && (token[size - 1] == '\n' || token[size - 1] == '\r'))
			token[--size] = '\0';
	}
	if (token || config->token) {
		const char *value = token ? token : config->token;

		header = malloc(strlen(value) + 32);
		if (header) {
			sprintf(header, "Authorization: Bearer %s", value);
			*headers = curl_slist_append(*headers, header);
			free(header);
		}
	}
	free(token);
	if (!*headers)
		return -ENOMEM;
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *headers);
	w->body_len = 0;
	w->http_status = 0;
	w->is_gone = w->is_garbage = false;
	return 0;
}

/* A Status object's code and message, for logs (best effort). */
long k8s_http_status_code(const char *body, size_t len, char *message, size_t message_size)
{
	char error[64];
	struct json_object *value = k8s_json_parse(body, len, error, sizeof(error)), *field;
	long code = 0;

	message[0] = '\0';
	if (!value)
		return 0;
	if (json_object_object_get_ex(value, "code", &field) &&
	    json_object_is_type(field, json_type_int))
		code = (long)json_object_get_int64(field);
	if (json_object_object_get_ex(value, "message", &field) &&
	    json_object_is_type(field, json_type_string))
		snprintf(message, message_size, "%s", json_object_get_string(field));
	json_object_put(value);
	return code;
}

/* Append ?/& name=value (value URL-escaped) to url. */
void k8s_http_url_param(CURL *curl, char *url, size_t size, const char *name, const char *value)
{
	char *escaped = curl_easy_escape(curl, value, 0);
	size_t used = strlen(url);

	snprintf(url + used, size - used, "%s%s=%s", strchr(url, '?') ? "&" : "?", name,
		 escaped ? escaped : "");
	curl_free(escaped);
}

/* Perform the request; returns 0 for a 200 response, -ESTALE for 410, else -EIO (logged). */
int k8s_http_perform(struct watcher *w, const char *what)
{
	char message[256];
	CURLcode code;
	long status = 0;

	code = curl_easy_perform(w->curl);
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	if (atomic_load(&w->client->is_stopping))
		return -EINTR;
	if (w->is_gone)
		return -ESTALE;
	if (status && status != 200) {
		long reason = k8s_http_status_code(w->body, w->body_len, message, sizeof(message));

		if (status == 410 || reason == 410)
			return -ESTALE;
		log_warn("api: %s: %s: HTTP %ld%s%s", w->type->name, what, status,
			 message[0] ? ": " : "", message);
		return -EIO;
	}
	if (w->is_garbage)
		return -EIO;
	if (code != CURLE_OK) {
		/* A watch that the server or a timeout ends is the normal end of a stream. */
		if (w->is_watch &&
		    (code == CURLE_OPERATION_TIMEDOUT || code == CURLE_PARTIAL_FILE ||
		     code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING) &&
		    status == 200)
			return -ECONNRESET;
		log_warn("api: %s: %s: %s", w->type->name, what, curl_easy_strerror(code));
		return -EIO;
	}
	return 0;
}
