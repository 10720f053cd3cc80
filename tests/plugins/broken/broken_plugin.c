/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One deliberately broken plugin per refusal of the loader, chosen with
 * -DBROKEN_<what>. Each must be refused with its own message while the
 * good plugins beside it still load.
 */
#include <nestbox/plugin.h>

static bool __attribute__((unused))
op_ok(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
      struct nbx_error *err)
{
	return true;
}

static bool __attribute__((unused))
op_state(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	 int32_t *state, struct nbx_error *err)
{
	*state = NBX_MACHINE_POWEROFF;
	return true;
}

static const struct nbx_machinery_ops ops __attribute__((unused)) = {
	.struct_size = sizeof(struct nbx_machinery_ops),
	.restore_start = op_ok,
#ifndef BROKEN_MISSING_OPS
	.stop = op_ok,
	.state = op_state,
#endif
};

#ifdef BROKEN_SCHEMA
static const struct nbx_config_field fields[] = {
	{ .name = "port", .type = NBX_FIELD_INTEGER, .min = 10, .max = 1, .doc = "A port" },
	{ 0 },
};
static const struct nbx_config_schema schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = fields,
};
#define SCHEMA &schema
#else
#define SCHEMA NULL
#endif

#ifndef BROKEN_NAME
#define BROKEN_NAME "broken"
#endif

#ifdef BROKEN_GUEST_MISSING_OPS
static bool
guest_connect(void *instance, const struct nbx_guest_context *context, void **session,
	      struct nbx_guest_info *info, const struct nbx_call *call, struct nbx_error *err)
{
	return true;
}

/* A guest plugin with only `connect`: disconnect, upload and execute are required. */
static const struct nbx_guest_ops guest_ops = {
	.struct_size = sizeof(struct nbx_guest_ops),
	.connect = guest_connect,
};
#endif

#if defined(BROKEN_TASK_SCHEMA) || defined(BROKEN_MACHINERY_TASK_SCHEMA)
static bool
aux_start(void *instance, const struct nbx_aux_context *context, void **analysis_data,
	  const struct nbx_call *call, struct nbx_error *err)
{
	return true;
}

static bool
aux_stop(void *instance, const struct nbx_aux_context *context, void *analysis_data,
	 const struct nbx_call *call, struct nbx_error *err)
{
	return true;
}

static const struct nbx_auxiliary_ops aux_ops __attribute__((unused)) = {
	.struct_size = sizeof(struct nbx_auxiliary_ops),
	.start = aux_start,
	.stop = aux_stop,
};

/* A task's options come from clients: a host path in them is refused. */
static const struct nbx_config_field task_fields[] = {
	{ .name = "script", .type = NBX_FIELD_FILE, .doc = "A host file" },
	{ 0 },
};
static const struct nbx_config_schema task_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = task_fields,
};
#endif

#if defined(BROKEN_NO_DESCRIPTOR)
/* Exports something, but not the descriptor. */
__attribute__((visibility("default"))) int not_a_descriptor = 1;
#elif defined(BROKEN_ABI_MAJOR) || defined(BROKEN_ABI_MINOR) || defined(BROKEN_STRUCT_SIZE)
NBX_PLUGIN_EXPORT extern const struct nbx_plugin_descriptor nestbox_plugin_descriptor;
NBX_PLUGIN_EXPORT const struct nbx_plugin_descriptor nestbox_plugin_descriptor = {
#ifdef BROKEN_ABI_MAJOR
	.abi_major = NBX_ABI_MAJOR + 1,
#else
	.abi_major = NBX_ABI_MAJOR,
#endif
#ifdef BROKEN_ABI_MINOR
	.abi_minor = NBX_ABI_MINOR + 1,
#else
	.abi_minor = NBX_ABI_MINOR,
#endif
#ifdef BROKEN_STRUCT_SIZE
	.struct_size = 16,
#else
	.struct_size = sizeof(struct nbx_plugin_descriptor),
#endif
	.kind = NBX_PLUGIN_MACHINERY,
	.name = BROKEN_NAME,
	.version = "1.0",
	.description = "broken on purpose",
	.ops.machinery = &ops,
};
#elif defined(BROKEN_GUEST_MISSING_OPS)
NBX_PLUGIN_DEFINE(.kind = NBX_PLUGIN_GUEST, .name = BROKEN_NAME, .version = "1.0",
		  .description = "broken on purpose", .ops.guest = &guest_ops);
#elif defined(BROKEN_GUEST_OLD_ABI)
/* A guest plugin that claims ABI 1.1, before guest plugins existed. */
NBX_PLUGIN_EXPORT extern const struct nbx_plugin_descriptor nestbox_plugin_descriptor;
NBX_PLUGIN_EXPORT const struct nbx_plugin_descriptor nestbox_plugin_descriptor = {
	.abi_major = NBX_ABI_MAJOR,
	.abi_minor = 1,
	.struct_size = sizeof(struct nbx_plugin_descriptor),
	.kind = NBX_PLUGIN_GUEST,
	.name = BROKEN_NAME,
	.version = "1.0",
	.description = "broken on purpose",
	.ops.machinery = &ops,
};
#elif defined(BROKEN_TASK_SCHEMA)
NBX_PLUGIN_DEFINE(.kind = NBX_PLUGIN_AUXILIARY, .name = BROKEN_NAME, .version = "1.0",
		  .description = "broken on purpose", .ops.auxiliary = &aux_ops,
		  .task_schema = &task_schema);
#elif defined(BROKEN_MACHINERY_TASK_SCHEMA)
NBX_PLUGIN_DEFINE(.kind = NBX_PLUGIN_MACHINERY, .name = BROKEN_NAME, .version = "1.0",
		  .description = "broken on purpose", .ops.machinery = &ops,
		  .task_schema = &task_schema);
#else
NBX_PLUGIN_DEFINE(
#ifdef BROKEN_KIND
	.kind = 7,
#else
	.kind = NBX_PLUGIN_MACHINERY,
#endif
	.name = BROKEN_NAME, .version = "1.0", .description = "broken on purpose",
	.config_schema = SCHEMA, .ops.machinery = &ops);
#endif
