/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The decoder of each kind, for loader/k8s/objects.c to dispatch to once the metadata is read
 * (namespace, name and labels set in object, ctx naming it). Each returns 0, -EINVAL with every
 * problem reported through ctx, or -ENOMEM. Internal to loader/k8s/.
 */
#ifndef SLUICE_K8S_DECODERS_H
#define SLUICE_K8S_DECODERS_H

#include "loader/k8s/fields.h"
#include "loader/k8s/objects.h"
#include "loader/k8s/yaml_tree.h"

/* loader/k8s/service.c */
int k8s_service_decode(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
		       struct k8s_object *object);
/* loader/k8s/slice.c */
int k8s_slice_decode(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
		     struct k8s_object *object);
/* loader/k8s/pod.c */
int k8s_pod_decode(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
		   struct k8s_object *object);
/* loader/k8s/node.c */
int k8s_namespace_decode(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
			 struct k8s_object *object);
int k8s_node_decode(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
		    struct k8s_object *object);

#endif
