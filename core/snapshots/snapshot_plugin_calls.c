/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every call of the snapshot manager into a machinery plugin, and every
 * look at its ops table: the slot checks, the deadlines, and the error
 * that names the plugin, the machine and the op.
 *
 * To be replaced by the core's machinery client (one function per op that
 * checks the slot and the flags, calls, and builds the prefixed error), as
 * the rest of the core's plugin calls are: until then this file is the one
 * place in core/snapshots/ that reaches into struct nbx_machinery_ops.
 */
#include "config.h"
#include "snapshot_manager_private.h"

static const struct {
	gsize offset;
	const char *name;
} op_slots[] = {
#define SLOT(op, slot) [op] = { G_STRUCT_OFFSET(struct nbx_machinery_ops, slot), #slot }
	SLOT(SNAPSHOT_OP_BEGIN, snapshot_begin),
	SLOT(SNAPSHOT_OP_COMMIT, snapshot_commit),
	SLOT(SNAPSHOT_OP_ROLLBACK, snapshot_rollback),
	SLOT(SNAPSHOT_OP_COPY_IN, snapshot_copy_in),
	SLOT(SNAPSHOT_OP_FILES, snapshot_files),
	SLOT(SNAPSHOT_OP_FINGERPRINT, snapshot_fingerprint),
	SLOT(SNAPSHOT_OP_IMPORT, snapshot_import),
	SLOT(SNAPSHOT_OP_REMOVE, snapshot_remove),
#undef SLOT
};

static const struct nbx_machinery_ops *
ops_of(const NbxPoolMachine *machine)
{
	return &machine->machinery->plugin->machinery;
}

static struct nbx_call
call_with(guint32 flags, gint64 timeout_s)
{
	return (struct nbx_call){
		.struct_size = sizeof(struct nbx_call),
		.flags = flags,
		.deadline_us = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC,
	};
}

const NbxSettings *
nbx_snapshot_settings(NbxSnapshotManager *manager)
{
	NbxSetup *setup = manager->host.get_setup(manager->host.user_data);

	return &setup->config->settings;
}

gboolean
nbx_snapshot_has_op(const NbxPoolMachine *machine, SnapshotOp op)
{
	return G_STRUCT_MEMBER(gpointer, ops_of(machine), op_slots[op].offset) != NULL;
}

gboolean
nbx_snapshot_has_generations(const NbxPoolMachine *machine)
{
	return nbx_snapshot_has_op(machine, SNAPSHOT_OP_COMMIT) ||
	       nbx_snapshot_has_op(machine, SNAPSHOT_OP_IMPORT);
}

gboolean
nbx_snapshot_require_op(const SnapshotTarget *target, SnapshotOp op, GError **error)
{
	if (nbx_snapshot_has_op(target->machine, op))
		return TRUE;
	g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_NOT_SUPPORTED,
		    "machine %s: machinery %s does not support %s (it has no %s op)",
		    target->machine->machine.name, nbx_plugin_instance_name(target->machinery),
		    op_slots[op].name, op_slots[op].name);
	return FALSE;
}

gboolean
nbx_snapshot_op_failed(const SnapshotTarget *target, SnapshotOp op, struct nbx_error *err,
		       GError **error)
{
	NbxSnapshotError code = NBX_SNAPSHOT_ERROR_FAILED;

	err->message[sizeof err->message - 1] = '\0';
	if (err->code == NBX_ERROR_NOT_SUPPORTED)
		code = NBX_SNAPSHOT_ERROR_NOT_SUPPORTED;
	else if (err->code == NBX_ERROR_INVALID)
		code = NBX_SNAPSHOT_ERROR_INVALID;
	else if (err->code == NBX_ERROR_BUSY)
		code = NBX_SNAPSHOT_ERROR_CONFLICT;
	g_set_error(error, NBX_SNAPSHOT_ERROR, code, "%s: machine %s: %s: %s",
		    nbx_plugin_instance_name(target->machinery), target->machine->machine.name,
		    op_slots[op].name,
		    err->message[0] != '\0' ? err->message : "failed (no reason given)");
	return FALSE;
}

/* ---- the calls ---- */

gboolean
nbx_snapshot_plugin_begin(const SnapshotTarget *target, guint32 flags, gint64 timeout_s,
			  struct nbx_snapshot_session *args, struct nbx_error *err)
{
	struct nbx_call call = call_with(flags, timeout_s);

	return ops_of(target->machine)->snapshot_begin(target->machinery->instance,
						       &target->machine->machine, &call, args, err);
}

gboolean
nbx_snapshot_plugin_commit(const SnapshotTarget *target, gint64 timeout_s,
			   struct nbx_snapshot_session *args, struct nbx_error *err)
{
	struct nbx_call call = call_with(0, timeout_s);

	return ops_of(target->machine)->snapshot_commit(target->machinery->instance,
							&target->machine->machine, &call, args, err);
}

gboolean
nbx_snapshot_plugin_rollback(const SnapshotTarget *target, gint64 timeout_s,
			     struct nbx_snapshot_session *args, struct nbx_error *err)
{
	struct nbx_call call = call_with(0, timeout_s);

	return ops_of(target->machine)->snapshot_rollback(target->machinery->instance,
							  &target->machine->machine, &call, args,
							  err);
}

gboolean
nbx_snapshot_plugin_copy_in(const SnapshotTarget *target, struct nbx_snapshot_session *args,
			    const char *const *paths, struct nbx_error *err)
{
	struct nbx_call call = call_with(0, SNAPSHOT_COPY_IN_TIMEOUT_S);

	return ops_of(target->machine)->snapshot_copy_in(target->machinery->instance,
							 &target->machine->machine, &call, args,
							 paths, err);
}

static bool
add_file(void *user_data, int32_t role, const char *path)
{
	nbx_snapshot_manifest_add_file(user_data, role, path);
	return true;
}

static bool
add_fingerprint(void *user_data, const char *key, const char *value)
{
	nbx_snapshot_manifest_add_fingerprint(user_data, key, value);
	return true;
}

gboolean
nbx_snapshot_plugin_files(const SnapshotTarget *target, const char *dir,
			  NbxSnapshotManifest *manifest, struct nbx_error *err)
{
	struct nbx_call call = call_with(0, SNAPSHOT_SMALL_OP_TIMEOUT_S);

	return ops_of(target->machine)->snapshot_files(target->machinery->instance,
						       &target->machine->machine, &call, dir,
						       add_file, manifest, err);
}

gboolean
nbx_snapshot_plugin_fingerprint(const SnapshotTarget *target, guint32 flags, const char *dir,
				NbxSnapshotManifest *manifest, struct nbx_error *err)
{
	struct nbx_call call = call_with(flags, SNAPSHOT_SMALL_OP_TIMEOUT_S);

	return ops_of(target->machine)->snapshot_fingerprint(target->machinery->instance,
							     &target->machine->machine, &call, dir,
							     add_fingerprint, manifest, err);
}

gboolean
nbx_snapshot_plugin_import(const SnapshotTarget *target, guint32 flags, const char *dir,
			   struct nbx_error *err)
{
	struct nbx_call call = call_with(flags, SNAPSHOT_SMALL_OP_TIMEOUT_S);

	return ops_of(target->machine)->snapshot_import(target->machinery->instance,
							&target->machine->machine, &call, dir, err);
}

gboolean
nbx_snapshot_plugin_remove(NbxPoolMachine *owner, const char *dir, struct nbx_error *err)
{
	struct nbx_call call = call_with(0, SNAPSHOT_SMALL_OP_TIMEOUT_S);

	return ops_of(owner)->snapshot_remove(owner->machinery->instance, &owner->machine, &call,
					      dir, err);
}
