/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "machine_segments.h"

#include "segment.h"

static NbxSegmentSpec
spec_of(const NbxMachine *machine, const char *uplink_prefix)
{
	return (NbxSegmentSpec){
		.name = machine->machine.name,
		.host_address = machine->host_address,
		.host_mac = machine->host_mac,
		.uplink_prefix = uplink_prefix,
	};
}

void
nbx_machine_segments_check(NbxMachinePool *pool, const char *uplink_prefix,
			   NbxDiagnostics *diagnostics)
{
	guint count = 0;

	for (guint i = 0; i < pool->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(pool->machines, i);
		NbxSegmentSpec spec = spec_of(machine, uplink_prefix);
		g_autoptr(GError) error = NULL;

		if (!machine->segment)
			continue;
		count++;
		/* The message starts with the key it is about (segment_spec.c). */
		if (!nbx_segment_spec_check(&spec, &error))
			nbx_diagnostics_add(diagnostics, machine->location, NULL, "machine %s: %s",
					    machine->machine.name, error->message);
	}
	if (count > 0)
		g_debug("%u machines have a network segment of their own", count);
}

char **
nbx_machine_segments_names(NbxMachinePool *pool)
{
	g_autoptr(GStrvBuilder) names = g_strv_builder_new();

	for (guint i = 0; i < pool->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(pool->machines, i);

		if (machine->segment)
			g_strv_builder_add(names, machine->machine.name);
	}
	return g_strv_builder_end(names);
}

/* Removes the segments of @made (machine names) again, after a failure. */
static void
undo(GPtrArray *made)
{
	for (guint i = 0; i < made->len; i++) {
		g_autoptr(GError) error = NULL;

		if (!nbx_segment_remove(g_ptr_array_index(made, i), &error))
			g_warning("network segment of machine %s: %s",
				  (const char *)g_ptr_array_index(made, i), error->message);
	}
}

gboolean
nbx_machine_segments_bring_up(NbxMachinePool *pool, const char *uplink_prefix,
			      const char *const *keep_extra, GError **error)
{
	g_auto(GStrv) names = nbx_machine_segments_names(pool);
	g_autoptr(GStrvBuilder) keep = g_strv_builder_new();
	g_auto(GStrv) keep_names = NULL;
	g_autoptr(GPtrArray) made = g_ptr_array_new();

	g_strv_builder_addv(keep, (const char **)names);
	if (keep_extra != NULL)
		g_strv_builder_addv(keep, (const char **)keep_extra);
	keep_names = g_strv_builder_end(keep);
	if (!nbx_segments_remove_stale((const char *const *)keep_names, error)) {
		g_prefix_error(error, "removing the network segments a dead daemon left: ");
		return FALSE;
	}
	for (guint i = 0; i < pool->machines->len; i++) {
		NbxMachine *machine = g_ptr_array_index(pool->machines, i);
		NbxSegmentSpec spec = spec_of(machine, uplink_prefix);
		g_autoptr(NbxSegment) segment = NULL;

		g_autofree char *netns_name = NULL;
		gboolean existed;

		if (!machine->segment)
			continue;
		netns_name = g_strconcat(NBX_SEGMENT_NETNS_PREFIX, machine->machine.name, NULL);
		existed = nbx_netns_exists(netns_name);
		segment = nbx_segment_ensure(&spec, error);
		if (segment == NULL) {
			g_prefix_error(error, "%s: machine %s: network segment: ", machine->location,
				       machine->machine.name);
			undo(made);
			return FALSE;
		}
		/* One a reload keeps may be in use: an undo leaves it. */
		if (!existed)
			g_ptr_array_add(made, (gpointer)machine->machine.name);
		g_info("machine %s: network segment %s (uplink %s, %s)", machine->machine.name,
		       segment->netns_path, segment->outer_link, segment->outer_address);
	}
	return TRUE;
}

void
nbx_machine_segments_tear_down(void)
{
	g_autoptr(GError) error = NULL;

	/* Keeping none: every segment this process made, whichever setup it was for. */
	if (!nbx_segments_remove_stale(NULL, &error))
		g_warning("network segments not all removed: %s", error->message);
}
