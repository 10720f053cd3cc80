/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config_manpage.h"

#include <string.h>

#include "config_template.h"
#include "core_schema.h"
#include "schema.h"

/*
 * Text that roff must not read as requests or escapes: a backslash is
 * printed with \e, a line that would begin with a control character gets
 * the zero-width \& in front, and a hyphen-minus stays one (\-) so that an
 * option or a range copied from the page works.
 */
static void
append_roff_text(GString *out, const char *text)
{
	gboolean line_start = TRUE;

	for (const char *c = text; *c != '\0'; c++) {
		if (line_start && (*c == '.' || *c == '\''))
			g_string_append(out, "\\&");
		line_start = *c == '\n';
		if (*c == '\\')
			g_string_append(out, "\\e");
		else if (*c == '-')
			g_string_append(out, "\\-");
		else
			g_string_append_c(out, *c);
	}
}

static void
append_line(GString *out, const char *request, const char *text)
{
	if (request != NULL)
		g_string_append_printf(out, "%s ", request);
	append_roff_text(out, text);
	g_string_append_c(out, '\n');
}

static void render_keys(GString *out, const struct nbx_config_field *fields, const char *prefix);

/* The default as it is written in the file: strings quoted, like the templates. */
static void
append_default(GString *facts, const struct nbx_config_field *field)
{
	g_string_append(facts, "; default: ");
	switch (field->type) {
	case NBX_FIELD_INTEGER:
	case NBX_FIELD_BOOLEAN:
	case NBX_FIELD_LIST:
		g_string_append(facts, field->default_value);
		return;
	default:
		nbx_config_append_quoted(facts, field->default_value);
	}
}

/* One key: its full path in bold, its type and checks, its default, its doc. */
static void
render_key(GString *out, const struct nbx_config_field *field, const char *prefix)
{
	g_autofree char *path = g_strconcat(prefix, field->name, NULL);
	g_autofree char *described = nbx_config_describe_field(field);
	g_autoptr(GString) facts = g_string_new(described);

	if (field->default_value != NULL)
		append_default(facts, field);
	g_string_append_c(facts, '.');
	g_string_append(out, ".TP\n");
	append_line(out, ".B", path);
	append_line(out, NULL, facts->str);
	g_string_append(out, ".br\n");
	append_line(out, NULL, field->doc);
	if (field->type == NBX_FIELD_GROUP || field->type == NBX_FIELD_GROUP_LIST) {
		g_autofree char *child_prefix = g_strconcat(
			path, field->type == NBX_FIELD_GROUP_LIST ? "[]." : ".", NULL);

		render_keys(out, field->children, child_prefix);
	}
}

static void
render_keys(GString *out, const struct nbx_config_field *fields, const char *prefix)
{
	for (const struct nbx_config_field *f = fields; f != NULL && f->type != NBX_FIELD_END; f++)
		render_key(out, f, prefix);
}

static const char page_head[] =
	".\\\" nestbox.conf(5): generated from the schemas by `nestboxd --man-config`.\n"
	".\\\" Do not edit: run `meson compile -C BUILD update-man`.\n"
	".TH NESTBOX.CONF 5 \"\" \"nestbox\" \"nestbox manual\"\n"
	/* Paths and URIs: no hyphenation, no stretched spaces. */
	".nh\n"
	".ad l\n"
	".SH NAME\n"
	"nestbox.conf \\- configuration of the nestbox sandbox daemon\n"
	".SH SYNOPSIS\n"
	".nf\n"
	".IB CONFDIR /nestbox.conf\n"
	".IB CONFDIR /machinery/ NAME .conf\n"
	".IB CONFDIR /auxiliary.conf\n"
	".IB CONFDIR /guest.conf\n"
	".fi\n"
	".SH DESCRIPTION\n"
	".BR nestboxd (8)\n"
	"reads its configuration from one directory,\n"
	".IR CONFDIR :\n"
	"the one given with \\-\\-config, by default the one\n"
	".B nestboxd \\-\\-help\n"
	"names (/etc/nestbox for a build with prefix /usr).\n"
	"The files are in libconfig's syntax: a setting is\n"
	"\\fIkey\\fR = \\fIvalue\\fR;\n"
	"groups are written in {\\~}, lists of groups in (\\~), lists of values\n"
	"in [\\~], and comments follow # or //.\n"
	"A relative\n"
	".B @include\n"
	"is relative to the file that includes it; a relative path in a value is\n"
	"relative to\n"
	".IR CONFDIR .\n"
	"Integers are 64\\-bit; strings must be UTF\\-8.\n"
	".PP\n"
	"Every problem in every file is reported at once, as\n"
	"\\fIFILE\\fR:\\fILINE\\fR: \\fIKEY\\fR: \\fIwhat is wrong\\fR;\n"
	"nothing starts while there is one.\n"
	".B nestboxd \\-\\-check\n"
	"reports them without starting anything.\n"
	"SIGHUP reloads the configuration; a key whose description says that a\n"
	"reload cannot change it is read at start\\-up only.\n"
	".PP\n"
	"Each key below is given by its full path, its type and checks, its\n"
	"default, and what it does; a key with no default is unset unless given.\n"
	"A list of groups is written\n"
	"\\fINAME\\fR = ( { ... }, { ... } );\n"
	"and the keys of its groups are shown as\n"
	"\\fINAME\\fR[].\\fIKEY\\fR.\n"
	"The default files are generated from the same schemas:\n"
	".B nestboxd \\-\\-config\\-template\n"
	".I NAME\n"
	"prints the commented default of plugin\n"
	".IR NAME ,\n"
	"and of nestbox.conf when\n"
	".I NAME\n"
	"is nestbox.\n"
	".SH NESTBOX.CONF\n"
	"The core's settings.\n";

static const char page_tail[] =
	".SH FILES\n"
	".TP\n"
	".I /etc/nestbox\n"
	"The configuration directory of an installed nestboxd;\n"
	".B meson install\n"
	"never overwrites a file in it.\n"
	".TP\n"
	".I /usr/share/nestbox/conf\n"
	"The default files, to compare with.\n"
	".SH SEE ALSO\n"
	".BR nestboxd (8),\n"
	".BR nestbox (1),\n"
	".BR nestbox\\-plugin (7),\n"
	"the libconfig manual: https://hyperrealm.github.io/libconfig/\n";

static gint
compare_plugin_names(gconstpointer a, gconstpointer b)
{
	const struct nbx_plugin_descriptor *pa = *(const struct nbx_plugin_descriptor *const *)a;
	const struct nbx_plugin_descriptor *pb = *(const struct nbx_plugin_descriptor *const *)b;

	return strcmp(pa->name, pb->name);
}

/* One plugin's section: where its keys live, what it is, its keys. */
static void
render_plugin(GString *out, const struct nbx_plugin_descriptor *d)
{
	g_autoptr(NbxSchema) schema = nbx_config_plugin_schema(d);
	g_autofree char *where = NULL;
	g_autofree char *prefix = NULL;

	g_return_if_fail(schema != NULL);
	if (d->kind == NBX_PLUGIN_MACHINERY) {
		where = g_strdup_printf("machinery/%s.conf", d->name);
		prefix = g_strdup("");
	} else {
		where = g_strdup_printf("%s in %s.conf", d->name,
					d->kind == NBX_PLUGIN_AUXILIARY ? "auxiliary" : "guest");
		prefix = g_strdup_printf("%s.", d->name);
	}
	append_line(out, ".SS", where);
	append_line(out, NULL, d->description);
	render_keys(out, nbx_schema_fields(schema), prefix);
}

static const struct {
	guint32 kind;
	const char *title;
	const char *intro;
} plugin_sections[] = {
	{ NBX_PLUGIN_MACHINERY, "MACHINERY FILES",
	  "machinery/NAME.conf configures the machinery plugin NAME, which runs only when "
	  "nestbox.conf's machineries lists it. Its machines are the groups of its machines list: "
	  "every machine has the core's keys (name to host_mac), then the machinery's own." },
	{ NBX_PLUGIN_AUXILIARY, "AUXILIARY.CONF",
	  "auxiliary.conf holds one group per auxiliary module, named after it. No auxiliary.conf: "
	  "no module runs. A module whose own keys include a required one is disabled by default." },
	{ NBX_PLUGIN_GUEST, "GUEST.CONF",
	  "guest.conf holds one group per guest plugin, named after it." },
};

static void
render_plugins(GString *out, GPtrArray *descriptors)
{
	/* Not g_ptr_array_copy(): the copy would free the descriptors with it. */
	g_autoptr(GPtrArray) sorted = g_ptr_array_sized_new(descriptors->len);

	for (guint i = 0; i < descriptors->len; i++)
		g_ptr_array_add(sorted, g_ptr_array_index(descriptors, i));
	g_ptr_array_sort(sorted, compare_plugin_names);
	for (guint s = 0; s < G_N_ELEMENTS(plugin_sections); s++) {
		gboolean titled = FALSE;

		for (guint i = 0; i < sorted->len; i++) {
			const struct nbx_plugin_descriptor *plugin = g_ptr_array_index(sorted, i);

			if (plugin->kind != plugin_sections[s].kind)
				continue;
			if (!titled) {
				append_line(out, ".SH", plugin_sections[s].title);
				append_line(out, NULL, plugin_sections[s].intro);
				titled = TRUE;
			}
			render_plugin(out, plugin);
		}
	}
}

char *
nbx_config_manpage(GPtrArray *descriptors)
{
	GString *out = g_string_new(page_head);

	render_keys(out, nbx_core_fields, "");
	render_plugins(out, descriptors);
	g_string_append(out, page_tail);
	return g_string_free(out, FALSE);
}
