/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What `nestbox snapshot status` shows: every base, its machines, generations and session. */
#include "durable_file.h"
#include "json_file.h"
#include "snapshot_manager_private.h"

/* A generation's directory, size, origin and time, from its record. */
static void
generation_on_disk_json(JsonObject *object, const char *dir)
{
	g_autofree char *meta_path = g_build_filename(dir, SNAPSHOT_META_FILE, NULL);
	g_autoptr(JsonObject) meta = nbx_json_read_object_file(meta_path);

	json_object_set_string_member(object, "dir", dir);
	json_object_set_int_member(object, "bytes", (gint64)nbx_tree_bytes(dir));
	json_object_set_string_member(
		object, "origin",
		meta != NULL ? json_object_get_string_member_with_default(meta, "origin", "?") : "?");
	json_object_set_string_member(
		object, "created",
		meta != NULL ? json_object_get_string_member_with_default(meta, "created", "") : "");
	json_object_set_boolean_member(
		object, "cold_boot",
		meta != NULL && json_object_get_boolean_member_with_default(meta, "cold_boot", FALSE));
}

static JsonObject *
generation_json(const SnapshotBase *base, gint64 generation)
{
	JsonObject *object = json_object_new();
	g_autofree char *dir =
		generation > 0 ? nbx_snapshot_generation_dir(base, generation) : NULL;

	json_object_set_int_member(object, "generation", generation);
	json_object_set_boolean_member(object, "current", generation == base->current);
	json_object_set_int_member(object, "users", nbx_snapshot_generation_users(base, generation));
	if (dir == NULL) {
		json_object_set_string_member(object, "origin", "configuration");
		json_object_set_null_member(object, "dir");
		json_object_set_null_member(object, "bytes");
		json_object_set_boolean_member(object, "cold_boot", FALSE);
	} else {
		generation_on_disk_json(object, dir);
	}
	return object;
}

static gint
compare_int64(gconstpointer a, gconstpointer b)
{
	gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

	return x < y ? -1 : x > y;
}

/* Generation 0 and every gen-N of @base, oldest first. */
static JsonArray *
generations_json(const SnapshotBase *base)
{
	JsonArray *generations = json_array_new();
	g_autoptr(GArray) numbers = g_array_new(FALSE, FALSE, sizeof(gint64));
	g_autoptr(GDir) dir = g_dir_open(base->dir, 0, NULL);
	const char *entry;
	gint64 zero = 0;

	g_array_append_val(numbers, zero);
	while (dir != NULL && (entry = g_dir_read_name(dir)) != NULL) {
		gint64 n = nbx_snapshot_generation_of_name(entry);

		if (n > 0)
			g_array_append_val(numbers, n);
	}
	g_array_sort(numbers, compare_int64);
	for (guint g = 0; g < numbers->len; g++)
		json_array_add_object_element(
			generations, generation_json(base, g_array_index(numbers, gint64, g)));
	return generations;
}

/* One base: @machines (JSON array) restore from it; the lock held. */
static JsonObject *
base_json(NbxSnapshotManager *manager, NbxSetup *setup, const char *name, JsonArray *machines)
{
	SnapshotBase *base = nbx_snapshot_base_get_locked(manager, name);
	NbxMachine *owner = nbx_machine_pool_lookup(setup->pool, name);
	JsonObject *object = json_object_new();

	json_object_set_string_member(object, "base", name);
	json_object_set_string_member(object, "machinery",
				      owner != NULL ? nbx_plugin_instance_name(owner->machinery)
						    : "");
	json_object_set_array_member(object, "machines", json_array_ref(machines));
	json_object_set_int_member(object, "current", base->current);
	json_object_set_array_member(object, "generations", generations_json(base));
	json_object_set_boolean_member(object, "busy", base->busy);
	if (base->session != NULL)
		json_object_set_object_member(object, "session",
					      nbx_snapshot_session_to_json(base->session));
	else
		json_object_set_null_member(object, "session");
	return object;
}

/* Base name -> JSON array of its machines' names, the bases in @order as first seen. */
static GHashTable *
machines_by_base(NbxSetup *setup, GPtrArray *order)
{
	GHashTable *machines_of = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
							(GDestroyNotify)json_array_unref);

	for (guint i = 0; i < setup->pool->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(setup->pool->machines, i);
		const char *base = nbx_pool_machine_base(machine);
		JsonArray *list;

		if (!nbx_snapshot_has_generations(machine))
			continue;
		list = g_hash_table_lookup(machines_of, base);
		if (list == NULL) {
			list = json_array_new();
			g_hash_table_insert(machines_of, (gpointer)base, list);
			g_ptr_array_add(order, (gpointer)base);
		}
		json_array_add_string_element(list, machine->machine.name);
	}
	return machines_of;
}

JsonNode *
nbx_snapshot_manager_status(NbxSnapshotManager *manager)
{
	NbxSetup *setup = manager->host.get_setup(manager->host.user_data);
	g_autoptr(GPtrArray) order = g_ptr_array_new();
	g_autoptr(GHashTable) machines_of = machines_by_base(setup, order);
	JsonArray *bases = json_array_new();
	JsonObject *root = json_object_new();
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);

	g_mutex_lock(&manager->lock);
	for (guint i = 0; i < order->len; i++) {
		const char *name = g_ptr_array_index(order, i);

		JsonArray *machines = g_hash_table_lookup(machines_of, name);

		json_array_add_object_element(bases, base_json(manager, setup, name, machines));
	}
	g_mutex_unlock(&manager->lock);
	json_object_set_array_member(root, "bases", bases);
	json_node_take_object(node, root);
	return node;
}
