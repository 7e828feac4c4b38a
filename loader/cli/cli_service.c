// SPDX-License-Identifier: Apache-2.0
/* `sluice service list`: each frontend of lb4_svc with its live backends and how it picks one. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <json-c/json.h>

#include "lib/ip_proto.h"
#include "lib/log.h"
#include "lib/map_walk.h"
#include "loader/cli/cli_internal.h"
#include "loader/desired/state.h"
#include "maps/lb.h"

/* "maglev" when the frontend picks by its table, else "random" (also Maglev without a table). */
static const char *cli_service_algorithm(const struct cli_service *svc)
{
	if (!(svc->value.flags & LB_SVC_F_MAGLEV))
		return "random";
	return svc->has_table || !svc->value.count ? "maglev" : "maglev (no table: random)";
}

static int cli_service_cmp(const void *a, const void *b)
{
	const struct cli_service *x = a, *y = b;
	uint32_t xa = ntohl(x->key.address), ya = ntohl(y->key.address);

	if (xa != ya)
		return xa < ya ? -1 : 1;
	if (x->key.port != y->key.port)
		return ntohs(x->key.port) < ntohs(y->key.port) ? -1 : 1;
	return (x->key.proto > y->key.proto) - (x->key.proto < y->key.proto);
}

static void cli_services_free(struct cli_service *services, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(services[i].backend_ids);
		free(services[i].backends);
	}
	free(services);
}

int cli_service_read_backends(struct cli_service *svc, int slots_fd, int backends_fd)
{
	struct lb4_slot_key key;
	uint32_t id;

	svc->backend_ids = calloc(svc->value.count ? svc->value.count : 1, sizeof(uint32_t));
	svc->backends = calloc(svc->value.count ? svc->value.count : 1, sizeof(*svc->backends));
	if (!svc->backend_ids || !svc->backends)
		return -ENOMEM;
	memset(&key, 0, sizeof(key));
	key.svc_id = svc->value.svc_id;
	key.gen = svc->value.gen;
	for (uint32_t i = 0; i < svc->value.count; i++) {
		bool is_seen = false;

		key.index = (uint16_t)i;
		if (bpf_map_lookup_elem(slots_fd, &key, &id))
			continue; /* the agent is mid-update; the next listing shows it whole */
		for (uint32_t j = 0; j < svc->n_backends && !is_seen; j++)
			is_seen = svc->backend_ids[j] == id;
		if (is_seen)
			continue;
		if (bpf_map_lookup_elem(backends_fd, &id, &svc->backends[svc->n_backends]))
			continue;
		svc->backend_ids[svc->n_backends++] = id;
	}
	return 0;
}

/* lb4_maglev and its table size M, or -1 and 0 on pins made before Maglev. */
static int cli_maglev_open(const struct cli_options *options, uint32_t *table_size)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	int fd = cli_open_map(options, LB4_MAGLEV_MAP);

	*table_size = 0;
	if (fd < 0)
		return -1;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || !info.value_size) {
		close(fd);
		return -1;
	}
	*table_size = info.value_size / sizeof(uint32_t);
	return fd;
}

static bool cli_service_has_table(const struct cli_service *svc, int maglev_fd, uint32_t *table)
{
	struct lb4_maglev_key key;

	if (maglev_fd < 0 || !(svc->value.flags & LB_SVC_F_MAGLEV))
		return false;
	memset(&key, 0, sizeof(key));
	key.svc_id = svc->value.svc_id;
	key.gen = svc->value.gen;
	return bpf_map_lookup_elem(maglev_fd, &key, table) == 0;
}

static int cli_services_read(const struct cli_options *options, struct cli_service **out,
			     size_t *n_out, uint32_t *table_size)
{
	int svc_fd = -1, slots_fd = -1, backends_fd = -1, revnat_fd = -1, maglev_fd = -1, err = 0;
	uint32_t *table = NULL;
	struct cli_service *services = NULL;
	size_t n = 0, cap = 0;
	struct lb4_key key;
	struct lb4_service value;
	struct lb4_revnat revnat;
	struct map_walk walk;

	svc_fd = cli_open_map(options, LB4_SVC_MAP);
	if (svc_fd < 0)
		return svc_fd;
	slots_fd = cli_open_map(options, LB4_SLOTS_MAP);
	backends_fd = slots_fd < 0 ? -1 : cli_open_map(options, LB4_BACKENDS_MAP);
	revnat_fd = backends_fd < 0 ? -1 : cli_open_map(options, LB4_REVNAT_MAP);
	if (slots_fd < 0 || backends_fd < 0 || revnat_fd < 0) {
		err = -ENOENT;
		goto cleanup;
	}
	maglev_fd = cli_maglev_open(options, table_size);
	if (maglev_fd >= 0) {
		table = malloc(*table_size * sizeof(*table));
		if (!table) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	map_walk_start(&walk, svc_fd, sizeof(key), sizeof(value));
	while (map_walk_next(&walk, &key, &value)) {
		if (n == cap) {
			size_t new_cap = cap ? cap * 2 : 64;
			struct cli_service *grown = realloc(services, new_cap * sizeof(*grown));

			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			services = grown;
			cap = new_cap;
		}
		struct cli_service *svc = &services[n];

		memset(svc, 0, sizeof(*svc));
		svc->key = key;
		svc->value = value;
		n++;
		if (bpf_map_lookup_elem(revnat_fd, &svc->value.svc_id, &revnat) == 0) {
			revnat.name[sizeof(revnat.name) - 1] = '\0';
			memcpy(svc->name, revnat.name, sizeof(svc->name));
		}
		err = cli_service_read_backends(svc, slots_fd, backends_fd);
		if (err)
			goto cleanup;
		svc->has_table = cli_service_has_table(svc, maglev_fd, table);
	}
	if (n) /* qsort() of NULL is undefined even for zero elements */
		qsort(services, n, sizeof(*services), cli_service_cmp);
	*out = services;
	*n_out = n;
	services = NULL;
	n = 0;

cleanup:
	if (err == -ENOMEM)
		log_fail("service list: %s", strerror(-err));
	cli_services_free(services, n);
	free(table);
	if (maglev_fd >= 0)
		close(maglev_fd);
	if (revnat_fd >= 0)
		close(revnat_fd);
	if (backends_fd >= 0)
		close(backends_fd);
	if (slots_fd >= 0)
		close(slots_fd);
	close(svc_fd);
	return err;
}

static struct json_object *cli_service_json(const struct cli_service *svc, uint32_t table_size)
{
	struct json_object *obj = json_object_new_object(), *backends = json_object_new_array();
	char ip[INET_ADDRSTRLEN];
	int err = 0;

	if (!obj || !backends)
		goto fail;
	err |= cli_json_set(obj, "name", json_object_new_string(svc->name));
	err |= cli_json_set(obj, "vip", json_object_new_string(cli_ip(svc->key.address, ip)));
	err |= cli_json_set(obj, "port", json_object_new_int(ntohs(svc->key.port)));
	err |= cli_json_set(obj, "protocol", json_object_new_string(ip_proto_name(svc->key.proto)));
	err |= cli_json_set(obj, "id", json_object_new_int64(svc->value.svc_id));
	err |= cli_json_set(obj, "generation", json_object_new_int(svc->value.gen));
	err |= cli_json_set(obj, "slots", json_object_new_int(svc->value.count));
	err |= cli_json_set(obj, "algorithm", json_object_new_string(cli_service_algorithm(svc)));
	/* Entries of the frontend's Maglev table; 0 when it picks at random. */
	err |=
	    cli_json_set(obj, "table_size", json_object_new_int64(svc->has_table ? table_size : 0));
	for (uint32_t i = 0; i < svc->n_backends; i++) {
		struct json_object *b = json_object_new_object();

		if (!b)
			goto fail;
		err |= cli_json_set(b, "address",
				    json_object_new_string(cli_ip(svc->backends[i].address, ip)));
		err |= cli_json_set(b, "port", json_object_new_int(ntohs(svc->backends[i].port)));
		err |= cli_json_set(b, "id", json_object_new_int64(svc->backend_ids[i]));
		err |= cli_json_append(backends, b);
	}
	err |= cli_json_set(obj, "backends", backends);
	backends = NULL;
	if (err)
		goto fail;
	return obj;

fail:
	json_object_put(backends);
	json_object_put(obj);
	return NULL;
}

int cli_service_list(const struct cli_options *options)
{
	struct cli_service *services = NULL;
	struct json_object *root = NULL, *array;
	size_t n = 0;
	char ip[INET_ADDRSTRLEN], frontend[64], algorithm[64];
	uint32_t table_size = 0;
	int err;

	err = cli_services_read(options, &services, &n, &table_size);
	if (err)
		return err;
	if (options->output == CLI_OUTPUT_JSON) {
		root = json_object_new_object();
		array = json_object_new_array();
		err = root ? cli_json_set(root, "services", array) : -ENOMEM;
		for (size_t i = 0; !err && i < n; i++)
			err = cli_json_append(array, cli_service_json(&services[i], table_size));
		if (!err)
			err = cli_json_print(root);
		if (err)
			log_fail("service list: %s", strerror(-err));
		goto cleanup;
	}
	printf("%-32s %-22s %6s %-12s %8s  %s\n", "NAME", "FRONTEND", "ID", "ALGORITHM", "BACKENDS",
	       "ADDRESSES");
	for (size_t i = 0; i < n; i++) {
		const struct cli_service *svc = &services[i];

		snprintf(frontend, sizeof(frontend), "%s:%u/%s", cli_ip(svc->key.address, ip),
			 ntohs(svc->key.port), ip_proto_name(svc->key.proto));
		/* maglev/M: the frontend's table has M entries. */
		if (svc->has_table)
			snprintf(algorithm, sizeof(algorithm), "maglev/%u", table_size);
		else
			snprintf(algorithm, sizeof(algorithm), "%s", cli_service_algorithm(svc));
		printf("%-32s %-22s %6u %-12s %8u  ", svc->name[0] ? svc->name : "-", frontend,
		       svc->value.svc_id, algorithm, svc->n_backends);
		if (!svc->n_backends)
			printf("(none: rejected)");
		for (uint32_t j = 0; j < svc->n_backends; j++)
			printf("%s%s:%u", j ? ", " : "", cli_ip(svc->backends[j].address, ip),
			       ntohs(svc->backends[j].port));
		putchar('\n');
	}

cleanup:
	json_object_put(root);
	cli_services_free(services, n);
	return err;
}
