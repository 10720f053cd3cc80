/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Inside the libvirt machinery: the instance, its connections and its
 * record of each machine. Not part of any ABI.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <nestbox/plugin.h>
#include <stdbool.h>

#include "connection.h"

typedef struct {
	const struct nbx_host *host;
	LvSettings settings;
	const char *dsn;
	/* Guards @connections and @machines: ops on different machines run at once. */
	GMutex lock;
	/* dsn -> LvConnection *, owned. */
	GHashTable *connections;
	/* dsn -> the machine node that first named it (NULL: the plugin's own dsn). */
	GHashTable *dsn_nodes;
	/* LvMachine *, owned. */
	GPtrArray *machines;
} Libvirt;

/* The dsn of a machine's configuration node (its own `dsn`, else the plugin's). */
const char *lv_dsn_of_node(Libvirt *lv, const struct nbx_config_node *machine_node);

/* The dsn of a machine (its own `dsn`, else the plugin's). */
const char *lv_dsn_of(Libvirt *lv, const struct nbx_machine *machine);

/* The connection of @dsn, made on first use; lv->lock held. */
LvConnection *lv_connection_for_locked(Libvirt *lv, const char *dsn,
				       const struct nbx_config_node *node);

/* The plugin's record of @machine (its connection), made on first use. */
LvMachine *lv_machine_of(Libvirt *lv, struct nbx_machine *machine);

/* Frees a record of lv_machine_of (the GDestroyNotify of lv->machines). */
void lv_machine_free(gpointer data);
