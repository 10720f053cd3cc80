/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every call of the snapshot manager into a machinery plugin goes through
 * the machinery client (core/plugins/machinery_client.h), which checks the
 * slot and the flags and names the plugin, the machine and the op in its
 * error; here the deadlines the manager gives each op, and the plugin's
 * error code turned into the manager's (a busy plugin is a conflict).
 */
#include "config.h"
#include "machinery_client.h"
#include "snapshot_manager_private.h"

static const NbxMachineryOp machinery_ops[] = {
	[SNAPSHOT_OP_BEGIN] = NBX_MACHINERY_OP_SNAPSHOT_BEGIN,
	[SNAPSHOT_OP_COMMIT] = NBX_MACHINERY_OP_SNAPSHOT_COMMIT,
	[SNAPSHOT_OP_ROLLBACK] = NBX_MACHINERY_OP_SNAPSHOT_ROLLBACK,
	[SNAPSHOT_OP_COPY_IN] = NBX_MACHINERY_OP_SNAPSHOT_COPY_IN,
	[SNAPSHOT_OP_FILES] = NBX_MACHINERY_OP_SNAPSHOT_FILES,
	[SNAPSHOT_OP_FINGERPRINT] = NBX_MACHINERY_OP_SNAPSHOT_FINGERPRINT,
	[SNAPSHOT_OP_IMPORT] = NBX_MACHINERY_OP_SNAPSHOT_IMPORT,
	[SNAPSHOT_OP_REMOVE] = NBX_MACHINERY_OP_SNAPSHOT_REMOVE,
};

static NbxOpContext
context_with(guint32 flags, gint64 timeout_s)
{
	return (NbxOpContext){
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
nbx_snapshot_has_op(const NbxMachine *machine, SnapshotOp op)
{
	return nbx_machinery_has(machine->machinery, machinery_ops[op]);
}

gboolean
nbx_snapshot_has_generations(const NbxMachine *machine)
{
	return nbx_machinery_has_generations(machine->machinery);
}

gboolean
nbx_snapshot_require_op(const SnapshotTarget *target, SnapshotOp op, GError **error)
{
	const char *name = nbx_machinery_op_name(machinery_ops[op]);

	if (nbx_snapshot_has_op(target->machine, op))
		return TRUE;
	g_set_error(error, NBX_SNAPSHOT_ERROR, NBX_SNAPSHOT_ERROR_NOT_SUPPORTED,
		    "machine %s: machinery %s does not support %s (it has no %s op)",
		    target->machine->machine.name, nbx_plugin_instance_name(target->machinery),
		    name, name);
	return FALSE;
}

/* The client's error (NBX_PLUGIN_ERROR, the plugin's code) as the manager's. */
static gboolean
snapshot_error(gboolean ok, GError *plugin_error, GError **error)
{
	NbxSnapshotError code = NBX_SNAPSHOT_ERROR_FAILED;

	if (ok)
		return TRUE;
	if (plugin_error->domain == NBX_PLUGIN_ERROR) {
		if (plugin_error->code == NBX_ERROR_NOT_SUPPORTED)
			code = NBX_SNAPSHOT_ERROR_NOT_SUPPORTED;
		else if (plugin_error->code == NBX_ERROR_INVALID)
			code = NBX_SNAPSHOT_ERROR_INVALID;
		else if (plugin_error->code == NBX_ERROR_BUSY)
			code = NBX_SNAPSHOT_ERROR_CONFLICT;
	}
	g_set_error_literal(error, NBX_SNAPSHOT_ERROR, code, plugin_error->message);
	g_error_free(plugin_error);
	return FALSE;
}

/* ---- the calls ---- */

static gboolean
session_op(const SnapshotTarget *target, SnapshotOp op, guint32 flags, gint64 timeout_s,
	   struct nbx_snapshot_session *args, GError **error)
{
	NbxOpContext context = context_with(flags, timeout_s);
	GError *plugin_error = NULL;

	return snapshot_error(nbx_machinery_session(target->machinery, machinery_ops[op],
						    &target->machine->machine, &context, args,
						    &plugin_error),
			      plugin_error, error);
}

gboolean
nbx_snapshot_plugin_begin(const SnapshotTarget *target, guint32 flags, gint64 timeout_s,
			  struct nbx_snapshot_session *args, GError **error)
{
	return session_op(target, SNAPSHOT_OP_BEGIN, flags, timeout_s, args, error);
}

gboolean
nbx_snapshot_plugin_commit(const SnapshotTarget *target, gint64 timeout_s,
			   struct nbx_snapshot_session *args, GError **error)
{
	return session_op(target, SNAPSHOT_OP_COMMIT, 0, timeout_s, args, error);
}

gboolean
nbx_snapshot_plugin_rollback(const SnapshotTarget *target, gint64 timeout_s,
			     struct nbx_snapshot_session *args, GError **error)
{
	return session_op(target, SNAPSHOT_OP_ROLLBACK, 0, timeout_s, args, error);
}

gboolean
nbx_snapshot_plugin_copy_in(const SnapshotTarget *target, struct nbx_snapshot_session *args,
			    const char *const *paths, GError **error)
{
	NbxOpContext context = context_with(0, SNAPSHOT_COPY_IN_TIMEOUT_S);
	GError *plugin_error = NULL;

	return snapshot_error(nbx_machinery_snapshot_copy_in(target->machinery,
							     &target->machine->machine, &context,
							     args, paths, &plugin_error),
			      plugin_error, error);
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
			  NbxSnapshotManifest *manifest, GError **error)
{
	NbxOpContext context = context_with(0, SNAPSHOT_SMALL_OP_TIMEOUT_S);
	GError *plugin_error = NULL;

	return snapshot_error(nbx_machinery_snapshot_files(target->machinery,
							   &target->machine->machine, &context,
							   dir, add_file, manifest, &plugin_error),
			      plugin_error, error);
}

gboolean
nbx_snapshot_plugin_fingerprint(const SnapshotTarget *target, guint32 flags, const char *dir,
				NbxSnapshotManifest *manifest, GError **error)
{
	NbxOpContext context = context_with(flags, SNAPSHOT_SMALL_OP_TIMEOUT_S);
	GError *plugin_error = NULL;

	return snapshot_error(nbx_machinery_snapshot_fingerprint(
				      target->machinery, &target->machine->machine, &context, dir,
				      add_fingerprint, manifest, &plugin_error),
			      plugin_error, error);
}

gboolean
nbx_snapshot_plugin_import(const SnapshotTarget *target, guint32 flags, const char *dir,
			   GError **error)
{
	NbxOpContext context = context_with(flags, SNAPSHOT_SMALL_OP_TIMEOUT_S);
	GError *plugin_error = NULL;

	return snapshot_error(nbx_machinery_generation_op(target->machinery,
							  NBX_MACHINERY_OP_SNAPSHOT_IMPORT,
							  &target->machine->machine, &context, dir,
							  &plugin_error),
			      plugin_error, error);
}

gboolean
nbx_snapshot_plugin_remove(NbxMachine *owner, const char *dir, GError **error)
{
	NbxOpContext context = context_with(0, SNAPSHOT_SMALL_OP_TIMEOUT_S);
	GError *plugin_error = NULL;

	return snapshot_error(nbx_machinery_generation_op(owner->machinery,
							  NBX_MACHINERY_OP_SNAPSHOT_REMOVE,
							  &owner->machine, &context, dir,
							  &plugin_error),
			      plugin_error, error);
}
