/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "machinery_client.h"

#include <string.h>

#include "call_context.h"
#include "plugin_ops.h"

/* What the client knows of each op: its slot, its name, the flag bits it takes. */
typedef struct {
	gsize offset;
	const char *name;
	guint32 known_flags;
} OpInfo;

static const OpInfo ops[NBX_MACHINERY_OP_COUNT] = {
#define OP(id, slot, flags)                                                              \
	[NBX_MACHINERY_OP_##id] = { G_STRUCT_OFFSET(struct nbx_machinery_ops, slot), #slot, \
				    (flags) }
	OP(RESTORE_START, restore_start, 0),
	OP(NORESTORE_START, norestore_start, 0),
	OP(STOP, stop, 0),
	OP(ACPI_STOP, acpi_stop, 0),
	OP(STATE, state, 0),
	OP(DUMP_MEMORY, dump_memory, 0),
	OP(HANDLE_PAUSED, handle_paused, 0),
	OP(SNAPSHOT_BEGIN, snapshot_begin, NBX_SNAPSHOT_COLD_BOOT),
	OP(SNAPSHOT_COMMIT, snapshot_commit, 0),
	OP(SNAPSHOT_ROLLBACK, snapshot_rollback, 0),
	OP(SNAPSHOT_COPY_IN, snapshot_copy_in, 0),
	OP(SNAPSHOT_FILES, snapshot_files, 0),
	OP(SNAPSHOT_FINGERPRINT, snapshot_fingerprint, NBX_SNAPSHOT_FINGERPRINT_HOST),
	OP(SNAPSHOT_IMPORT, snapshot_import, NBX_SNAPSHOT_IMPORT_MINIMAL),
	OP(SNAPSHOT_REMOVE, snapshot_remove, 0),
	OP(PREPARE, prepare, 0),
	OP(DISCARD, discard, 0),
#undef OP
};

static const struct nbx_machinery_ops *
table(const NbxPluginInstance *machinery)
{
	return nbx_plugin_machinery_ops(machinery->plugin);
}

const char *
nbx_machinery_op_name(NbxMachineryOp op)
{
	g_return_val_if_fail(op < NBX_MACHINERY_OP_COUNT, "unknown op");
	return ops[op].name;
}

gboolean
nbx_machinery_has(const NbxPluginInstance *machinery, NbxMachineryOp op)
{
	g_return_val_if_fail(op < NBX_MACHINERY_OP_COUNT, FALSE);
	return G_STRUCT_MEMBER(gconstpointer, table(machinery), ops[op].offset) != NULL;
}

gboolean
nbx_machinery_has_state_events(const NbxPluginInstance *machinery)
{
	return (table(machinery)->capabilities & NBX_MACHINERY_CAP_STATE_EVENTS) != 0;
}

gboolean
nbx_machinery_has_generations(const NbxPluginInstance *machinery)
{
	return nbx_machinery_has(machinery, NBX_MACHINERY_OP_SNAPSHOT_COMMIT) ||
	       nbx_machinery_has(machinery, NBX_MACHINERY_OP_SNAPSHOT_IMPORT);
}

gboolean
nbx_machinery_declares_machines(const NbxPluginInstance *machinery)
{
	return table(machinery)->load_machines != NULL;
}

/*
 * What every call begins with: the slot is filled, the flags are known.
 * Fills @call from @context and clears @err. FALSE with @error set when the
 * call must not be made.
 */
static gboolean
call_begin(const NbxPluginInstance *machinery, NbxMachineryOp op,
	   const struct nbx_machine *machine, const NbxOpContext *context,
	   struct nbx_call *call, struct nbx_error *err, GError **error)
{
	const char *plugin = nbx_plugin_instance_name(machinery);
	guint32 unknown = context->flags & ~ops[op].known_flags;

	if (!nbx_machinery_has(machinery, op)) {
		g_set_error(error, NBX_PLUGIN_ERROR, NBX_ERROR_NOT_SUPPORTED,
			    "%s: machine %s: %s: not supported by machinery %s (it has no %s op)",
			    plugin, machine->name, ops[op].name, plugin, ops[op].name);
		return FALSE;
	}
	if (unknown != 0) {
		g_set_error(error, NBX_PLUGIN_ERROR, NBX_ERROR_INVALID,
			    "%s: machine %s: %s: the core asked for flag bits 0x%x this op does "
			    "not take (a core bug)",
			    plugin, machine->name, ops[op].name, unknown);
		return FALSE;
	}
	nbx_call_from_context(call, context);
	/* Only plugins that keep generations are told one (machinery.h). */
	if (!nbx_machinery_has_generations(machinery))
		call->generation_dir = NULL;
	memset(err, 0, sizeof *err);
	return TRUE;
}

/* What every call ends with: a failure becomes one prefixed GError. */
static gboolean
call_end(const NbxPluginInstance *machinery, NbxMachineryOp op,
	 const struct nbx_machine *machine, bool ok, struct nbx_error *err, GError **error)
{
	return nbx_call_end(machinery, machine->name, ops[op].name, ok, err, error);
}

gboolean
nbx_machinery_call(NbxPluginInstance *machinery, NbxMachineryOp op, struct nbx_machine *machine,
		   const NbxOpContext *context, GError **error)
{
	bool (*slot)(void *, struct nbx_machine *, const struct nbx_call *, struct nbx_error *);
	struct nbx_error err;
	struct nbx_call call;

	switch (op) {
	case NBX_MACHINERY_OP_RESTORE_START:
	case NBX_MACHINERY_OP_NORESTORE_START:
	case NBX_MACHINERY_OP_STOP:
	case NBX_MACHINERY_OP_ACPI_STOP:
	case NBX_MACHINERY_OP_HANDLE_PAUSED:
	case NBX_MACHINERY_OP_PREPARE:
	case NBX_MACHINERY_OP_DISCARD:
		break;
	default:
		g_return_val_if_reached(FALSE);
	}
	if (!call_begin(machinery, op, machine, context, &call, &err, error))
		return FALSE;
	slot = G_STRUCT_MEMBER(gpointer, table(machinery), ops[op].offset);
	return call_end(machinery, op, machine, slot(machinery->instance, machine, &call, &err),
			&err, error);
}

gboolean
nbx_machinery_state(NbxPluginInstance *machinery, struct nbx_machine *machine,
		    const NbxOpContext *context, gint32 *state, char **reason, GError **error)
{
	const NbxMachineryOp op = NBX_MACHINERY_OP_STATE;
	struct nbx_error err;
	struct nbx_call call;
	int32_t value = NBX_MACHINE_UNKNOWN;
	bool ok;

	if (!call_begin(machinery, op, machine, context, &call, &err, error))
		return FALSE;
	ok = table(machinery)->state(machinery->instance, machine, &call, &value, &err);
	if (!call_end(machinery, op, machine, ok, &err, error))
		return FALSE;
	/* A value the core does not know counts as ERROR (machinery.h). */
	*state = value >= NBX_MACHINE_UNKNOWN && value <= NBX_MACHINE_ERROR ? value
									   : NBX_MACHINE_ERROR;
	if (reason != NULL)
		*reason = err.code != NBX_ERROR_NONE && err.message[0] != '\0'
				  ? g_strdup(err.message)
				  : NULL;
	return TRUE;
}

gboolean
nbx_machinery_dump_memory(NbxPluginInstance *machinery, struct nbx_machine *machine,
			  const NbxOpContext *context, const char *path, GError **error)
{
	const NbxMachineryOp op = NBX_MACHINERY_OP_DUMP_MEMORY;
	struct nbx_error err;
	struct nbx_call call;

	if (!call_begin(machinery, op, machine, context, &call, &err, error))
		return FALSE;
	return call_end(machinery, op, machine,
			table(machinery)->dump_memory(machinery->instance, machine, &call, path, &err),
			&err, error);
}

gboolean
nbx_machinery_session(NbxPluginInstance *machinery, NbxMachineryOp op,
		      struct nbx_machine *machine, const NbxOpContext *context,
		      struct nbx_snapshot_session *session, GError **error)
{
	bool (*slot)(void *, struct nbx_machine *, const struct nbx_call *,
		     struct nbx_snapshot_session *, struct nbx_error *);
	struct nbx_error err;
	struct nbx_call call;

	g_return_val_if_fail(op == NBX_MACHINERY_OP_SNAPSHOT_BEGIN ||
				     op == NBX_MACHINERY_OP_SNAPSHOT_COMMIT ||
				     op == NBX_MACHINERY_OP_SNAPSHOT_ROLLBACK,
			     FALSE);
	if (!call_begin(machinery, op, machine, context, &call, &err, error))
		return FALSE;
	slot = G_STRUCT_MEMBER(gpointer, table(machinery), ops[op].offset);
	return call_end(machinery, op, machine,
			slot(machinery->instance, machine, &call, session, &err), &err, error);
}

gboolean
nbx_machinery_snapshot_copy_in(NbxPluginInstance *machinery, struct nbx_machine *machine,
			       const NbxOpContext *context, struct nbx_snapshot_session *session,
			       const char *const *paths, GError **error)
{
	const NbxMachineryOp op = NBX_MACHINERY_OP_SNAPSHOT_COPY_IN;
	struct nbx_error err;
	struct nbx_call call;

	if (!call_begin(machinery, op, machine, context, &call, &err, error))
		return FALSE;
	return call_end(machinery, op, machine,
			table(machinery)->snapshot_copy_in(machinery->instance, machine, &call,
							   session, paths, &err),
			&err, error);
}

gboolean
nbx_machinery_snapshot_files(NbxPluginInstance *machinery, struct nbx_machine *machine,
			     const NbxOpContext *context, const char *generation_dir,
			     nbx_snapshot_file_fn emit, void *emit_data, GError **error)
{
	const NbxMachineryOp op = NBX_MACHINERY_OP_SNAPSHOT_FILES;
	struct nbx_error err;
	struct nbx_call call;

	if (!call_begin(machinery, op, machine, context, &call, &err, error))
		return FALSE;
	return call_end(machinery, op, machine,
			table(machinery)->snapshot_files(machinery->instance, machine, &call,
							 generation_dir, emit, emit_data, &err),
			&err, error);
}

gboolean
nbx_machinery_snapshot_fingerprint(NbxPluginInstance *machinery, struct nbx_machine *machine,
				   const NbxOpContext *context, const char *generation_dir,
				   nbx_snapshot_fingerprint_fn emit, void *emit_data,
				   GError **error)
{
	const NbxMachineryOp op = NBX_MACHINERY_OP_SNAPSHOT_FINGERPRINT;
	struct nbx_error err;
	struct nbx_call call;

	if (!call_begin(machinery, op, machine, context, &call, &err, error))
		return FALSE;
	return call_end(machinery, op, machine,
			table(machinery)->snapshot_fingerprint(machinery->instance, machine, &call,
							       generation_dir, emit, emit_data,
							       &err),
			&err, error);
}

gboolean
nbx_machinery_generation_op(NbxPluginInstance *machinery, NbxMachineryOp op,
			    struct nbx_machine *machine, const NbxOpContext *context,
			    const char *generation_dir, GError **error)
{
	bool (*slot)(void *, struct nbx_machine *, const struct nbx_call *, const char *,
		     struct nbx_error *);
	struct nbx_error err;
	struct nbx_call call;

	g_return_val_if_fail(op == NBX_MACHINERY_OP_SNAPSHOT_IMPORT ||
				     op == NBX_MACHINERY_OP_SNAPSHOT_REMOVE,
			     FALSE);
	if (!call_begin(machinery, op, machine, context, &call, &err, error))
		return FALSE;
	slot = G_STRUCT_MEMBER(gpointer, table(machinery), ops[op].offset);
	return call_end(machinery, op, machine,
			slot(machinery->instance, machine, &call, generation_dir, &err), &err,
			error);
}

void
nbx_machinery_free_machine(NbxPluginInstance *machinery, struct nbx_machine *machine)
{
	if (table(machinery)->free_machine != NULL)
		table(machinery)->free_machine(machinery->instance, machine);
}

gboolean
nbx_machinery_check_machine(NbxPluginInstance *machinery, struct nbx_machine *machine,
			    struct nbx_check *check, GError **error)
{
	struct nbx_error err = { 0 };

	if (table(machinery)->check_machine == NULL ||
	    table(machinery)->check_machine(machinery->instance, machine, check, &err))
		return TRUE;
	nbx_plugin_error_propagate(error, machinery, machine->name, "check_machine", &err);
	return FALSE;
}

gboolean
nbx_machinery_load_machines(NbxPluginInstance *machinery, struct nbx_machine_loader *loader,
			    GError **error)
{
	struct nbx_error err = { 0 };

	if (table(machinery)->load_machines(machinery->instance, loader, &err))
		return TRUE;
	nbx_plugin_error_propagate(error, machinery, NULL, "load_machines", &err);
	return FALSE;
}
