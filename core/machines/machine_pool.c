/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "machine_pool.h"

#include <arpa/inet.h>
#include <string.h>

#include "schema.h"
#include "segment.h"

G_DEFINE_QUARK(nbx-pool-error-quark, nbx_pool_error)

NbxMachinePool *
nbx_machine_pool_new(void)
{
	NbxMachinePool *pool = g_new0(NbxMachinePool, 1);

	g_mutex_init(&pool->lock);
	pool->machines = g_ptr_array_new_with_free_func((GDestroyNotify)nbx_machine_free);
	pool->last_release = g_hash_table_new_full(NULL, NULL, NULL, g_free);
	nbx_machine_board_init(&pool->board);
	return pool;
}

void
nbx_machine_pool_free(NbxMachinePool *pool)
{
	if (pool == NULL)
		return;
	g_ptr_array_unref(pool->machines);
	g_hash_table_unref(pool->last_release);
	nbx_machine_board_clear(&pool->board);
	g_mutex_clear(&pool->lock);
	g_free(pool);
}

static const char *
keep(NbxMachine *machine, const char *value)
{
	char *copy;

	if (value == NULL)
		return NULL;
	copy = g_strdup(value);
	g_ptr_array_add(machine->strings, copy);
	return copy;
}

/* Machine names end up in paths and URLs: keep them to a safe alphabet. */
static gboolean
machine_name_is_valid(const char *name)
{
	if (g_strcmp0(name, ".") == 0 || g_strcmp0(name, "..") == 0 || strlen(name) > 64)
		return FALSE;
	for (const char *p = name; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-' && *p != '.')
			return FALSE;
	}
	return TRUE;
}

static gboolean
spec_is_usable(const struct nbx_machine *spec, const char *location, NbxDiagnostics *diagnostics)
{
	const char *required[] = { spec->name, spec->label, spec->ip, spec->platform };
	const char *names[] = { "name", "label", "ip", "platform" };
	guint8 address[16];
	gboolean ok = TRUE;

	for (guint i = 0; i < G_N_ELEMENTS(required); i++) {
		if (required[i] == NULL || required[i][0] == '\0') {
			nbx_diagnostics_add(diagnostics, location, names[i], "machine has no %s",
					    names[i]);
			ok = FALSE;
		}
	}
	if (!ok)
		return FALSE;
	if (!machine_name_is_valid(spec->name)) {
		nbx_diagnostics_add(diagnostics, location, "name",
				    "machine name \"%s\" may only hold letters, digits, '_', '-' and "
				    "'.' (at most 64), and not be \".\" or \"..\"",
				    spec->name);
		ok = FALSE;
	}
	if (inet_pton(AF_INET, spec->ip, address) != 1 && inet_pton(AF_INET6, spec->ip, address) != 1) {
		nbx_diagnostics_add(diagnostics, location, "ip", "not an IP address: \"%s\"", spec->ip);
		ok = FALSE;
	}
	return ok;
}

gboolean
nbx_machine_pool_add(NbxMachinePool *pool, NbxPluginInstance *machinery,
		     const struct nbx_machine *spec, const char *location,
		     NbxDiagnostics *diagnostics)
{
	NbxMachine *machine;
	g_autoptr(GStrvBuilder) tags = g_strv_builder_new();

	if (!spec_is_usable(spec, location, diagnostics))
		return FALSE;
	machine = nbx_machine_new(&pool->board, machinery);
	machine->location = g_strdup(location);
	for (const char *const *t = spec->tags; t != NULL && *t != NULL; t++)
		g_strv_builder_add(tags, *t);
	machine->tags = g_strv_builder_end(tags);

	machine->machine = (struct nbx_machine){
		.struct_size = sizeof(struct nbx_machine),
		.name = keep(machine, spec->name),
		.label = keep(machine, spec->label),
		.ip = keep(machine, spec->ip),
		.platform = keep(machine, spec->platform),
		.os_version = keep(machine, spec->os_version),
		.architecture = keep(machine, spec->architecture),
		.tags = (const char *const *)machine->tags,
		.interface = keep(machine, spec->interface),
		.mac_address = keep(machine, spec->mac_address),
		.snapshot = keep(machine, spec->snapshot),
		.agent_port = spec->agent_port,
		.config = spec->config,
		.network_namespace = NBX_MACHINE_HAS(spec, network_namespace)
					     ? keep(machine, spec->network_namespace)
					     : NULL,
	};
	g_mutex_lock(&pool->lock);
	g_ptr_array_add(pool->machines, machine);
	g_mutex_unlock(&pool->lock);
	return TRUE;
}

static const char *
lookup_string(config_setting_t *group, const char *key)
{
	const char *value = NULL;

	config_setting_lookup_string(group, key, &value);
	return value;
}

/*
 * A machine with `segment = true` talks to its guest through the bridge of
 * its own namespace; an `interface` of the daemon's namespace would be a
 * contradiction, and the segment needs the host side's address.
 */
static gboolean
segment_keys_usable(config_setting_t *group, const char *location, NbxDiagnostics *diagnostics)
{
	int segment = 0;
	gboolean ok = TRUE;

	config_setting_lookup_bool(group, "segment", &segment);
	if (!segment)
		return TRUE;
	if (lookup_string(group, "interface") != NULL) {
		nbx_diagnostics_add(diagnostics, location, "interface",
				    "a machine with segment = true uses the bridge %s of its own "
				    "namespace; remove `interface`",
				    NBX_SEGMENT_BRIDGE);
		ok = FALSE;
	}
	if (lookup_string(group, "host_address") == NULL) {
		nbx_diagnostics_add(diagnostics, location, "host_address",
				    "a machine with segment = true needs host_address, the host "
				    "side's address on the guest's subnet (e.g. 10.213.0.1/24)");
		ok = FALSE;
	}
	return ok;
}

/* The machine just added by nbx_machine_pool_add() gets its keys beyond struct nbx_machine. */
static void
keep_pool_keys(NbxMachinePool *pool, config_setting_t *group)
{
	NbxMachine *added = g_ptr_array_index(pool->machines, pool->machines->len - 1);
	int segment = 0;

	config_setting_lookup_bool(group, "segment", &segment);
	added->base_machine = g_strdup(lookup_string(group, "base_machine"));
	added->segment = segment != 0;
	added->host_address = g_strdup(lookup_string(group, "host_address"));
	added->host_mac = g_strdup(lookup_string(group, "host_mac"));
}

void
nbx_machine_pool_add_configured(NbxMachinePool *pool, NbxPluginInstance *machinery,
				config_setting_t *machines, NbxDiagnostics *diagnostics)
{
	for (int i = 0; machines != NULL && i < config_setting_length(machines); i++) {
		config_setting_t *group = config_setting_get_elem(machines, i);
		config_setting_t *tag_list = config_setting_get_member(group, "tags");
		g_autoptr(GPtrArray) tags = g_ptr_array_new();
		g_autofree char *location = nbx_setting_location(group);
		int enabled = 1, agent_port = 0, segment = 0;
		g_autofree char *netns_path = NULL;

		config_setting_lookup_bool(group, "enabled", &enabled);
		if (!enabled || !segment_keys_usable(group, location, diagnostics))
			continue;
		config_setting_lookup_bool(group, "segment", &segment);
		if (segment && lookup_string(group, "name") != NULL)
			netns_path = g_strdup_printf(NBX_NETNS_DIR "/" NBX_SEGMENT_NETNS_PREFIX "%s",
						     lookup_string(group, "name"));
		for (int t = 0; tag_list != NULL && t < config_setting_length(tag_list); t++)
			g_ptr_array_add(tags, (gpointer)config_setting_get_string_elem(tag_list, t));
		g_ptr_array_add(tags, NULL);
		config_setting_lookup_int(group, "agent_port", &agent_port);

		struct nbx_machine spec = {
			.struct_size = sizeof spec,
			.name = lookup_string(group, "name"),
			.label = lookup_string(group, "label"),
			.ip = lookup_string(group, "ip"),
			.platform = lookup_string(group, "platform"),
			.os_version = lookup_string(group, "os_version"),
			.architecture = lookup_string(group, "architecture"),
			.tags = (const char *const *)tags->pdata,
			.interface = segment ? NBX_SEGMENT_BRIDGE : lookup_string(group, "interface"),
			.mac_address = lookup_string(group, "mac_address"),
			.snapshot = lookup_string(group, "snapshot"),
			.agent_port = agent_port,
			.config = NBX_NODE(group),
			.network_namespace = netns_path,
		};
		if (nbx_machine_pool_add(pool, machinery, &spec, location, diagnostics))
			keep_pool_keys(pool, group);
	}
}

static void
check_unique_field(NbxMachinePool *pool, const char *what, gsize offset, gboolean per_segment,
		   NbxDiagnostics *diagnostics)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

	for (guint i = 0; i < pool->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(pool->machines, i);
		const char *value = G_STRUCT_MEMBER(const char *, &machine->machine, offset);
		NbxMachine *first;

		if (value == NULL || (per_segment && machine->machine.network_namespace != NULL))
			continue;
		first = g_hash_table_lookup(seen, value);
		if (first == NULL) {
			g_hash_table_insert(seen, (gpointer)value, machine);
			continue;
		}
		g_autofree char *key = g_strdup_printf("machines.%s.%s", machine->machine.name, what);
		nbx_diagnostics_add(diagnostics, machine->location, key,
				    "%s \"%s\" is already used by machine %s (%s, %s)", what, value,
				    first->machine.name, nbx_plugin_instance_name(first->machinery),
				    first->location);
	}
}

const char *
nbx_pool_machine_base(const NbxMachine *machine)
{
	return machine->base_machine != NULL ? machine->base_machine : machine->machine.name;
}

void
nbx_machine_pool_check_bases(NbxMachinePool *pool, NbxDiagnostics *diagnostics)
{
	for (guint i = 0; i < pool->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(pool->machines, i);
		NbxMachine *base;
		g_autofree char *key = NULL;

		if (machine->base_machine == NULL)
			continue;
		key = g_strdup_printf("machines.%s.base_machine", machine->machine.name);
		base = nbx_machine_pool_lookup(pool, machine->base_machine);
		if (base == NULL)
			nbx_diagnostics_add(diagnostics, machine->location, key,
					    "no enabled machine is named \"%s\"",
					    machine->base_machine);
		else if (base == machine)
			nbx_diagnostics_add(diagnostics, machine->location, key,
					    "a machine is its own base already; remove the key");
		else if (base->machinery != machine->machinery)
			nbx_diagnostics_add(diagnostics, machine->location, key,
					    "machine %s belongs to machinery %s, not %s: a base is "
					    "shared within one machinery",
					    base->machine.name, nbx_plugin_instance_name(base->machinery),
					    nbx_plugin_instance_name(machine->machinery));
		else if (base->base_machine != NULL)
			nbx_diagnostics_add(diagnostics, machine->location, key,
					    "machine %s has a base_machine itself (%s); name that one",
					    base->machine.name, base->base_machine);
	}
}

void
nbx_machine_pool_check_unique(NbxMachinePool *pool, NbxDiagnostics *diagnostics)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&pool->lock);

	check_unique_field(pool, "name", G_STRUCT_OFFSET(struct nbx_machine, name), FALSE,
			   diagnostics);
	check_unique_field(pool, "label", G_STRUCT_OFFSET(struct nbx_machine, label), FALSE,
			   diagnostics);
	check_unique_field(pool, "ip", G_STRUCT_OFFSET(struct nbx_machine, ip), TRUE, diagnostics);
	check_unique_field(pool, "mac_address", G_STRUCT_OFFSET(struct nbx_machine, mac_address),
			   TRUE, diagnostics);
}

static gboolean
has_all_tags(const NbxMachine *machine, const char *const *wanted)
{
	for (const char *const *t = wanted; t != NULL && *t != NULL; t++) {
		if (!g_strv_contains((const char *const *)machine->tags, *t))
			return FALSE;
	}
	return TRUE;
}

static gboolean
field_matches(const char *wanted, const char *actual)
{
	return wanted == NULL || *wanted == '\0' || g_strcmp0(wanted, actual) == 0;
}

static gboolean
matches(const NbxMachine *machine, const NbxMachineRequest *request)
{
	const struct nbx_machine *m = &machine->machine;

	return field_matches(request->name, m->name) && field_matches(request->label, m->label) &&
	       field_matches(request->platform, m->platform) &&
	       field_matches(request->os_version, m->os_version) &&
	       field_matches(request->architecture, m->architecture) &&
	       has_all_tags(machine, request->tags);
}

static char *
describe_request(const NbxMachineRequest *request)
{
	g_autoptr(GString) out = g_string_new(NULL);
	const char *keys[] = { "name", "label", "platform", "os_version", "architecture" };
	const char *values[] = { request->name, request->label, request->platform,
				 request->os_version, request->architecture };

	for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
		if (values[i] != NULL && *values[i] != '\0')
			g_string_append_printf(out, "%s%s=%s", out->len ? ", " : "", keys[i],
					       values[i]);
	}
	if (request->tags != NULL && request->tags[0] != NULL) {
		g_autofree char *tags = g_strjoinv(",", (char **)request->tags);

		g_string_append_printf(out, "%stags=%s", out->len ? ", " : "", tags);
	}
	if (out->len == 0)
		g_string_append(out, "any machine");
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static guint64
last_release(NbxMachinePool *pool, NbxMachine *machine)
{
	guint64 *when = g_hash_table_lookup(pool->last_release, machine);

	return when != NULL ? *when : 0;
}

/* Whether @machine was used longer ago than @best (ties: by name). */
static gboolean
better(NbxMachinePool *pool, NbxMachine *machine, NbxMachine *best)
{
	guint64 mine, theirs;

	if (best == NULL)
		return TRUE;
	mine = last_release(pool, machine);
	theirs = last_release(pool, best);
	return mine < theirs ||
	       (mine == theirs && g_strcmp0(machine->machine.name, best->machine.name) < 0);
}

/* Why nothing matching @request is free, or that nothing matches at all. */
static void
set_not_found(const NbxMachineRequest *request, guint matching, guint disabled,
	      const char *disabled_list, GError **error)
{
	g_autofree char *wanted = describe_request(request);

	if (matching == 0) {
		g_set_error(error, NBX_POOL_ERROR, NBX_POOL_ERROR_NO_MATCH,
			    "no configured machine matches %s", wanted);
		return;
	}
	g_set_error(error, NBX_POOL_ERROR, NBX_POOL_ERROR_BUSY,
		    "no machine matching %s is free: %u in use, %u disabled%s%s%s", wanted,
		    matching - disabled, disabled, disabled > 0 ? " (" : "", disabled_list,
		    disabled > 0 ? ")" : "");
}

NbxMachine *
nbx_machine_pool_acquire(NbxMachinePool *pool, const NbxMachineRequest *request, GError **error)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&pool->lock);
	g_autoptr(GString) disabled_list = g_string_new(NULL);
	NbxMachine *best = NULL;
	guint matching = 0, disabled = 0;

	for (guint i = 0; i < pool->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(pool->machines, i);
		g_autofree char *reason = NULL;

		if (!matches(machine, request))
			continue;
		matching++;
		reason = nbx_machine_dup_disabled_reason(machine);
		if (reason != NULL) {
			/* Named with their reasons: a task waiting for them says why. */
			if (++disabled <= 3)
				g_string_append_printf(disabled_list, "%s%s: %s",
						       disabled > 1 ? "; " : "", machine->machine.name,
						       reason);
			continue;
		}
		if (nbx_machine_get_state(machine) == NBX_MACHINE_STATE_IDLE &&
		    better(pool, machine, best))
			best = machine;
	}
	/* Only the pool reserves, under its lock; a machine disabled since is refused here. */
	if (best != NULL &&
	    nbx_machine_transition(best, NBX_MACHINE_EVENT_RESERVE, 0, NULL, NULL))
		return best;
	if (disabled > 3)
		g_string_append_printf(disabled_list, "; %u more", disabled - 3);
	set_not_found(request, matching, disabled, disabled_list->str, error);
	return NULL;
}

gboolean
nbx_machine_pool_could_serve(NbxMachinePool *pool, const NbxMachineRequest *request,
			     GError **error)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&pool->lock);
	g_autofree char *wanted = NULL;

	for (guint i = 0; i < pool->machines->len; i++) {
		if (matches(g_ptr_array_index(pool->machines, i), request))
			return TRUE;
	}
	wanted = describe_request(request);
	g_set_error(error, NBX_POOL_ERROR, NBX_POOL_ERROR_NO_MATCH,
		    "no configured machine matches %s", wanted);
	return FALSE;
}

void
nbx_machine_pool_release(NbxMachinePool *pool, NbxMachine *machine)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&pool->lock);
	g_autoptr(GError) error = NULL;
	guint64 *when;

	if (!nbx_machine_transition(machine, NBX_MACHINE_EVENT_RELEASE, 0, NULL, &error)) {
		g_critical("%s", error->message);
		return;
	}
	when = g_new(guint64, 1);
	*when = ++pool->releases;
	g_hash_table_insert(pool->last_release, machine, when);
}

NbxMachine *
nbx_machine_pool_lookup(NbxMachinePool *pool, const char *name)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&pool->lock);

	for (guint i = 0; i < pool->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(pool->machines, i);

		if (g_strcmp0(machine->machine.name, name) == 0)
			return machine;
	}
	return NULL;
}

/* ---- the sink the machineries report through ---- */

static gboolean
sink_declare(gpointer owner, NbxPluginInstance *machinery, const struct nbx_machine *machine,
	     const char *location, NbxDiagnostics *problems)
{
	return nbx_machine_pool_add(owner, machinery, machine, location, problems);
}

static void
sink_state_changed(gpointer owner, struct nbx_machine *machine, gint32 state, const char *reason)
{
	g_debug("machine %s is now %s%s%s", machine->name, nbx_machine_state_name(state),
		reason != NULL ? ": " : "", reason != NULL ? reason : "");
	/* The plugin only ever sees machines the pool made: this is one of ours. */
	nbx_machine_note_hypervisor_state((NbxMachine *)machine, state, reason);
}

static void
sink_foreach(gpointer owner, NbxPluginInstance *machinery,
	     void (*each)(struct nbx_machine *machine, gpointer data), gpointer data)
{
	NbxMachinePool *pool = owner;

	for (guint i = 0; i < pool->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(pool->machines, i);

		if (machine->machinery == machinery)
			each(&machine->machine, data);
	}
}

static const NbxMachineSink pool_sink = {
	.declare = sink_declare,
	.state_changed = sink_state_changed,
	.foreach = sink_foreach,
};

const NbxMachineSink *
nbx_machine_pool_sink(void)
{
	return &pool_sink;
}
