/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * "declarer": a machinery that overrides load_machines and declares
 * `count` machines itself, as a libvirt machinery might from its domains.
 */
#include <nestbox/plugin.h>
#include <stdio.h>

struct declarer {
	const struct nbx_host *host;
};
static struct declarer the_declarer;

static const struct nbx_config_field declarer_fields[] = {
	{ .name = "count", .type = NBX_FIELD_INTEGER, .min = 0, .max = 100, .default_value = "2",
	  .doc = "How many machines to declare" },
	{ .name = "prefix", .type = NBX_FIELD_STRING, .default_value = "decl",
	  .doc = "Name prefix of the declared machines" },
	{ 0 },
};
static const struct nbx_config_schema declarer_schema = {
	.struct_size = sizeof(struct nbx_config_schema),
	.field_size = sizeof(struct nbx_config_field),
	.fields = declarer_fields,
};

static bool
declarer_init(const struct nbx_host *host, void **instance, struct nbx_error *err)
{
	the_declarer.host = host;
	*instance = &the_declarer;
	return true;
}

static bool
declarer_load_machines(void *instance, struct nbx_machine_loader *loader, struct nbx_error *err)
{
	struct declarer *d = instance;
	const char *prefix = d->host->config_string(d->host, NULL, "prefix");
	static const char *const tags[] = { "declared", NULL };
	int64_t count = 0;

	d->host->config_integer(d->host, NULL, "count", &count);
	for (int64_t i = 0; i < count; i++) {
		char name[64], ip[32];

		snprintf(name, sizeof name, "%s%d", prefix, (int)i);
		snprintf(ip, sizeof ip, "192.0.2.%d", (int)(100 + i));
		struct nbx_machine machine = {
			.struct_size = sizeof machine,
			.name = name,
			.label = name,
			.ip = ip,
			.platform = "linux",
			.tags = tags,
		};
		if (!d->host->machine_declare(d->host, loader, &machine, err))
			return false;
	}
	return true;
}

static bool
declarer_restore_start(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
		       struct nbx_error *err)
{
	return true;
}

static bool
declarer_stop(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	      struct nbx_error *err)
{
	return true;
}

static bool
declarer_state(void *instance, struct nbx_machine *machine, const struct nbx_call *call,
	       int32_t *state, struct nbx_error *err)
{
	*state = NBX_MACHINE_POWEROFF;
	return true;
}

static const struct nbx_machinery_ops declarer_ops = {
	.struct_size = sizeof(struct nbx_machinery_ops),
	.init = declarer_init,
	.load_machines = declarer_load_machines,
	.restore_start = declarer_restore_start,
	.stop = declarer_stop,
	.state = declarer_state,
};

NBX_PLUGIN_DEFINE(.kind = NBX_PLUGIN_MACHINERY, .name = "declarer", .version = "1.0.0",
		  .description = "Declares its machines itself, for tests",
		  .config_schema = &declarer_schema, .ops.machinery = &declarer_ops);
