// SPDX-License-Identifier: Apache-2.0
/* The change list both sources emit: appended to in order, references held until freed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "loader/sources/change.h"

int k8s_change_list_push(struct k8s_change_list *list, enum k8s_change_type type,
			 enum k8s_kind kind, const char *namespace, const char *name,
			 struct k8s_object *object, uint32_t position)
{
	struct k8s_change *c;

	if (list->count == list->capacity) {
		size_t next = list->capacity ? list->capacity * 2 : 64;
		struct k8s_change *grown = realloc(list->items, next * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		list->items = grown;
		list->capacity = next;
	}
	c = &list->items[list->count++];
	c->type = type;
	c->kind = kind;
	snprintf(c->namespace, sizeof(c->namespace), "%s", namespace);
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->object = object;
	c->position = position;
	if (object)
		k8s_object_get(object);
	return 0;
}

void k8s_change_list_truncate(struct k8s_change_list *list, size_t count)
{
	while (list->count > count)
		k8s_object_put(list->items[--list->count].object);
}

void k8s_change_list_free(struct k8s_change_list *list)
{
	k8s_change_list_truncate(list, 0);
	free(list->items);
	list->items = NULL;
	list->capacity = 0;
	list->relisted = 0;
}
