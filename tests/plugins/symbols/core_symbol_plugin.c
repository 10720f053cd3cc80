/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A plugin that reaches for a symbol of the core instead of the host
 * table: check-plugin-symbols.py must refuse it, which proves the check
 * can fail. Linked without -Wl,--no-undefined on purpose; never loaded.
 */
#include <nestbox/plugin.h>

/* A function of the core's (core/plugins/plugin_loader.c), not of the ABI. */
extern const char *nbx_plugin_kind_name(uint32_t kind);

static bool
op_state(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	 int32_t *state, struct nbx_error *err)
{
	*state = nbx_plugin_kind_name(1) != NULL ? NBX_MACHINE_POWEROFF : NBX_MACHINE_ERROR;
	return true;
}

static bool
op_ok(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
      struct nbx_error *err)
{
	return true;
}

static const struct nbx_machinery_ops ops = {
	.struct_size = sizeof(struct nbx_machinery_ops),
	.restore_start = op_ok,
	.stop = op_ok,
	.state = op_state,
};

NBX_PLUGIN_DEFINE(.kind = NBX_PLUGIN_MACHINERY, .name = "core-symbol", .version = "1.0",
		  .description = "reaches for a core symbol on purpose", .ops.machinery = &ops);
