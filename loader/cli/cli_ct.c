// SPDX-License-Identifier: Apache-2.0
/* `sluice ct list`: the conntrack entries of ct4, both directions, with the service they belong to.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <json-c/json.h>

#include "lib/ip_proto.h"
#include "lib/bpffs.h"
#include "lib/log.h"
#include "lib/map_walk.h"
#include "loader/cli/cli_internal.h"
#include "loader/desired/state.h"
#include "maps/ct.h"
#include "maps/lb.h"

struct cli_ct {
	struct ct4_key key;
	struct ct_entry entry;
};

static int cli_ct_cmp(const void *a, const void *b)
{
	const struct cli_ct *x = a, *y = b;
	int xr = !!(x->entry.flags & CT_F_REPLY), yr = !!(y->entry.flags & CT_F_REPLY);

	if (xr != yr)
		return xr - yr;
	if (x->key.saddr != y->key.saddr)
		return ntohl(x->key.saddr) < ntohl(y->key.saddr) ? -1 : 1;
	if (x->key.sport != y->key.sport)
		return ntohs(x->key.sport) < ntohs(y->key.sport) ? -1 : 1;
	return memcmp(&x->key, &y->key, sizeof(x->key));
}

static const struct {
	uint8_t bit;
	const char *name;
} cli_ct_flag_names[] = {
    {CT_F_REPLY, "reply"},	 {CT_F_HAIRPIN, "hairpin"}, {CT_F_CLOSING, "closing"},
    {CT_F_NEIGH, "neigh"},	 {CT_F_SNAT, "snat"},	    {CT_F_DIRECT, "direct"},
    {CT_F_PEER_FIN, "peer-fin"}, {CT_F_RST, "rst"},
};

/* FLAGS' names, then "confirmed" when CONFIRMED (ct_entry.confirmed, not a flag bit). */
static void cli_ct_flags(uint8_t flags, bool confirmed, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	if (confirmed)
		used = (size_t)snprintf(buf, len, "confirmed");
	for (size_t i = 0; i < sizeof(cli_ct_flag_names) / sizeof(cli_ct_flag_names[0]); i++) {
		if (!(flags & cli_ct_flag_names[i].bit))
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "",
				 cli_ct_flag_names[i].name);

		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

static void cli_tcp_flags(uint8_t flags, char *buf, size_t len)
{
	static const char *const names[8] = {"FIN", "SYN", "RST", "PSH",
					     "ACK", "URG", "ECE", "CWR"};
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < 8; i++) {
		if (!(flags & (1u << i)))
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? "|" : "", names[i]);

		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

/* Signed seconds until NS (CLOCK_MONOTONIC); negative once expired and not yet swept. */
static int64_t cli_expires_in_s(uint64_t ns)
{
	struct timespec ts;
	int64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
	return ((int64_t)ns - now) / 1000000000ll;
}

static struct json_object *cli_ct_json(const struct cli_ct *ct, const char *service)
{
	struct json_object *obj = json_object_new_object(), *flags = json_object_new_array();
	const struct ct_entry *e = &ct->entry;
	bool is_reply = e->flags & CT_F_REPLY;
	char ip[INET_ADDRSTRLEN], tcp[48];
	int err = 0;

	if (!obj || !flags)
		goto fail;
	err |= cli_json_set(obj, "proto", json_object_new_string(ip_proto_name(ct->key.proto)));
	err |= cli_json_set(obj, "src", json_object_new_string(cli_ip(ct->key.saddr, ip)));
	err |= cli_json_set(obj, "sport", json_object_new_int(ntohs(ct->key.sport)));
	err |= cli_json_set(obj, "dst", json_object_new_string(cli_ip(ct->key.daddr, ip)));
	err |= cli_json_set(obj, "dport", json_object_new_int(ntohs(ct->key.dport)));
	/* The tuple packets of this direction leave with. */
	err |= cli_json_set(obj, "nat_src", json_object_new_string(cli_ip(e->nat_saddr, ip)));
	err |= cli_json_set(obj, "nat_sport", json_object_new_int(ntohs(e->nat_sport)));
	err |= cli_json_set(obj, "nat_dst", json_object_new_string(cli_ip(e->nat_daddr, ip)));
	err |= cli_json_set(obj, "nat_dport", json_object_new_int(ntohs(e->nat_dport)));
	err |= cli_json_set(obj, "ifindex", json_object_new_int64(e->ifindex));
	err |= cli_json_set(obj, "service", json_object_new_string(service));
	err |= cli_json_set(obj, "service_id", json_object_new_int64(e->svc_id));
	err |= cli_json_set(obj, "backend_id", json_object_new_int64(e->backend_id));
	err |= cli_json_set(obj, "expires_in_s",
			    json_object_new_int64(cli_expires_in_s(e->expires_ns)));
	for (size_t i = 0; i < sizeof(cli_ct_flag_names) / sizeof(cli_ct_flag_names[0]); i++)
		if (e->flags & cli_ct_flag_names[i].bit)
			err |= cli_json_append(flags,
					       json_object_new_string(cli_ct_flag_names[i].name));
	if (e->confirmed)
		err |= cli_json_append(flags, json_object_new_string("confirmed"));
	err |= cli_json_set(obj, "flags", flags);
	flags = NULL;
	cli_tcp_flags(e->tcp_flags, tcp, sizeof(tcp));
	err |= cli_json_set(obj, "tcp_flags", json_object_new_string(tcp));
	err |=
	    cli_json_set(obj, "direction", json_object_new_string(is_reply ? "reply" : "forward"));
	if (err)
		goto fail;
	return obj;

fail:
	json_object_put(flags);
	json_object_put(obj);
	return NULL;
}

int cli_ct_list(const struct cli_options *options)
{
	struct json_object *root = NULL, *array = NULL;
	struct cli_ct *entries = NULL;
	size_t n = 0, cap = 0;
	struct ct4_key key;
	struct ct_entry entry;
	struct lb4_revnat revnat;
	struct map_walk walk;
	int ct_fd, revnat_fd, err = 0;

	ct_fd = cli_open_map(options, CT4_MAP);
	if (ct_fd < 0)
		return ct_fd;
	/* Names are a nicety: without lb4_revnat the entries still list. */
	revnat_fd = bpffs_open_map(options->bpffs, LB4_REVNAT_MAP);
	map_walk_start(&walk, ct_fd, sizeof(key), sizeof(entry));
	while (map_walk_next(&walk, &key, &entry)) {
		if (n == cap) {
			size_t new_cap = cap ? cap * 2 : 256;
			struct cli_ct *grown = realloc(entries, new_cap * sizeof(*grown));

			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			entries = grown;
			cap = new_cap;
		}
		entries[n].key = key;
		entries[n].entry = entry;
		n++;
	}
	qsort(entries, n, sizeof(*entries), cli_ct_cmp);

	if (options->output == CLI_OUTPUT_JSON) {
		root = json_object_new_object();
		array = json_object_new_array();
		err = root ? cli_json_set(root, "connections", array) : -ENOMEM;
	}
	for (size_t i = 0; !err && i < n; i++) {
		const struct cli_ct *ct = &entries[i];
		const struct ct_entry *e = &ct->entry;
		bool has_revnat =
		    revnat_fd >= 0 && bpf_map_lookup_elem(revnat_fd, &e->svc_id, &revnat) == 0;
		char service[SLUICE_NAME_LEN] = "-", src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN],
		     nat[INET_ADDRSTRLEN], flags[80];

		if (has_revnat) {
			revnat.name[sizeof(revnat.name) - 1] = '\0';
			if (revnat.name[0])
				snprintf(service, sizeof(service), "%s", revnat.name);
		}
		if (options->output == CLI_OUTPUT_JSON) {
			err = cli_json_append(array, cli_ct_json(ct, service));
			continue;
		}
		cli_ip(ct->key.saddr, src);
		cli_ip(ct->key.daddr, dst);
		cli_ct_flags(e->flags, e->confirmed, flags, sizeof(flags));
		printf("%s %s:%u -> %s:%u ", ip_proto_name(ct->key.proto), src,
		       ntohs(ct->key.sport), dst, ntohs(ct->key.dport));
		printf("=> %s:%u -> ", cli_ip(e->nat_saddr, nat), ntohs(e->nat_sport));
		printf("%s:%u ", cli_ip(e->nat_daddr, nat), ntohs(e->nat_dport));
		int64_t expires = cli_expires_in_s(e->expires_ns);

		if (expires >= 0)
			printf("svc %s expires %llds", service, (long long)expires);
		else
			printf("svc %s expired", service);
		printf(" flags %s\n", flags[0] ? flags : "-");
	}
	if (!err && root)
		err = cli_json_print(root);

cleanup:
	if (err)
		log_fail("ct list: %s", strerror(-err));
	json_object_put(root);
	free(entries);
	if (revnat_fd >= 0)
		close(revnat_fd);
	close(ct_fd);
	return err;
}
