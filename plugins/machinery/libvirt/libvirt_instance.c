/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libvirt machinery's instance: its connections (one per distinct dsn)
 * and its record of each machine. Shared by the ops (libvirt_machinery.c),
 * the domain-op helpers (domain_op.c) and the snapshot generations.
 */
#include "libvirt_instance.h"

const char *
lv_dsn_of_node(Libvirt *lv, const struct nbx_config_node *machine_node)
{
	const char *dsn = NULL;

	if (machine_node != NULL)
		dsn = lv->host->config_string(lv->host, machine_node, "dsn");
	return dsn != NULL ? dsn : lv->dsn;
}

const char *
lv_dsn_of(Libvirt *lv, const struct nbx_machine *machine)
{
	return lv_dsn_of_node(lv, machine->config);
}

/* The connection of @dsn, made on first use; lv->lock held. */
LvConnection *
lv_connection_for_locked(Libvirt *lv, const char *dsn, const struct nbx_config_node *node)
{
	LvConnection *c = g_hash_table_lookup(lv->connections, dsn);

	if (c == NULL) {
		c = lv_connection_new(&lv->settings, dsn);
		g_hash_table_insert(lv->connections, g_strdup(dsn), c);
		g_hash_table_insert(lv->dsn_nodes, g_strdup(dsn), (gpointer)node);
	}
	return c;
}


void
lv_machine_free(gpointer data)
{
	LvMachine *m = data;

	g_mutex_clear(&m->start_lock);
	g_free(m);
}


LvMachine *
lv_machine_of(Libvirt *lv, struct nbx_machine *machine)
{
	LvMachine *m;

	g_mutex_lock(&lv->lock);
	m = machine->plugin_data;
	if (m == NULL) {
		m = g_new0(LvMachine, 1);
		m->machine = machine;
		g_mutex_init(&m->start_lock);
		m->connection = lv_connection_for_locked(lv, lv_dsn_of_node(lv, machine->config),
							 machine->config);
		lv_connection_add_machine(m->connection, m);
		g_ptr_array_add(lv->machines, m);
		machine->plugin_data = m;
	}
	g_mutex_unlock(&lv->lock);
	return m;
}
