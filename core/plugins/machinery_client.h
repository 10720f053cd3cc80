/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The machinery client: the ONLY code of the core that calls a machinery
 * plugin's machine ops, one function per op, in the spirit of libvirt's
 * libvirt-domain.c. Each function clears the plugin's error, checks that
 * the slot is filled (an empty one is NBX_ERROR_NOT_SUPPORTED, said by the
 * core: "qemu: machine m1: dump_memory: not supported by machinery qemu"),
 * refuses flag bits the op does not know before the plugin sees them, fills
 * `struct nbx_call`, calls, and turns a failure into ONE GError in the
 * NBX_PLUGIN_ERROR domain, its code the plugin's `enum nbx_error_code`, its
 * message "PLUGIN: machine NAME: OP: what the plugin said".
 *
 * The functions block; they run on whatever thread calls them (the op
 * runner's workers, op_runner.h). They know nothing of deadlines beyond
 * handing the plugin the one in @context.
 */
#pragma once

#include <glib.h>
#include <nestbox/plugin.h>

#include "plugin_instance.h"

/* Every machine op a machinery may have. */
typedef enum {
	NBX_MACHINERY_OP_RESTORE_START,
	NBX_MACHINERY_OP_NORESTORE_START,
	NBX_MACHINERY_OP_STOP,
	NBX_MACHINERY_OP_ACPI_STOP,
	NBX_MACHINERY_OP_STATE,
	NBX_MACHINERY_OP_DUMP_MEMORY,
	NBX_MACHINERY_OP_HANDLE_PAUSED,
	NBX_MACHINERY_OP_SNAPSHOT_BEGIN,
	NBX_MACHINERY_OP_SNAPSHOT_COMMIT,
	NBX_MACHINERY_OP_SNAPSHOT_ROLLBACK,
	NBX_MACHINERY_OP_SNAPSHOT_COPY_IN,
	NBX_MACHINERY_OP_SNAPSHOT_FILES,
	NBX_MACHINERY_OP_SNAPSHOT_FINGERPRINT,
	NBX_MACHINERY_OP_SNAPSHOT_IMPORT,
	NBX_MACHINERY_OP_SNAPSHOT_REMOVE,
	NBX_MACHINERY_OP_PREPARE,
	NBX_MACHINERY_OP_DISCARD,
	NBX_MACHINERY_OP_COUNT,
} NbxMachineryOp;

/* The op's name as plugins and messages spell it ("restore_start"). */
const char *nbx_machinery_op_name(NbxMachineryOp op);

/* Whether @machinery fills the slot of @op. */
gboolean nbx_machinery_has(const NbxPluginInstance *machinery, NbxMachineryOp op);

/* Whether it reports state changes itself (NBX_MACHINERY_CAP_STATE_EVENTS). */
gboolean nbx_machinery_has_state_events(const NbxPluginInstance *machinery);

/* Whether it keeps snapshot generations (it has snapshot_commit or snapshot_import). */
gboolean nbx_machinery_has_generations(const NbxPluginInstance *machinery);

/* The ops that only take the machine and the call. */
gboolean nbx_machinery_call(NbxPluginInstance *machinery, NbxMachineryOp op,
			    struct nbx_machine *machine, const NbxOpContext *context,
			    GError **error);

/*
 * `state`: *@state gets an `enum nbx_machine_state`; a crashed machine is
 * NBX_MACHINE_ERROR with the plugin's reason in *@reason (g_free; NULL when
 * it gave none), and a TRUE return.
 */
gboolean nbx_machinery_state(NbxPluginInstance *machinery, struct nbx_machine *machine,
			     const NbxOpContext *context, gint32 *state, char **reason,
			     GError **error);

gboolean nbx_machinery_dump_memory(NbxPluginInstance *machinery, struct nbx_machine *machine,
				   const NbxOpContext *context, const char *path, GError **error);

/* The session ops: begin, commit, rollback. */
gboolean nbx_machinery_session(NbxPluginInstance *machinery, NbxMachineryOp op,
			       struct nbx_machine *machine, const NbxOpContext *context,
			       struct nbx_snapshot_session *session, GError **error);

gboolean nbx_machinery_snapshot_copy_in(NbxPluginInstance *machinery,
					struct nbx_machine *machine, const NbxOpContext *context,
					struct nbx_snapshot_session *session,
					const char *const *paths, GError **error);

gboolean nbx_machinery_snapshot_files(NbxPluginInstance *machinery, struct nbx_machine *machine,
				      const NbxOpContext *context, const char *generation_dir,
				      nbx_snapshot_file_fn emit, void *emit_data, GError **error);

gboolean nbx_machinery_snapshot_fingerprint(NbxPluginInstance *machinery,
					    struct nbx_machine *machine,
					    const NbxOpContext *context,
					    const char *generation_dir,
					    nbx_snapshot_fingerprint_fn emit, void *emit_data,
					    GError **error);

/* `snapshot_import` and `snapshot_remove`: a generation directory. */
gboolean nbx_machinery_generation_op(NbxPluginInstance *machinery, NbxMachineryOp op,
				     struct nbx_machine *machine, const NbxOpContext *context,
				     const char *generation_dir, GError **error);

/* `free_machine`, when the plugin has it (the main thread, before `shutdown`). */
void nbx_machinery_free_machine(NbxPluginInstance *machinery, struct nbx_machine *machine);

/*
 * `check_machine`, when the plugin has it: problems go to @check; FALSE with
 * @error when checking itself failed.
 */
gboolean nbx_machinery_check_machine(NbxPluginInstance *machinery, struct nbx_machine *machine,
				     struct nbx_check *check, GError **error);

/* `load_machines`; FALSE with @error when the plugin could not declare them. */
gboolean nbx_machinery_load_machines(NbxPluginInstance *machinery,
				     struct nbx_machine_loader *loader, GError **error);

/* Whether the plugin declares its machines itself (it has `load_machines`). */
gboolean nbx_machinery_declares_machines(const NbxPluginInstance *machinery);
