/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nestbox-import-vmcloak [--config FILE] [--interface IFACE] [--replace] DIR...
 *
 * Turns VMCloak machine directories (each with a machineinfo.json) into
 * machine entries of the qemu machinery's config file, by a textual edit:
 * every other byte of the file, comments included, stays as it was
 * (libconfig can parse the file but not write its comments back). The new
 * `{ ... }` groups go just before the closing `)` of the top-level
 * `machines = ( ... );` list, which is located by a small scanner that knows
 * libconfig's strings and comments; a file with no such list gets one
 * appended. The file is parsed with libconfig before and after the edit and
 * written atomically (temporary file + rename, same mode).
 *
 * machineinfo.json comes in two shapes: VMCloak's own (its machineconf.py:
 * {"vmcloak_version", "machinery", "machinery_version", "machine": {...}},
 * the machine's fields inside "machine", "machinery" must be "qemu") and
 * the flat one tools/demo-guest writes (the same fields at the top).
 *
 * From it: name (also the label), ip, platform (else os_name), os_version,
 * architecture, tags, agent_port; the entry's machineinfo key points at the
 * file itself, from which the plugin reads disk, memory_snapshot(_format),
 * memory_mb, mac_address (VMCloak: mac), host_mac and start_args. Any other
 * field is named in a warning and ignored. A missing required field (name,
 * ip, platform/os_name) or one of the wrong type is an error naming the
 * file and the field as the file has it ("machine.ip"), and nothing is
 * written for that directory.
 *
 * The machine's `interface` is --interface when given, else VMCloak's
 * "bridge": the bridge the guest is on, where the sniffer captures (the
 * plugin gives `-netdev type=bridge` a tap of its own in it). start_args
 * that contain %TAP_INTERFACE% need a tap device, which machineinfo.json
 * does not name: give it with --interface; without it such a directory is
 * an error rather than a guess.
 *
 * Exit: 0 all imported, 1 an error (the directories without error are still
 * imported), 2 usage.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libconfig.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config_template.h"

#ifndef NESTBOX_SYSCONFDIR
#define NESTBOX_SYSCONFDIR "/etc/nestbox"
#endif

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* Fields read here, and fields the qemu plugin reads from machineinfo.json itself. */
static const char *const known_fields[] = {
	"name", "ip", "agent_port", "os_name", "platform", "os_version", "architecture", "tags",
	"disk", "memory_snapshot", "memory_snapshot_format", "memory_mb", "mac_address", "mac",
	"host_mac", "bridge", "start_args",
	/* VMCloak's network: the plugin learns it from the host's interfaces instead. */
	"gateway", "netmask", NULL,
};
/* VMCloak's wrapper around them. */
static const char *const wrapper_fields[] = {
	"vmcloak_version", "machinery", "machinery_version", "machine", NULL,
};

static void
error_msg(const char *format, ...) G_GNUC_PRINTF(1, 2);
static void
error_msg(const char *format, ...)
{
	va_list args;

	va_start(args, format);
	fputs("nestbox-import-vmcloak: error: ", stderr);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
	va_end(args);
}

/* ---- machineinfo.json ---------------------------------------------------- */

typedef struct {
	char *path; /* absolute path of machineinfo.json */
	char *name;
	char *ip;
	char *platform;
	char *os_version;
	char *architecture;
	/* VMCloak's "bridge", or NULL. */
	char *bridge;
	GPtrArray *tags;
	gint64 agent_port; /* 0: absent */
	gboolean uses_tap;
} Machine;

static void
machine_free(Machine *m)
{
	g_free(m->path);
	g_free(m->name);
	g_free(m->ip);
	g_free(m->platform);
	g_free(m->os_version);
	g_free(m->architecture);
	g_free(m->bridge);
	if (m->tags != NULL)
		g_ptr_array_unref(m->tags);
	g_free(m);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Machine, machine_free)

/* Where the machine's fields are: VMCloak's "machine", or the top of a flat file. */
typedef struct {
	const char *path;
	JsonObject *o;
	/* "machine." or "", for messages. */
	const char *prefix;
} Fields;

/* A string member: TRUE and *out set (or NULL when absent and !required). */
static gboolean
get_string(const Fields *f, const char *field, gboolean required, char **out)
{
	JsonNode *node = json_object_get_member(f->o, field);

	*out = NULL;
	if (node == NULL || JSON_NODE_HOLDS_NULL(node)) {
		if (required)
			error_msg("%s: required field \"%s%s\" is missing", f->path, f->prefix,
				  field);
		return !required;
	}
	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
		error_msg("%s: field \"%s%s\" must be a string", f->path, f->prefix, field);
		return FALSE;
	}
	if (required && *json_node_get_string(node) == '\0') {
		error_msg("%s: required field \"%s%s\" is empty", f->path, f->prefix, field);
		return FALSE;
	}
	*out = g_strdup(json_node_get_string(node));
	return TRUE;
}

static void
warn_unknown(const char *path, JsonObject *o, const char *prefix, const char *const *known)
{
	g_autoptr(GList) members = json_object_get_members(o);

	for (GList *l = members; l != NULL; l = l->next)
		if (!g_strv_contains(known, l->data))
			g_printerr("nestbox-import-vmcloak: warning: %s: unknown field \"%s%s\" "
				   "ignored\n",
				   path, prefix, (const char *)l->data);
}

/* Finds the fields in @root: VMCloak's wrapper (machinery "qemu") or the flat shape. */
static gboolean
find_fields(JsonObject *root, Fields *f)
{
	JsonNode *machine = json_object_get_member(root, "machine");
	JsonNode *machinery = json_object_get_member(root, "machinery");

	f->o = root;
	f->prefix = "";
	if (machine == NULL) {
		warn_unknown(f->path, root, "", known_fields);
		return TRUE;
	}
	if (!JSON_NODE_HOLDS_OBJECT(machine)) {
		error_msg("%s: field \"machine\" must be an object (VMCloak's machine "
			  "description)",
			  f->path);
		return FALSE;
	}
	if (machinery != NULL && (!JSON_NODE_HOLDS_VALUE(machinery) ||
				  json_node_get_value_type(machinery) != G_TYPE_STRING ||
				  strcmp(json_node_get_string(machinery), "qemu") != 0)) {
		error_msg("%s: field \"machinery\" must be \"qemu\": VMCloak made this machine "
			  "for another hypervisor",
			  f->path);
		return FALSE;
	}
	warn_unknown(f->path, root, "", wrapper_fields);
	f->o = json_node_get_object(machine);
	f->prefix = "machine.";
	warn_unknown(f->path, f->o, f->prefix, known_fields);
	return TRUE;
}

static gboolean
valid_name(const char *name)
{
	for (const char *c = name; *c != '\0'; c++)
		if (!g_ascii_isalnum(*c) && *c != '_' && *c != '.' && *c != '-')
			return FALSE;
	return *name != '\0';
}

/* name, ip, platform (or os_name), os_version, architecture, bridge. */
static gboolean
read_identity(Machine *m, const Fields *f)
{
	gboolean ok = TRUE;

	ok &= get_string(f, "name", TRUE, &m->name);
	ok &= get_string(f, "ip", TRUE, &m->ip);
	if (json_object_has_member(f->o, "platform"))
		ok &= get_string(f, "platform", TRUE, &m->platform);
	else if (json_object_has_member(f->o, "os_name"))
		ok &= get_string(f, "os_name", TRUE, &m->platform);
	else {
		error_msg("%s: required field \"%splatform\" (or \"%sos_name\") is missing",
			  f->path, f->prefix, f->prefix);
		ok = FALSE;
	}
	ok &= get_string(f, "os_version", FALSE, &m->os_version);
	ok &= get_string(f, "architecture", FALSE, &m->architecture);
	ok &= get_string(f, "bridge", FALSE, &m->bridge);
	if (m->name != NULL && !valid_name(m->name)) {
		error_msg("%s: field \"%sname\": \"%s\" is not a machine name ([A-Za-z0-9_.-])",
			  f->path, f->prefix, m->name);
		ok = FALSE;
	}
	return ok;
}

static gboolean
read_tags(Machine *m, const Fields *f)
{
	JsonNode *node = json_object_get_member(f->o, "tags");
	JsonArray *a;

	m->tags = g_ptr_array_new_with_free_func(g_free);
	if (node == NULL || JSON_NODE_HOLDS_NULL(node))
		return TRUE;
	if (!JSON_NODE_HOLDS_ARRAY(node)) {
		error_msg("%s: field \"%stags\" must be a list of strings", f->path, f->prefix);
		return FALSE;
	}
	a = json_node_get_array(node);
	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonNode *t = json_array_get_element(a, i);

		if (!JSON_NODE_HOLDS_VALUE(t) || json_node_get_value_type(t) != G_TYPE_STRING) {
			error_msg("%s: field \"%stags\" must be a list of strings", f->path,
				  f->prefix);
			return FALSE;
		}
		g_ptr_array_add(m->tags, g_strdup(json_node_get_string(t)));
	}
	return TRUE;
}

static gboolean
read_agent_port(Machine *m, const Fields *f)
{
	JsonNode *node = json_object_get_member(f->o, "agent_port");

	if (node == NULL || JSON_NODE_HOLDS_NULL(node))
		return TRUE;
	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64 ||
	    json_node_get_int(node) < 1 || json_node_get_int(node) > 65535) {
		error_msg("%s: field \"%sagent_port\" must be an integer 1..65535", f->path,
			  f->prefix);
		return FALSE;
	}
	m->agent_port = json_node_get_int(node);
	return TRUE;
}

static gboolean
start_args_use_tap(const Fields *f)
{
	JsonNode *node = json_object_get_member(f->o, "start_args");
	JsonArray *a;

	if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
		return FALSE;
	a = json_node_get_array(node);
	for (guint i = 0; i < json_array_get_length(a); i++) {
		JsonNode *t = json_array_get_element(a, i);

		if (JSON_NODE_HOLDS_VALUE(t) && json_node_get_value_type(t) == G_TYPE_STRING &&
		    strstr(json_node_get_string(t), "%TAP_INTERFACE%") != NULL)
			return TRUE;
	}
	return FALSE;
}

static Machine *
machine_read(const char *dir, const char *interface)
{
	g_autoptr(Machine) m = g_new0(Machine, 1);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *abs_dir = g_canonicalize_filename(dir, NULL);
	g_autofree char *resolved = realpath(abs_dir, NULL);
	Fields f = { 0 };
	JsonNode *root;
	gboolean ok = TRUE;

	m->path = g_build_filename(resolved != NULL ? resolved : abs_dir, "machineinfo.json", NULL);
	f.path = m->path;
	if (!json_parser_load_from_file(parser, m->path, &error)) {
		error_msg("%s: %s", m->path, error->message);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		error_msg("%s: not a JSON object", m->path);
		return NULL;
	}
	if (!find_fields(json_node_get_object(root), &f))
		return NULL;
	ok &= read_identity(m, &f);
	ok &= read_tags(m, &f);
	ok &= read_agent_port(m, &f);
	m->uses_tap = start_args_use_tap(&f);
	if (m->uses_tap && interface == NULL) {
		error_msg("%s: start_args use %%TAP_INTERFACE%%, and machineinfo.json does not "
			  "name the host's tap device: give it with --interface",
			  m->path);
		ok = FALSE;
	}
	return ok ? g_steal_pointer(&m) : NULL;
}

/* ---- writing libconfig text ---------------------------------------------- */

static void
append_setting(GString *out, const char *key, const char *value)
{
	if (value == NULL)
		return;
	g_string_append_printf(out, "    %s = ", key);
	nbx_config_append_quoted(out, value);
	g_string_append(out, ";\n");
}

/* One machine group, indented as a list element, no trailing newline. */
static char *
machine_group(const Machine *m, const char *interface)
{
	GString *out = g_string_new("  {\n");

	append_setting(out, "name", m->name);
	append_setting(out, "label", m->name);
	append_setting(out, "ip", m->ip);
	append_setting(out, "platform", m->platform);
	append_setting(out, "os_version", m->os_version);
	append_setting(out, "architecture", m->architecture);
	g_string_append(out, "    tags = [");
	for (guint i = 0; i < m->tags->len; i++) {
		g_string_append(out, i == 0 ? " " : ", ");
		nbx_config_append_quoted(out, g_ptr_array_index(m->tags, i));
	}
	g_string_append(out, " ];\n");
	/* Where the guest's traffic is: the tap given, else VMCloak's bridge. */
	append_setting(out, "interface", interface != NULL ? interface : m->bridge);
	if (m->agent_port != 0)
		g_string_append_printf(out, "    agent_port = %" G_GINT64_FORMAT ";\n",
				       m->agent_port);
	append_setting(out, "machineinfo", m->path);
	g_string_append(out, "  }");
	return g_string_free(out, FALSE);
}

/* ---- locating things in the config text ---------------------------------- */

/* Skips whitespace and comments from @i; returns the next index. */
static gsize
skip_blank(const char *t, gsize len, gsize i)
{
	while (i < len) {
		if (g_ascii_isspace(t[i])) {
			i++;
		} else if (t[i] == '#' || (t[i] == '/' && i + 1 < len && t[i + 1] == '/')) {
			while (i < len && t[i] != '\n')
				i++;
		} else if (t[i] == '/' && i + 1 < len && t[i + 1] == '*') {
			const char *end = g_strstr_len(t + i + 2, len - i - 2, "*/");

			i = end != NULL ? (gsize)(end - t) + 2 : len;
		} else {
			break;
		}
	}
	return i;
}

/* @i at a '"': the index just past the string. */
static gsize
skip_string(const char *t, gsize len, gsize i)
{
	for (i++; i < len && t[i] != '"'; i++)
		if (t[i] == '\\')
			i++;
	return i < len ? i + 1 : len;
}

typedef struct {
	gsize start, end; /* [start, end) of a `{ ... }` element */
} Span;

typedef struct {
	gboolean found;
	gsize close;  /* index of the list's ')' */
	GArray *groups; /* Span of each element */
} MachinesList;

/*
 * Finds the top-level `machines = (` / `machines : (` and its elements.
 * Returns FALSE (message printed) if `machines` is there but is no list.
 */
static gboolean
find_machines(const char *path, const char *t, gsize len, MachinesList *list)
{
	gsize i = 0;
	int depth = 0;

	list->found = FALSE;
	list->groups = g_array_new(FALSE, FALSE, sizeof(Span));
	while ((i = skip_blank(t, len, i)) < len) {
		char c = t[i];

		if (c == '"') {
			i = skip_string(t, len, i);
		} else if (c == '{' || c == '(' || c == '[') {
			depth++;
			i++;
		} else if (c == '}' || c == ')' || c == ']') {
			depth--;
			i++;
		} else if (depth == 0 && (g_ascii_isalpha(c) || c == '*' || c == '_')) {
			gsize name_start = i, after;

			while (i < len && (g_ascii_isalnum(t[i]) || strchr("_-*", t[i]) != NULL))
				i++;
			if (i - name_start != strlen("machines") ||
			    strncmp(t + name_start, "machines", i - name_start) != 0)
				continue;
			after = skip_blank(t, len, i);
			if (after >= len || (t[after] != '=' && t[after] != ':'))
				continue;
			after = skip_blank(t, len, after + 1);
			if (after >= len || t[after] != '(') {
				error_msg("%s: `machines` is not a list `( ... )`", path);
				return FALSE;
			}
			/* Inside the list: record each element at its depth. */
			i = after + 1;
			for (int d = 0; (i = skip_blank(t, len, i)) < len;) {
				c = t[i];
				if (c == '"') {
					i = skip_string(t, len, i);
					continue;
				}
				if (c == '{' || c == '(' || c == '[') {
					if (d == 0 && c == '{')
						g_array_append_val(list->groups,
								   ((Span){ .start = i }));
					d++;
				} else if (c == '}' || c == ')' || c == ']') {
					if (d == 0) {
						list->found = TRUE;
						list->close = i;
						return TRUE;
					}
					d--;
					if (d == 0 && c == '}')
						g_array_index(list->groups, Span,
							      list->groups->len - 1)
							.end = i + 1;
				}
				i++;
			}
			error_msg("%s: the `machines` list is not closed", path);
			return FALSE;
		} else {
			i++;
		}
	}
	return TRUE;
}

/* The `name` of one `{ ... }` element, parsed alone with libconfig. */
static char *
group_name(const char *t, Span span)
{
	g_autofree char *text =
		g_strdup_printf("g = %.*s;\n", (int)(span.end - span.start), t + span.start);
	config_t config;
	const char *name = NULL;
	char *result = NULL;

	config_init(&config);
	if (config_read_string(&config, text) == CONFIG_TRUE &&
	    config_lookup_string(&config, "g.name", &name) == CONFIG_TRUE)
		result = g_strdup(name);
	config_destroy(&config);
	return result;
}

static gboolean
parse_check(const char *path, const char *text, const char *what)
{
	config_t config;
	gboolean ok;

	config_init(&config);
	ok = config_read_string(&config, text) == CONFIG_TRUE;
	if (!ok)
		error_msg("%s%s: line %d: %s", path, what, config_error_line(&config),
			  config_error_text(&config));
	config_destroy(&config);
	return ok;
}

/* ---- main ---------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	g_autofree char *config_path = NULL;
	g_autofree char *interface = NULL;
	gboolean replace = FALSE;
	g_auto(GStrv) dirs = NULL;
	GOptionEntry entries[] = {
		{ "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
		  "The qemu machinery's config file (default " NESTBOX_SYSCONFDIR
		  "/machinery/qemu.conf)",
		  "FILE" },
		{ "interface", 'i', 0, G_OPTION_ARG_STRING, &interface,
		  "Host tap device for %TAP_INTERFACE% in start_args (the machines' `interface`)",
		  "IFACE" },
		{ "replace", 'r', 0, G_OPTION_ARG_NONE, &replace,
		  "Replace a machine of the same name instead of failing", NULL },
		{ G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &dirs, NULL, "DIR..." },
		G_OPTION_ENTRY_NULL,
	};
	g_autoptr(GOptionContext) context =
		g_option_context_new("DIR... - add VMCloak machines to the qemu machinery's config");
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) text = NULL;
	g_autofree char *original = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) added = g_ptr_array_new_with_free_func(g_free);
	/* Replacements of existing groups: index into list.groups -> new text. */
	g_autoptr(GHashTable) replaced = g_hash_table_new_full(NULL, NULL, NULL, g_free);
	MachinesList list = { 0 };
	struct stat st;
	gsize len = 0;
	int status = EXIT_OK;

	g_option_context_add_main_entries(context, entries, NULL);
	g_option_context_set_description(
		context, "Exit status: 0 all imported, 1 an error, 2 usage. See the source's "
			 "header comment for the fields read.");
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("nestbox-import-vmcloak: %s\n", error->message);
		return EXIT_USAGE;
	}
	if (dirs == NULL || dirs[0] == NULL) {
		g_printerr("nestbox-import-vmcloak: no DIR given (see --help)\n");
		return EXIT_USAGE;
	}
	if (interface != NULL && *interface == '\0') {
		g_printerr("nestbox-import-vmcloak: --interface must not be empty\n");
		return EXIT_USAGE;
	}
	if (config_path == NULL)
		config_path = g_strdup(NESTBOX_SYSCONFDIR "/machinery/qemu.conf");

	if (!g_file_get_contents(config_path, &original, &len, &error)) {
		error_msg("%s", error->message);
		return EXIT_FAILED;
	}
	if (strlen(original) != len) {
		error_msg("%s: contains a NUL byte", config_path);
		return EXIT_FAILED;
	}
	if (!parse_check(config_path, original, "") ||
	    !find_machines(config_path, original, len, &list)) {
		if (list.groups != NULL)
			g_array_unref(list.groups);
		return EXIT_FAILED;
	}
	for (guint i = 0; i < list.groups->len; i++)
		g_ptr_array_add(names, group_name(original, g_array_index(list.groups, Span, i)));

	for (guint d = 0; dirs[d] != NULL; d++) {
		g_autoptr(Machine) m = machine_read(dirs[d], interface);
		gboolean taken = FALSE;
		int existing = -1;

		if (m == NULL) {
			status = EXIT_FAILED;
			continue;
		}
		for (guint i = 0; i < added->len; i++)
			taken |= g_strcmp0(g_ptr_array_index(added, i), m->name) == 0;
		if (taken) {
			error_msg("%s: machine \"%s\" is imported twice in this run", m->path,
				  m->name);
			status = EXIT_FAILED;
			continue;
		}
		for (guint i = 0; i < names->len; i++)
			if (g_strcmp0(g_ptr_array_index(names, i), m->name) == 0)
				existing = (int)i;
		if (existing >= 0 && !replace) {
			error_msg("%s: machine \"%s\" already exists in %s (use --replace)",
				  m->path, m->name, config_path);
			status = EXIT_FAILED;
			continue;
		}
		g_ptr_array_add(added, g_strdup(m->name));
		if (existing >= 0) {
			g_autofree char *group = machine_group(m, interface);

			/* In place, without the list indentation already in the file. */
			g_hash_table_insert(replaced, GINT_TO_POINTER(existing + 1),
					    g_strdup(group + 2));
		} else {
			g_ptr_array_add(names, g_strdup(m->name));
			g_hash_table_insert(replaced, GINT_TO_POINTER(-(int)added->len),
					    machine_group(m, interface));
		}
		g_printerr("nestbox-import-vmcloak: %s machine \"%s\" from %s\n",
			   existing >= 0 ? "replaced" : "added", m->name, m->path);
	}
	if (added->len == 0) {
		g_array_unref(list.groups);
		return status;
	}

	/* Build the new text: replacements in place, new groups before ')'. */
	text = g_string_new(NULL);
	{
		gsize at = 0;
		GString *fresh = g_string_new(NULL);

		for (guint i = 0; i < added->len; i++) {
			const char *group =
				g_hash_table_lookup(replaced, GINT_TO_POINTER(-(int)(i + 1)));

			if (group == NULL)
				continue;
			if (fresh->len > 0)
				g_string_append(fresh, ",\n");
			g_string_append(fresh, group);
		}
		for (guint i = 0; i < list.groups->len; i++) {
			Span span = g_array_index(list.groups, Span, i);
			const char *group =
				g_hash_table_lookup(replaced, GINT_TO_POINTER((int)i + 1));

			if (group == NULL)
				continue;
			g_string_append_len(text, original + at, span.start - at);
			g_string_append(text, group);
			at = span.end;
		}
		if (!list.found) {
			g_string_append(text, original + at);
			if (fresh->len > 0) {
				if (text->len > 0 && text->str[text->len - 1] != '\n')
					g_string_append_c(text, '\n');
				g_string_append_printf(text, "\nmachines = (\n%s\n);\n", fresh->str);
			}
		} else {
			gsize close = list.close, line_start = close;

			while (line_start > 0 && (original[line_start - 1] == ' ' ||
						  original[line_start - 1] == '\t'))
				line_start--;
			if (fresh->len > 0 && list.groups->len > 0) {
				/* The last element needs a comma after it. */
				Span last = g_array_index(list.groups, Span, list.groups->len - 1);

				if (last.end > at) {
					g_string_append_len(text, original + at, last.end - at);
					at = last.end;
				}
				g_string_append_c(text, ',');
			}
			if (fresh->len > 0 && (line_start == 0 || original[line_start - 1] == '\n')) {
				/* `)` starts its line: whole new lines before it. */
				g_string_append_len(text, original + at, line_start - at);
				g_string_append_printf(text, "%s\n", fresh->str);
				at = line_start;
			} else if (fresh->len > 0) {
				g_string_append_len(text, original + at, close - at);
				g_string_append_printf(text, "\n%s\n", fresh->str);
				at = close;
			}
			g_string_append(text, original + at);
		}
		g_string_free(fresh, TRUE);
	}
	g_array_unref(list.groups);

	if (!parse_check(config_path, text->str, " (after the edit; nothing written)"))
		return EXIT_FAILED;
	if (g_stat(config_path, &st) != 0) {
		error_msg("%s: %s", config_path, g_strerror(errno));
		return EXIT_FAILED;
	}
	if (!g_file_set_contents_full(config_path, text->str, (gssize)text->len,
				      G_FILE_SET_CONTENTS_CONSISTENT, (int)(st.st_mode & 07777),
				      &error)) {
		error_msg("%s", error->message);
		return EXIT_FAILED;
	}
	return status;
}
