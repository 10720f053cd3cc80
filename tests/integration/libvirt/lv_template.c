/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "lv_template.h"

#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <string.h>
#include <unistd.h>

/* QEMU's answer @text: true for "return", else *@error = its "error" (or the text). */
static bool
qmp_answer_ok(const char *text, char **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *answer;

	if (!json_parser_load_from_data(parser, text, -1, NULL) ||
	    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		*error = g_strdup_printf("not a QMP answer: %s", text);
		return false;
	}
	answer = json_node_get_object(json_parser_get_root(parser));
	if (json_object_has_member(answer, "return"))
		return true;
	*error = g_strdup(text);
	return false;
}

bool
lv_qmp(virDomainPtr dom, const char *command, int fd, char **error)
{
	g_autofree char *answer = NULL;
	char *result = NULL;
	int rc;

	*error = NULL;
	if (fd >= 0)
		rc = virDomainQemuMonitorCommandWithFiles(dom, command, 1, &fd, NULL, NULL, &result,
							  0);
	else
		rc = virDomainQemuMonitorCommand(dom, command, &result, 0);
	answer = result;
	if (rc < 0) {
		*error = g_strdup(virGetLastErrorMessage());
		return false;
	}
	return qmp_answer_ok(answer, error);
}

static void
qmp_ok(virDomainPtr dom, const char *command, int fd)
{
	g_autofree char *error = NULL;

	if (!lv_qmp(dom, command, fd, &error))
		g_error("%s on %s: %s", command, virDomainGetName(dom), error);
}

void
lv_qmp_ignore_shared(virDomainPtr dom)
{
	qmp_ok(dom,
	       "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":"
	       "[{\"capability\":\"x-ignore-shared\",\"state\":true}]}}",
	       -1);
}

/* The "status" of QEMU's query-migrate answer, or NULL. */
static char *
migration_status(virDomainPtr dom)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	char *result = NULL;
	g_autofree char *answer = NULL;
	JsonNode *status;

	if (virDomainQemuMonitorCommand(dom, "{\"execute\":\"query-migrate\"}", &result, 0) < 0)
		return NULL;
	answer = result;
	if (!json_parser_load_from_data(parser, answer, -1, NULL))
		return NULL;
	status = json_object_get_member(json_node_get_object(json_parser_get_root(parser)),
					"return");
	if (status == NULL || !JSON_NODE_HOLDS_OBJECT(status))
		return NULL;
	return g_strdup(json_object_get_string_member_with_default(
		json_node_get_object(status), "status", "none"));
}

void
lv_qmp_migrate_to_file(virDomainPtr dom, const char *path)
{
	gint64 until = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	g_assert_cmpint(fd, >=, 0);
	qmp_ok(dom, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"nbx-out\"}}", fd);
	close(fd);
	qmp_ok(dom, "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"fd:nbx-out\"}}", -1);
	for (;;) {
		g_autofree char *status = migration_status(dom);

		if (g_strcmp0(status, "completed") == 0)
			return;
		if (status == NULL || g_strcmp0(status, "failed") == 0 ||
		    g_strcmp0(status, "cancelled") == 0)
			g_error("migration of %s to %s: %s", virDomainGetName(dom), path,
				status != NULL ? status : "no answer");
		if (g_get_monotonic_time() > until)
			g_error("migration of %s to %s still %s after 120 s", virDomainGetName(dom),
				path, status);
		g_usleep(5000);
	}
}

bool
lv_qmp_incoming_from_file(virDomainPtr dom, const char *path, char **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok;

	g_assert_cmpint(fd, >=, 0);
	ok = lv_qmp(dom, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"nbx-in\"}}", fd,
		    error);
	close(fd);
	return ok && lv_qmp(dom,
			    "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"fd:nbx-in\"}}",
			    -1, error);
}

/* QEMU's run state ("inmigrate", "paused", ...), or NULL when it cannot be asked. */
static char *
run_state(virDomainPtr dom)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	char *result = NULL;
	g_autofree char *answer = NULL;
	JsonNode *status;

	if (virDomainQemuMonitorCommand(dom, "{\"execute\":\"query-status\"}", &result, 0) < 0)
		return NULL;
	answer = result;
	if (!json_parser_load_from_data(parser, answer, -1, NULL))
		return NULL;
	status = json_object_get_member(json_node_get_object(json_parser_get_root(parser)),
					"return");
	if (status == NULL || !JSON_NODE_HOLDS_OBJECT(status))
		return NULL;
	return g_strdup(json_object_get_string_member_with_default(
		json_node_get_object(status), "status", "unknown"));
}

char *
lv_qmp_wait_loaded(virDomainPtr dom, unsigned timeout_ms)
{
	gint64 until = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	for (;;) {
		g_autofree char *state = run_state(dom);

		if (state == NULL) {
			virResetLastError();
			return NULL;
		}
		if (strcmp(state, "inmigrate") != 0)
			return g_steal_pointer(&state);
		if (g_get_monotonic_time() > until)
			g_error("%s still loading its state after %u ms", virDomainGetName(dom),
				timeout_ms);
		g_usleep(1000);
	}
}

char **
lv_template_ram_args(const char *id, const char *path, guint64 size, bool share, bool incoming)
{
	GPtrArray *args = g_ptr_array_new();

	/* A comma would end QEMU's option; the tests' paths have none. */
	g_assert_null(strchr(path, ','));
	g_ptr_array_add(args, g_strdup("-object"));
	g_ptr_array_add(args,
			g_strdup_printf("memory-backend-file,id=%s,mem-path=%s,size=%" G_GUINT64_FORMAT
					",share=%s",
					id, path, size, share ? "on" : "off"));
	g_ptr_array_add(args, g_strdup("-machine"));
	g_ptr_array_add(args, g_strdup_printf("memory-backend=%s", id));
	if (incoming) {
		g_ptr_array_add(args, g_strdup("-incoming"));
		g_ptr_array_add(args, g_strdup("defer"));
	}
	g_ptr_array_add(args, NULL);
	return (char **)g_ptr_array_free(args, FALSE);
}

static double
seconds_since(gint64 *mark)
{
	gint64 now = g_get_monotonic_time();
	double seconds = (double)(now - *mark) / G_USEC_PER_SEC;

	*mark = now;
	return seconds;
}

virDomainPtr
lv_template_restore(virConnectPtr conn, const char *xml, const char *state,
		    LvTemplateTimes *times)
{
	gint64 start = g_get_monotonic_time();
	gint64 mark = start;
	virDomainPtr dom = virDomainCreateXML(conn, xml, VIR_DOMAIN_START_PAUSED);
	g_autofree char *error = NULL;
	g_autofree char *loaded = NULL;

	if (dom == NULL)
		g_error("start for a template restore: %s", virGetLastErrorMessage());
	times->start = seconds_since(&mark);
	lv_qmp_ignore_shared(dom);
	if (!lv_qmp_incoming_from_file(dom, state, &error))
		g_error("load of %s into %s: %s", state, virDomainGetName(dom), error);
	loaded = lv_qmp_wait_loaded(dom, 60000);
	if (g_strcmp0(loaded, "paused") != 0)
		g_error("%s is %s after loading %s", virDomainGetName(dom),
			loaded != NULL ? loaded : "gone", state);
	times->load = seconds_since(&mark);
	if (virDomainResume(dom) < 0)
		g_error("resume of %s: %s", virDomainGetName(dom), virGetLastErrorMessage());
	times->resume = seconds_since(&mark);
	times->total = (double)(mark - start) / G_USEC_PER_SEC;
	return dom;
}

/* Whether @line starts a mapping ("7f..-7f.. rw-p ..."), and the file it maps. */
static bool
mapping_header(const char *line, const char **file)
{
	const char *p = line;

	while (g_ascii_isxdigit(*p))
		p++;
	if (p == line || *p != '-')
		return false;
	/* Address, perms, offset, device, inode, then the path (if any). */
	for (int field = 0; field < 5; field++) {
		p = strchr(p, ' ');
		if (p == NULL) {
			*file = "";
			return true;
		}
		while (*p == ' ')
			p++;
	}
	*file = p;
	return true;
}

static void
add_field(LvSmaps *sum, const char *line)
{
	static const struct {
		const char *name;
		size_t offset;
	} fields[] = {
		{ "Rss:", G_STRUCT_OFFSET(LvSmaps, rss) },
		{ "Pss:", G_STRUCT_OFFSET(LvSmaps, pss) },
		{ "Shared_Clean:", G_STRUCT_OFFSET(LvSmaps, shared_clean) },
		{ "Shared_Dirty:", G_STRUCT_OFFSET(LvSmaps, shared_dirty) },
		{ "Private_Clean:", G_STRUCT_OFFSET(LvSmaps, private_clean) },
		{ "Private_Dirty:", G_STRUCT_OFFSET(LvSmaps, private_dirty) },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(fields); i++)
		if (g_str_has_prefix(line, fields[i].name))
			G_STRUCT_MEMBER(guint64, sum, fields[i].offset) +=
				g_ascii_strtoull(line + strlen(fields[i].name), NULL, 10);
}

LvSmaps
lv_smaps_of(pid_t pid, const char *path)
{
	g_autofree char *smaps = g_strdup_printf("/proc/%d/smaps", (int)pid);
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	LvSmaps sum = { 0 };
	bool counting = false;

	if (!g_file_get_contents(smaps, &text, NULL, NULL))
		g_error("cannot read %s", smaps);
	lines = g_strsplit(text, "\n", -1);
	for (size_t i = 0; lines[i] != NULL; i++) {
		const char *file;

		if (mapping_header(lines[i], &file))
			counting = path == NULL || strcmp(file, path) == 0;
		else if (counting)
			add_field(&sum, lines[i]);
	}
	return sum;
}
