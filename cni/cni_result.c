// SPDX-License-Identifier: Apache-2.0
/* sluice-cni output: ADD result, VERSION reply and the spec's error object, shaped per version. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cni/cni_result.h"

static struct json_object *cni_json_mac(const unsigned char mac[6])
{
	char buf[18];

	snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
	return json_object_new_string(buf);
}

static struct json_object *cni_json_addr(struct in_addr address, int prefix)
{
	char buf[INET_ADDRSTRLEN + 4];

	inet_ntop(AF_INET, &address, buf, INET_ADDRSTRLEN);
	if (prefix >= 0)
		snprintf(buf + strlen(buf), 4, "/%d", prefix);
	return json_object_new_string(buf);
}

static int cni_print_json(FILE *out, struct json_object *obj)
{
	const char *s;

	if (!obj)
		return -ENOMEM;
	s = json_object_to_json_string_ext(obj,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		return -ENOMEM;
	if (fprintf(out, "%s\n", s) < 0 || fflush(out))
		return -EIO;
	return 0;
}

int cni_print_result(FILE *out, const struct cni_config *cfg, const struct cni_add_result *r)
{
	struct json_object *root, *interfaces, *iface, *ips, *ip, *routes, *route;
	bool is_1x = cni_version_is_1x(cfg->cni_version);
	bool has_mtu = !strcmp(cfg->cni_version, "1.1.0"); /* interface mtu is new in 1.1 */
	int err;

	root = json_object_new_object();
	json_object_object_add(root, "cniVersion", json_object_new_string(cfg->cni_version));

	interfaces = json_object_new_array();
	iface = json_object_new_object();
	json_object_object_add(iface, "name", json_object_new_string(r->host_ifname));
	json_object_object_add(iface, "mac", cni_json_mac(r->host_mac));
	if (has_mtu)
		json_object_object_add(iface, "mtu", json_object_new_int((int)r->mtu));
	json_object_array_add(interfaces, iface);
	iface = json_object_new_object();
	json_object_object_add(iface, "name", json_object_new_string(r->pod_ifname));
	json_object_object_add(iface, "mac", cni_json_mac(r->pod_mac));
	if (has_mtu)
		json_object_object_add(iface, "mtu", json_object_new_int((int)r->mtu));
	json_object_object_add(iface, "sandbox", json_object_new_string(r->netns));
	json_object_array_add(interfaces, iface);
	json_object_object_add(root, "interfaces", interfaces);

	ips = json_object_new_array();
	ip = json_object_new_object();
	/* 0.3.x and 0.4.0 results name the IP version; 1.0 dropped the field. */
	if (!is_1x)
		json_object_object_add(ip, "version", json_object_new_string("4"));
	json_object_object_add(ip, "address", cni_json_addr(r->address, 32));
	json_object_object_add(ip, "gateway", cni_json_addr(r->gateway, -1));
	json_object_object_add(ip, "interface", json_object_new_int(1));
	json_object_array_add(ips, ip);
	json_object_object_add(root, "ips", ips);

	routes = json_object_new_array();
	route = json_object_new_object();
	json_object_object_add(route, "dst", json_object_new_string("0.0.0.0/0"));
	json_object_object_add(route, "gw", cni_json_addr(r->gateway, -1));
	json_object_array_add(routes, route);
	json_object_object_add(root, "routes", routes);

	if (cfg->dns)
		json_object_object_add(root, "dns", json_object_get(cfg->dns));

	err = cni_print_json(out, root);
	json_object_put(root);
	return err;
}

int cni_print_version(FILE *out, const char *requested_version)
{
	struct json_object *root, *list;
	int err;

	root = json_object_new_object();
	json_object_object_add(root, "cniVersion",
			       json_object_new_string(cni_version_is_supported(requested_version)
							  ? requested_version
							  : CNI_VERSION_LATEST));
	list = json_object_new_array();
	for (int i = 0; cni_supported_versions[i]; i++)
		json_object_array_add(list, json_object_new_string(cni_supported_versions[i]));
	json_object_object_add(root, "supportedVersions", list);
	err = cni_print_json(out, root);
	json_object_put(root);
	return err;
}

int cni_print_error(FILE *out, const char *version, const struct cni_error *err)
{
	struct json_object *root;
	int ret;

	root = json_object_new_object();
	json_object_object_add(root, "cniVersion",
			       json_object_new_string(cni_version_is_supported(version)
							  ? version
							  : CNI_VERSION_LATEST));
	json_object_object_add(root, "code", json_object_new_int(err->code ? err->code : 999));
	json_object_object_add(root, "msg",
			       json_object_new_string(err->msg[0] ? err->msg : "unknown error"));
	if (err->details[0])
		json_object_object_add(root, "details", json_object_new_string(err->details));
	ret = cni_print_json(out, root);
	json_object_put(root);
	return ret;
}
