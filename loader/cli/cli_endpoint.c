// SPDX-License-Identifier: Apache-2.0
/* `sluice endpoint list`: the pods of ep4 with their host veths and MACs. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <json-c/json.h>

#include "lib/log.h"
#include "lib/map_walk.h"
#include "loader/cli/cli_internal.h"
#include "maps/endpoints.h"

static void cli_mac(const uint8_t mac[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

struct cli_endpoint {
	struct ep4_key key;
	struct ep4_info info;
};

static int cli_endpoint_cmp(const void *a, const void *b)
{
	uint32_t x = ntohl(((const struct cli_endpoint *)a)->key.address);
	uint32_t y = ntohl(((const struct cli_endpoint *)b)->key.address);

	return (x > y) - (x < y);
}

int cli_endpoint_list(const struct cli_options *options)
{
	struct json_object *root = NULL, *array = NULL;
	struct cli_endpoint *eps = NULL;
	size_t n = 0, cap = 0;
	struct ep4_key key;
	struct ep4_info info;
	struct map_walk walk;
	int fd, err = 0;

	fd = cli_open_map(options, EP4_MAP);
	if (fd < 0)
		return fd;
	map_walk_start(&walk, fd, sizeof(key), sizeof(info));
	while (map_walk_next(&walk, &key, &info)) {
		if (n == cap) {
			size_t new_cap = cap ? cap * 2 : 64;
			struct cli_endpoint *grown = realloc(eps, new_cap * sizeof(*grown));

			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			eps = grown;
			cap = new_cap;
		}
		eps[n].key = key;
		eps[n].info = info;
		eps[n].info.name[sizeof(eps[n].info.name) - 1] = '\0';
		n++;
	}
	qsort(eps, n, sizeof(*eps), cli_endpoint_cmp);

	if (options->output == CLI_OUTPUT_JSON) {
		root = json_object_new_object();
		array = json_object_new_array();
		err = root ? cli_json_set(root, "endpoints", array) : -ENOMEM;
	} else {
		printf("%-16s %-40s %-22s %-18s %s\n", "ADDRESS", "NAME", "HOST VETH", "MAC",
		       "HOST MAC");
	}
	for (size_t i = 0; !err && i < n; i++) {
		const struct ep4_info *info = &eps[i].info;
		char ip[INET_ADDRSTRLEN], ifname[IF_NAMESIZE] = "", mac[18], host_mac[18], dev[48];
		bool has_ifname = if_indextoname(info->ifindex, ifname) != NULL;

		cli_ip(eps[i].key.address, ip);
		cli_mac(info->mac, mac);
		cli_mac(info->host_mac, host_mac);
		if (options->output == CLI_OUTPUT_TEXT) {
			snprintf(dev, sizeof(dev), "%u (%s)", info->ifindex,
				 has_ifname ? ifname : "gone");
			printf("%-16s %-40s %-22s %-18s %s\n", ip, info->name[0] ? info->name : "-",
			       dev, mac, host_mac);
			continue;
		}
		struct json_object *obj = json_object_new_object();

		if (!obj) {
			err = -ENOMEM;
			break;
		}
		err |= cli_json_set(obj, "address", json_object_new_string(ip));
		err |= cli_json_set(obj, "name", json_object_new_string(info->name));
		err |= cli_json_set(obj, "ifindex", json_object_new_int64(info->ifindex));
		if (has_ifname)
			err |= cli_json_set(obj, "ifname", json_object_new_string(ifname));
		else if (json_object_object_add(obj, "ifname", NULL)) /* JSON null: veth gone */
			err = -ENOMEM;
		err |= cli_json_set(obj, "mac", json_object_new_string(mac));
		err |= cli_json_set(obj, "host_mac", json_object_new_string(host_mac));
		err |= cli_json_set(obj, "flags", json_object_new_int64(info->flags));
		err |= cli_json_append(array, obj);
	}
	if (!err && root)
		err = cli_json_print(root);

cleanup:
	if (err)
		log_fail("endpoint list: %s", strerror(-err));
	json_object_put(root);
	free(eps);
	close(fd);
	return err;
}
