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
