/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control API: HTTP/1.1 + JSON under /api/v1, served by libsoup on the
 * main thread.
 *
 *   GET  /api/v1/health                  status, version, counts, uptime
 *   POST /api/v1/tasks                   submit (JSON, or multipart: "task" + "file")
 *   GET  /api/v1/tasks?state=&limit=&before=
 *   GET  /api/v1/tasks/ID                the task and its events
 *   POST /api/v1/tasks/ID/cancel
 *   GET  /api/v1/machines
 *   POST /api/v1/machines/NAME/disable   optional body {"reason": "..."}
 *   POST /api/v1/machines/NAME/enable
 *   GET  /api/v1/plugins
 *   GET  /api/v1/snapshots               bases, generations (size, users), sessions
 *   POST /api/v1/snapshots/NAME/begin    {"cold_boot": bool} -> {"console", "from"}
 *   POST /api/v1/snapshots/NAME/copy     {"paths": [absolute paths on the daemon's host]}
 *   POST /api/v1/snapshots/NAME/commit   -> {"generation"}
 *   POST /api/v1/snapshots/NAME/rollback
 *   POST /api/v1/snapshots/NAME/export   {"output": path, "full": bool}
 *   POST /api/v1/snapshots/import        {"input": path, "machine", "replace", "minimal"}
 * Snapshot calls answer when done (a commit may take minutes); 501
 * not_supported when the machine's machinery lacks the op.
 *
 * Every error is {"error": {"code", "message", "field"}} ("field" is null
 * when no one field is to blame) with a 4xx/5xx status:
 *   400 malformed_json, invalid (a field's value or type), unknown_field
 *   401 unauthorized (TCP only)   404 not_found   405 method_not_allowed
 *   409 conflict                  413 too_large   415 unsupported_media_type
 *   500 internal                  503 shutting_down
 *
 * A submitted task is validated completely here, before the scheduler sees
 * it, so a refused request stores nothing.
 *
 * Task fields: priority (integer), machine, platform, os_version,
 * architecture (strings), tags (array of strings), duration (integer
 * seconds, >= 1), memory_dump, debug (booleans), options (object of objects
 * of strings, per auxiliary), file_name (string). null means "not given".
 * platform, os_version, architecture and tags are lower-cased, as the
 * machine configuration stores them. file_name is only accepted together
 * with a "file" part, and then names the sample instead of the part's
 * filename (a client may upload from a temporary file).
 *
 * Access: the UNIX socket is guarded by its mode (0660) and group; TCP
 * requires "Authorization: Bearer TOKEN" on every request, checked before
 * the body is read.
 */
#include "control_api.h"

#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define API_PREFIX "/api/v1"
#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX 1000
#define NAME_MAX_BYTES 255
#define TAGS_MAX 64
/* Long enough that guessing it over the network is hopeless. */
#define TOKEN_MIN_LENGTH 16

struct _NbxControlApi {
	NbxScheduler *scheduler;
	/* NULL until set: the snapshot routes then answer 503. */
	NbxSnapshotManager *snapshots;
	SoupServer *server;
	char *socket_path;
	/* The socket file we bound, so we never unlink one that replaced it. */
	dev_t socket_dev;
	ino_t socket_ino;
	/* NULL without TCP. */
	char *token;
	gsize max_body_bytes;
};

/* Why a request is refused, before it becomes a response. */
typedef struct {
	guint status;
	const char *code;
	char *field;
	char *message;
} Problem;

static void
problem_clear(Problem *problem)
{
	g_clear_pointer(&problem->field, g_free);
	g_clear_pointer(&problem->message, g_free);
}

G_GNUC_PRINTF(5, 6)
static gboolean
problem_set(Problem *problem, guint status, const char *code, const char *field,
	    const char *format, ...)
{
	va_list args;

	problem_clear(problem);
	problem->status = status;
	problem->code = code;
	problem->field = g_strdup(field);
	va_start(args, format);
	problem->message = g_strdup_vprintf(format, args);
	va_end(args);
	return FALSE;
}

/* ---- responses ---- */

static void
respond_json(SoupServerMessage *msg, guint status, JsonNode *node)
{
	g_autoptr(JsonNode) owned = node;
	g_autoptr(JsonGenerator) generator = json_generator_new();
	gsize length = 0;
	char *text;

	json_generator_set_root(generator, owned);
	json_generator_set_pretty(generator, TRUE);
	text = json_generator_to_data(generator, &length);
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, text, length);
}

static void
respond_object(SoupServerMessage *msg, guint status, JsonObject *object)
{
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);

	json_node_take_object(node, object);
	respond_json(msg, status, node);
}

static void
respond_problem(SoupServerMessage *msg, const Problem *problem)
{
	JsonObject *error = json_object_new();
	JsonObject *root = json_object_new();

	json_object_set_string_member(error, "code", problem->code);
	json_object_set_string_member(error, "message", problem->message);
	if (problem->field != NULL)
		json_object_set_string_member(error, "field", problem->field);
	else
		json_object_set_null_member(error, "field");
	json_object_set_object_member(root, "error", error);
	respond_object(msg, problem->status, root);
}

G_GNUC_PRINTF(5, 6)
static void
respond_error(SoupServerMessage *msg, guint status, const char *code, const char *field,
	      const char *format, ...)
{
	Problem problem = { .status = status, .code = code, .field = g_strdup(field) };
	va_list args;

	va_start(args, format);
	problem.message = g_strdup_vprintf(format, args);
	va_end(args);
	respond_problem(msg, &problem);
	problem_clear(&problem);
}

/*
 * The scheduler's INVALID messages begin with the field ("tags: ..."); any
 * other prefix (a path, a sentence) is not a field name.
 */
static char *
field_of_message(const char *message)
{
	const char *colon = strstr(message, ": ");

	if (colon == NULL || colon == message)
		return NULL;
	for (const char *p = message; p < colon; p++) {
		if (!g_ascii_isalnum(*p) && *p != '_' && *p != '.' && *p != '-')
			return NULL;
	}
	return g_strndup(message, colon - message);
}

static void
respond_scheduler_error(SoupServerMessage *msg, const GError *error, const char *conflict_code,
			guint conflict_status)
{
	g_autofree char *field = NULL;

	if (error->domain == NBX_STORE_ERROR && error->code == NBX_STORE_ERROR_NOT_FOUND) {
		respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", NULL, "%s", error->message);
		return;
	}
	if (error->domain != NBX_SCHEDULER_ERROR) {
		respond_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal", NULL, "%s",
			      error->message);
		return;
	}
	switch ((NbxSchedulerError)error->code) {
	case NBX_SCHEDULER_ERROR_INVALID:
		field = field_of_message(error->message);
		respond_error(msg, SOUP_STATUS_BAD_REQUEST, "invalid", field, "%s", error->message);
		return;
	case NBX_SCHEDULER_ERROR_NOT_FOUND:
		respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", NULL, "%s", error->message);
		return;
	case NBX_SCHEDULER_ERROR_CONFLICT:
		respond_error(msg, conflict_status, conflict_code, NULL, "%s", error->message);
		return;
	case NBX_SCHEDULER_ERROR_FAILED:
	default:
		respond_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal", NULL, "%s",
			      error->message);
		return;
	}
}

static void
set_nullable_string(JsonObject *object, const char *name, const char *value)
{
	if (value != NULL)
		json_object_set_string_member(object, name, value);
	else
		json_object_set_null_member(object, name);
}

/* ---- checks shared by every request field ---- */

static gboolean
has_control_character(const char *text)
{
	for (const guchar *p = (const guchar *)text; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return TRUE;
	}
	return FALSE;
}

/*
 * Names end up joined to directories (the sample's name in the analysis
 * directory, a machine's directories): a name with no separator can only
 * escape when it is "." or "..", so those and separators are refused.
 */
static gboolean
check_name(const char *field, const char *name, Problem *problem)
{
	if (*name == '\0')
		return problem_set(problem, 400, "invalid", field, "%s: must not be empty", field);
	if (strlen(name) > NAME_MAX_BYTES)
		return problem_set(problem, 400, "invalid", field,
				   "%s: is longer than %d bytes", field, NAME_MAX_BYTES);
	if (!g_utf8_validate(name, -1, NULL))
		return problem_set(problem, 400, "invalid", field, "%s: is not valid UTF-8", field);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/') != NULL ||
	    strchr(name, '\\') != NULL)
		return problem_set(problem, 400, "invalid", field,
				   "%s: must be a plain name, without '/', '\\' or \"..\": \"%s\"",
				   field, name);
	if (has_control_character(name))
		return problem_set(problem, 400, "invalid", field,
				   "%s: contains a control character", field);
	return TRUE;
}

static gboolean
check_text(const char *field, const char *text, Problem *problem)
{
	if (has_control_character(text))
		return problem_set(problem, 400, "invalid", field,
				   "%s: contains a control character", field);
	return TRUE;
}

static const char *
json_type_name(JsonNode *node)
{
	if (JSON_NODE_HOLDS_OBJECT(node))
		return "an object";
	if (JSON_NODE_HOLDS_ARRAY(node))
		return "an array";
	if (JSON_NODE_HOLDS_NULL(node))
		return "null";
	switch (json_node_get_value_type(node)) {
	case G_TYPE_INT64:
		return "an integer";
	case G_TYPE_DOUBLE:
		return "a number with a fraction";
	case G_TYPE_BOOLEAN:
		return "a boolean";
	case G_TYPE_STRING:
		return "a string";
	default:
		return "an unknown JSON value";
	}
}

static gboolean
wrong_type(const char *field, const char *expected, JsonNode *node, Problem *problem)
{
	return problem_set(problem, 400, "invalid", field, "%s: expected %s, found %s", field,
			   expected, json_type_name(node));
}

static gboolean
is_value_of(JsonNode *node, GType type)
{
	return JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == type;
}

/* Parses @data as JSON whose root must be an object; @field names it in errors. */
static JsonObject *
parse_object(const char *field, const char *data, gsize length, Problem *problem)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) error = NULL;
	JsonNode *root;

	if (!json_parser_load_from_data(parser, data, length, &error)) {
		problem_set(problem, 400, "malformed_json", field, "%s: not valid JSON: %s", field,
			    error->message);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		problem_set(problem, 400, "invalid", field, "%s: expected a JSON object, found %s",
			    field, root != NULL ? json_type_name(root) : "nothing");
		return NULL;
	}
	return json_object_ref(json_node_get_object(root));
}

/* ---- the task a submitter asks for ---- */

typedef enum {
	FIELD_INTEGER,
	FIELD_STRING,
	FIELD_LOWER_STRING,
	FIELD_NAME,
	FIELD_BOOLEAN,
	FIELD_TAGS,
	FIELD_OPTIONS,
} FieldKind;

typedef struct {
	const char *name;
	FieldKind kind;
	gsize offset;
} TaskField;

static const TaskField task_fields[] = {
	{ "priority", FIELD_INTEGER, G_STRUCT_OFFSET(NbxTask, priority) },
	{ "machine", FIELD_NAME, G_STRUCT_OFFSET(NbxTask, machine) },
	{ "platform", FIELD_LOWER_STRING, G_STRUCT_OFFSET(NbxTask, platform) },
	{ "os_version", FIELD_LOWER_STRING, G_STRUCT_OFFSET(NbxTask, os_version) },
	{ "architecture", FIELD_LOWER_STRING, G_STRUCT_OFFSET(NbxTask, architecture) },
	{ "tags", FIELD_TAGS, G_STRUCT_OFFSET(NbxTask, tags) },
	{ "duration", FIELD_INTEGER, G_STRUCT_OFFSET(NbxTask, duration_s) },
	{ "memory_dump", FIELD_BOOLEAN, G_STRUCT_OFFSET(NbxTask, memory_dump) },
	{ "debug", FIELD_BOOLEAN, G_STRUCT_OFFSET(NbxTask, debug) },
	{ "options", FIELD_OPTIONS, G_STRUCT_OFFSET(NbxTask, options_json) },
	{ "file_name", FIELD_NAME, G_STRUCT_OFFSET(NbxTask, target_name) },
};

static const TaskField *
task_field_lookup(const char *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(task_fields); i++) {
		if (strcmp(task_fields[i].name, name) == 0)
			return &task_fields[i];
	}
	return NULL;
}

static char *
known_task_fields(void)
{
	g_autoptr(GString) names = g_string_new(NULL);

	for (guint i = 0; i < G_N_ELEMENTS(task_fields); i++)
		g_string_append_printf(names, "%s%s", i > 0 ? ", " : "", task_fields[i].name);
	return g_string_free(g_steal_pointer(&names), FALSE);
}

static gboolean
read_tags(JsonNode *node, char ***out, Problem *problem)
{
	g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
	JsonArray *array;

	if (!JSON_NODE_HOLDS_ARRAY(node))
		return wrong_type("tags", "an array of strings", node, problem);
	array = json_node_get_array(node);
	if (json_array_get_length(array) > TAGS_MAX)
		return problem_set(problem, 400, "invalid", "tags", "tags: more than %d tags",
				   TAGS_MAX);
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonNode *element = json_array_get_element(array, i);
		g_autofree char *field = g_strdup_printf("tags[%u]", i);
		g_autofree char *lower = NULL;
		const char *tag;

		if (!is_value_of(element, G_TYPE_STRING))
			return wrong_type(field, "a string", element, problem);
		tag = json_node_get_string(element);
		if (*tag == '\0' || strchr(tag, ',') != NULL)
			return problem_set(problem, 400, "invalid", field,
					   "%s: a tag must be non-empty and without ','", field);
		if (!check_text(field, tag, problem))
			return FALSE;
		lower = g_utf8_strdown(tag, -1);
		g_strv_builder_add(builder, lower);
	}
	g_strfreev(*out);
	*out = g_strv_builder_end(builder);
	return TRUE;
}

/* {"AUXILIARY": {"KEY": "VALUE"}}; the scheduler checks the auxiliary names. */
static gboolean
read_options(JsonNode *node, char **out, Problem *problem)
{
	JsonObjectIter outer;
	const char *aux;
	JsonNode *group;

	if (!JSON_NODE_HOLDS_OBJECT(node))
		return wrong_type("options", "an object of objects of strings", node, problem);
	json_object_iter_init(&outer, json_node_get_object(node));
	while (json_object_iter_next(&outer, &aux, &group)) {
		g_autofree char *group_field = g_strdup_printf("options.%s", aux);
		JsonObjectIter inner;
		const char *key;
		JsonNode *value;

		if (*aux == '\0' || !check_text("options", aux, problem))
			return problem_set(problem, 400, "invalid", "options",
					   "options: an auxiliary's name must be non-empty and "
					   "printable");
		if (!JSON_NODE_HOLDS_OBJECT(group))
			return wrong_type(group_field, "an object of strings", group, problem);
		json_object_iter_init(&inner, json_node_get_object(group));
		while (json_object_iter_next(&inner, &key, &value)) {
			g_autofree char *field = g_strdup_printf("options.%s.%s", aux, key);

			if (*key == '\0' || has_control_character(key))
				return problem_set(problem, 400, "invalid", group_field,
						   "%s: an option's name must be non-empty and "
						   "printable",
						   group_field);
			if (!is_value_of(value, G_TYPE_STRING))
				return wrong_type(field, "a string", value, problem);
		}
	}
	g_free(*out);
	*out = json_to_string(node, FALSE);
	return TRUE;
}

static gboolean
read_task_field(const TaskField *spec, JsonNode *node, NbxTask *request, Problem *problem)
{
	gpointer slot = G_STRUCT_MEMBER_P(request, spec->offset);
	const char *text;

	switch (spec->kind) {
	case FIELD_INTEGER:
		if (!is_value_of(node, G_TYPE_INT64))
			return wrong_type(spec->name, "an integer", node, problem);
		*(gint64 *)slot = json_node_get_int(node);
		return TRUE;
	case FIELD_BOOLEAN:
		if (!is_value_of(node, G_TYPE_BOOLEAN))
			return wrong_type(spec->name, "a boolean", node, problem);
		*(gboolean *)slot = json_node_get_boolean(node);
		return TRUE;
	case FIELD_STRING:
	case FIELD_LOWER_STRING:
	case FIELD_NAME:
		if (!is_value_of(node, G_TYPE_STRING))
			return wrong_type(spec->name, "a string", node, problem);
		text = json_node_get_string(node);
		if (spec->kind == FIELD_NAME ? !check_name(spec->name, text, problem)
					     : !check_text(spec->name, text, problem))
			return FALSE;
		g_free(*(char **)slot);
		*(char **)slot = spec->kind == FIELD_LOWER_STRING ? g_utf8_strdown(text, -1)
								  : g_strdup(text);
		return TRUE;
	case FIELD_TAGS:
		return read_tags(node, (char ***)slot, problem);
	case FIELD_OPTIONS:
		return read_options(node, (char **)slot, problem);
	}
	g_assert_not_reached();
}

static gboolean
read_task_object(JsonObject *object, NbxTask *request, Problem *problem)
{
	JsonObjectIter iter;
	const char *name;
	JsonNode *node;

	json_object_iter_init(&iter, object);
	while (json_object_iter_next(&iter, &name, &node)) {
		const TaskField *spec = task_field_lookup(name);

		if (spec == NULL) {
			g_autofree char *known = known_task_fields();

			return problem_set(problem, 400, "unknown_field", name,
					   "%s: unknown field (known: %s)", name, known);
		}
		if (JSON_NODE_HOLDS_NULL(node))
			continue;
		if (!read_task_field(spec, node, request, problem))
			return FALSE;
	}
	if (json_object_has_member(object, "duration") && request->duration_s < 1)
		return problem_set(problem, 400, "invalid", "duration",
				   "duration: must be at least 1 second, found %" G_GINT64_FORMAT,
				   request->duration_s);
	return TRUE;
}

/*
 * The part's form name and filename from its Content-Disposition (either may
 * be NULL). Read from the raw header: libsoup's parsed filename is cut to
 * its basename, which would quietly accept "../../x.exe" as "x.exe" instead
 * of telling the client its name is not a plain name.
 */
static void
part_names(SoupMessageHeaders *headers, char **name, char **filename)
{
	const char *header = soup_message_headers_get_one(headers, "Content-Disposition");
	g_autoptr(GHashTable) params = NULL;

	*name = NULL;
	*filename = NULL;
	if (header == NULL)
		return;
	params = soup_header_parse_semi_param_list(header);
	*name = g_strdup(g_hash_table_lookup(params, "name"));
	*filename = g_strdup(g_hash_table_lookup(params, "filename"));
}

/*
 * multipart/form-data: a "task" part (the JSON, optional) and a "file" part
 * (the sample, optional). Any other part, or a part twice, is refused, so a
 * client's typo ("files") is not silently dropped.
 */
static gboolean
read_multipart(SoupServerMessage *msg, GBytes *body, NbxTask *request, GBytes **sample,
	       Problem *problem)
{
	g_autoptr(SoupMultipart) multipart = soup_multipart_new_from_message(
		soup_server_message_get_request_headers(msg), body);
	g_autoptr(JsonObject) task = NULL;
	g_autofree char *file_part_name = NULL;

	if (multipart == NULL)
		return problem_set(problem, 400, "invalid", "body",
				   "body: not valid multipart/form-data (no boundary, or a part "
				   "is cut short)");
	for (int i = 0; i < soup_multipart_get_length(multipart); i++) {
		SoupMessageHeaders *headers;
		GBytes *part;
		g_autofree char *filename = NULL;
		g_autofree char *name = NULL;

		soup_multipart_get_part(multipart, i, &headers, &part);
		part_names(headers, &name, &filename);
		if (g_strcmp0(name, "task") == 0 && task == NULL) {
			gsize length;
			const char *data = g_bytes_get_data(part, &length);

			task = parse_object("task", data != NULL ? data : "", length, problem);
			if (task == NULL)
				return FALSE;
		} else if (g_strcmp0(name, "file") == 0 && *sample == NULL) {
			*sample = g_bytes_ref(part);
			file_part_name = g_steal_pointer(&filename);
		} else {
			return problem_set(problem, 400, "unknown_field", name != NULL ? name : "body",
					   "%s: unexpected part (expected one \"task\" and at most "
					   "one \"file\")",
					   name != NULL ? name : "a part without a name");
		}
	}
	if (task != NULL && !read_task_object(task, request, problem))
		return FALSE;
	if (*sample == NULL) {
		if (request->target_name != NULL)
			return problem_set(problem, 400, "invalid", "file_name",
					   "file_name: only allowed with a \"file\" part");
		return TRUE;
	}
	if (g_bytes_get_size(*sample) == 0)
		return problem_set(problem, 400, "invalid", "file", "file: the sample is empty");
	if (request->target_name != NULL)
		return TRUE;
	if (file_part_name == NULL)
		return problem_set(problem, 400, "invalid", "file",
				   "file: the part has no filename; give one, or file_name in "
				   "the task");
	if (!check_name("file", file_part_name, problem))
		return FALSE;
	request->target_name = g_strdup(file_part_name);
	return TRUE;
}

static gboolean
content_type_is(SoupServerMessage *msg, const char *wanted)
{
	const char *type = soup_message_headers_get_content_type(
		soup_server_message_get_request_headers(msg), NULL);

	return type != NULL && g_ascii_strcasecmp(type, wanted) == 0;
}

/* The whole body, or NULL (with the problem) when it is over the limit. */
static GBytes *
request_body(NbxControlApi *api, SoupServerMessage *msg, Problem *problem)
{
	SoupMessageBody *body = soup_server_message_get_request_body(msg);
	GBytes *bytes = soup_message_body_flatten(body);

	if (g_bytes_get_size(bytes) > api->max_body_bytes) {
		g_bytes_unref(bytes);
		problem_set(problem, 413, "too_large", "body",
			    "body: larger than the %" G_GSIZE_FORMAT " bytes allowed (api.max_upload_mb)",
			    api->max_body_bytes);
		return NULL;
	}
	return bytes;
}

static gboolean
read_task_request(NbxControlApi *api, SoupServerMessage *msg, NbxTask *request, GBytes **sample,
		  Problem *problem)
{
	g_autoptr(GBytes) body = request_body(api, msg, problem);
	g_autoptr(JsonObject) object = NULL;
	gsize length;
	const char *data;

	if (body == NULL)
		return FALSE;
	if (content_type_is(msg, "multipart/form-data"))
		return read_multipart(msg, body, request, sample, problem);
	data = g_bytes_get_data(body, &length);
	if (!content_type_is(msg, "application/json") && length > 0)
		return problem_set(problem, 415, "unsupported_media_type", "body",
				   "body: send application/json, or multipart/form-data with "
				   "\"task\" and \"file\" parts");
	object = length > 0 ? parse_object("body", data, length, problem) : json_object_new();
	if (object == NULL || !read_task_object(object, request, problem))
		return FALSE;
	if (request->target_name != NULL)
		return problem_set(problem, 400, "invalid", "file_name",
				   "file_name: only allowed with a \"file\" part (multipart/form-data)");
	return TRUE;
}

/*
 * A body that must be empty or a JSON object holding only @allowed (NULL
 * for none). Returns the object (possibly empty) or NULL with the problem.
 */
static JsonObject *
read_small_object(NbxControlApi *api, SoupServerMessage *msg, const char *allowed,
		  Problem *problem)
{
	g_autoptr(GBytes) body = request_body(api, msg, problem);
	g_autoptr(JsonObject) object = NULL;
	g_autoptr(GList) members = NULL;
	gsize length;
	const char *data;

	if (body == NULL)
		return NULL;
	data = g_bytes_get_data(body, &length);
	if (length == 0)
		return json_object_new();
	object = parse_object("body", data, length, problem);
	if (object == NULL)
		return NULL;
	members = json_object_get_members(object);
	for (GList *l = members; l != NULL; l = l->next) {
		const char *name = l->data;

		g_auto(GStrv) names = allowed != NULL ? g_strsplit(allowed, ", ", -1) : NULL;

		if (names != NULL && g_strv_contains((const char *const *)names, name))
			continue;
		if (allowed != NULL)
			problem_set(problem, 400, "unknown_field", name,
				    "%s: unknown field (known: %s)", name, allowed);
		else
			problem_set(problem, 400, "unknown_field", name,
				    "%s: unknown field (this request takes none)", name);
		return NULL;
	}
	return g_steal_pointer(&object);
}

/* ---- handlers ---- */

typedef void (*RouteFunc)(NbxControlApi *api, SoupServerMessage *msg, char **args,
			  GHashTable *query);

static void
handle_health(NbxControlApi *api, SoupServerMessage *msg, char **args, GHashTable *query)
{
	NbxSchedulerHealth health = { 0 };
	JsonObject *root = json_object_new();
	JsonObject *machines = json_object_new();

	nbx_scheduler_health(api->scheduler, &health);
	json_object_set_string_member(root, "status", health.shutting_down ? "shutting_down" : "ok");
	json_object_set_string_member(root, "version", NESTBOX_VERSION);
	json_object_set_int_member(root, "queued", health.queued);
	json_object_set_int_member(root, "running", health.running);
	json_object_set_int_member(machines, "total", health.machines);
	json_object_set_int_member(machines, "free", health.machines_free);
	json_object_set_int_member(machines, "disabled", health.machines_disabled);
	json_object_set_object_member(root, "machines", machines);
	json_object_set_boolean_member(root, "shutting_down", health.shutting_down);
	json_object_set_int_member(root, "uptime", health.uptime_s);
	respond_object(msg, SOUP_STATUS_OK, root);
}

static void
handle_task_submit(NbxControlApi *api, SoupServerMessage *msg, char **args, GHashTable *query)
{
	g_autoptr(NbxTask) request = nbx_task_new();
	g_autoptr(NbxTask) task = NULL;
	g_autoptr(GBytes) sample = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *location = NULL;
	Problem problem = { 0 };

	if (!read_task_request(api, msg, request, &sample, &problem)) {
		respond_problem(msg, &problem);
		problem_clear(&problem);
		return;
	}
	task = nbx_scheduler_submit(api->scheduler, request, sample, &error);
	if (task == NULL) {
		respond_scheduler_error(msg, error, "shutting_down", SOUP_STATUS_SERVICE_UNAVAILABLE);
		return;
	}
	location = g_strdup_printf(API_PREFIX "/tasks/%" G_GINT64_FORMAT, task->id);
	soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Location",
				     location);
	respond_json(msg, SOUP_STATUS_CREATED, nbx_task_to_json(task));
}

/* A positive decimal integer and nothing else ("+1", "1x", "0x1" are not ids). */
static gboolean
parse_id(const char *field, const char *text, gint64 *id, Problem *problem)
{
	guint64 value = 0;

	if (text == NULL || !g_ascii_isdigit(*text) ||
	    !g_ascii_string_to_unsigned(text, 10, 1, G_MAXINT64, &value, NULL))
		return problem_set(problem, 400, "invalid", field,
				   "%s: expected a positive integer, found \"%s\"", field,
				   text != NULL ? text : "");
	*id = (gint64)value;
	return TRUE;
}

static gboolean
check_query(GHashTable *query, const char *const *known, Problem *problem)
{
	GHashTableIter iter;
	gpointer key;

	if (query == NULL)
		return TRUE;
	g_hash_table_iter_init(&iter, query);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		if (!g_strv_contains(known, key)) {
			g_autofree char *names = g_strjoinv(", ", (char **)known);

			return problem_set(problem, 400, "unknown_field", key,
					   "%s: unknown query parameter (known: %s)",
					   (const char *)key, names);
		}
	}
	return TRUE;
}

static char *
state_names(void)
{
	g_autoptr(GString) names = g_string_new(NULL);

	for (int state = 0; state <= NBX_TASK_STATE_LAST; state++)
		g_string_append_printf(names, "%s%s", state > 0 ? ", " : "",
				       nbx_task_state_name(state));
	return g_string_free(g_steal_pointer(&names), FALSE);
}

static gboolean
read_list_query(GHashTable *query, int *state, gint64 *limit, gint64 *before, Problem *problem)
{
	static const char *const known[] = { "state", "limit", "before", NULL };
	const char *text;
	guint64 value;

	if (!check_query(query, known, problem))
		return FALSE;
	text = query != NULL ? g_hash_table_lookup(query, "state") : NULL;
	if (text != NULL && *text != '\0') {
		*state = nbx_task_state_from_name(text);
		if (*state < 0) {
			g_autofree char *names = state_names();

			return problem_set(problem, 400, "invalid", "state",
					   "state: unknown state \"%s\" (known: %s)", text, names);
		}
	}
	text = query != NULL ? g_hash_table_lookup(query, "limit") : NULL;
	if (text != NULL) {
		if (!g_ascii_isdigit(*text) ||
		    !g_ascii_string_to_unsigned(text, 10, 1, LIST_LIMIT_MAX, &value, NULL))
			return problem_set(problem, 400, "invalid", "limit",
					   "limit: expected an integer from 1 to %d, found \"%s\"",
					   LIST_LIMIT_MAX, text);
		*limit = (gint64)value;
	}
	text = query != NULL ? g_hash_table_lookup(query, "before") : NULL;
	if (text != NULL && !parse_id("before", text, before, problem))
		return FALSE;
	return TRUE;
}

static void
handle_task_list(NbxControlApi *api, SoupServerMessage *msg, char **args, GHashTable *query)
{
	NbxStore *store = nbx_scheduler_get_store(api->scheduler);
	g_autoptr(GPtrArray) tasks = NULL;
	g_autoptr(GError) error = NULL;
	JsonArray *array;
	JsonObject *root;
	Problem problem = { 0 };
	int state = -1;
	gint64 limit = LIST_LIMIT_DEFAULT;
	gint64 before = 0;

	if (!read_list_query(query, &state, &limit, &before, &problem)) {
		respond_problem(msg, &problem);
		problem_clear(&problem);
		return;
	}
	tasks = nbx_store_task_list(store, state, limit, before, &error);
	if (tasks == NULL) {
		respond_scheduler_error(msg, error, "conflict", SOUP_STATUS_CONFLICT);
		return;
	}
	array = json_array_sized_new(tasks->len);
	for (guint i = 0; i < tasks->len; i++)
		json_array_add_element(array, nbx_task_to_json(g_ptr_array_index(tasks, i)));
	root = json_object_new();
	json_object_set_array_member(root, "tasks", array);
	respond_object(msg, SOUP_STATUS_OK, root);
}

static JsonNode *
event_to_json(const NbxStoredEvent *event)
{
	JsonObject *object = json_object_new();
	g_autofree char *time = nbx_format_time_us(event->time_us);
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);

	json_object_set_int_member(object, "id", event->id);
	set_nullable_string(object, "time", time);
	set_nullable_string(object, "kind", event->kind);
	set_nullable_string(object, "machine", event->machine);
	set_nullable_string(object, "message", event->message);
	json_node_take_object(node, object);
	return node;
}

/* Answers the task with @id, and its events when @with_events, or the error. */
static void
respond_task(NbxControlApi *api, SoupServerMessage *msg, gint64 id, gboolean with_events)
{
	NbxStore *store = nbx_scheduler_get_store(api->scheduler);
	g_autoptr(NbxTask) task = NULL;
	g_autoptr(GPtrArray) events = NULL;
	g_autoptr(GError) error = NULL;
	JsonNode *node;
	JsonArray *array;

	task = nbx_store_task_get(store, id, &error);
	if (task == NULL) {
		if (g_error_matches(error, NBX_STORE_ERROR, NBX_STORE_ERROR_NOT_FOUND))
			respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", "id",
				      "id: no task %" G_GINT64_FORMAT, id);
		else
			respond_scheduler_error(msg, error, "conflict", SOUP_STATUS_CONFLICT);
		return;
	}
	node = nbx_task_to_json(task);
	if (with_events) {
		events = nbx_store_event_list(store, id, &error);
		if (events == NULL) {
			json_node_unref(node);
			respond_scheduler_error(msg, error, "conflict", SOUP_STATUS_CONFLICT);
			return;
		}
		array = json_array_sized_new(events->len);
		for (guint i = 0; i < events->len; i++)
			json_array_add_element(array, event_to_json(g_ptr_array_index(events, i)));
		json_object_set_array_member(json_node_get_object(node), "events", array);
	}
	respond_json(msg, SOUP_STATUS_OK, node);
}

static void
handle_task_get(NbxControlApi *api, SoupServerMessage *msg, char **args, GHashTable *query)
{
	static const char *const none[] = { NULL };
	Problem problem = { 0 };
	gint64 id = 0;

	if (!parse_id("id", args[0], &id, &problem) || !check_query(query, none, &problem)) {
		respond_problem(msg, &problem);
		problem_clear(&problem);
		return;
	}
	respond_task(api, msg, id, TRUE);
}

static void
handle_task_cancel(NbxControlApi *api, SoupServerMessage *msg, char **args, GHashTable *query)
{
	g_autoptr(JsonObject) body = NULL;
	g_autoptr(GError) error = NULL;
	Problem problem = { 0 };
	gint64 id = 0;

	if (!parse_id("id", args[0], &id, &problem) ||
	    (body = read_small_object(api, msg, NULL, &problem)) == NULL) {
		respond_problem(msg, &problem);
		problem_clear(&problem);
		return;
	}
	if (!nbx_scheduler_cancel(api->scheduler, id, &error)) {
		if (g_error_matches(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_NOT_FOUND))
			respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", "id", "%s",
				      error->message);
		else
			respond_scheduler_error(msg, error, "conflict", SOUP_STATUS_CONFLICT);
		return;
	}
	respond_task(api, msg, id, FALSE);
}

static JsonNode *
machine_to_json(const NbxMachineStatus *machine)
{
	JsonObject *object = json_object_new();
	JsonArray *tags = json_array_new();
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);

	json_object_set_string_member(object, "name", machine->name);
	set_nullable_string(object, "machinery", machine->machinery);
	set_nullable_string(object, "label", machine->label);
	set_nullable_string(object, "ip", machine->ip);
	set_nullable_string(object, "platform", machine->platform);
	set_nullable_string(object, "os_version", machine->os_version);
	set_nullable_string(object, "architecture", machine->architecture);
	for (char **tag = machine->tags; tag != NULL && *tag != NULL; tag++)
		json_array_add_string_element(tags, *tag);
	json_object_set_array_member(object, "tags", tags);
	set_nullable_string(object, "state", machine->state);
	set_nullable_string(object, "activity", machine->activity);
	if (machine->task_id > 0)
		json_object_set_int_member(object, "task_id", machine->task_id);
	else
		json_object_set_null_member(object, "task_id");
	json_object_set_boolean_member(object, "disabled", machine->disabled_reason != NULL);
	set_nullable_string(object, "disabled_reason", machine->disabled_reason);
	json_object_set_int_member(object, "failures", machine->failures);
	json_node_take_object(node, object);
	return node;
}

static void
handle_machine_list(NbxControlApi *api, SoupServerMessage *msg, char **args, GHashTable *query)
{
	g_autoptr(GPtrArray) machines = nbx_scheduler_list_machines(api->scheduler);
	JsonArray *array = json_array_sized_new(machines->len);
	JsonObject *root = json_object_new();

	for (guint i = 0; i < machines->len; i++)
		json_array_add_element(array, machine_to_json(g_ptr_array_index(machines, i)));
	json_object_set_array_member(root, "machines", array);
	respond_object(msg, SOUP_STATUS_OK, root);
}

static void
respond_machine(NbxControlApi *api, SoupServerMessage *msg, const char *name)
{
	g_autoptr(GPtrArray) machines = nbx_scheduler_list_machines(api->scheduler);

	for (guint i = 0; i < machines->len; i++) {
		const NbxMachineStatus *machine = g_ptr_array_index(machines, i);

		if (g_strcmp0(machine->name, name) == 0) {
			respond_json(msg, SOUP_STATUS_OK, machine_to_json(machine));
			return;
		}
	}
	/* Gone between the change and the listing: only a reload can do that. */
	respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", "name", "name: no machine \"%s\"",
		      name);
}

static void
set_machine_disabled(NbxControlApi *api, SoupServerMessage *msg, const char *name,
		     const char *reason)
{
	g_autoptr(GError) error = NULL;

	if (!nbx_scheduler_set_machine_disabled(api->scheduler, name, reason, &error)) {
		if (g_error_matches(error, NBX_SCHEDULER_ERROR, NBX_SCHEDULER_ERROR_NOT_FOUND))
			respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", "name", "%s",
				      error->message);
		else
			respond_scheduler_error(msg, error, "conflict", SOUP_STATUS_CONFLICT);
		return;
	}
	respond_machine(api, msg, name);
}

static void
handle_machine_disable(NbxControlApi *api, SoupServerMessage *msg, char **args, GHashTable *query)
{
	g_autoptr(JsonObject) body = NULL;
	Problem problem = { 0 };
	const char *reason = "disabled by the operator";
	JsonNode *node;

	body = read_small_object(api, msg, "reason", &problem);
	if (body == NULL) {
		respond_problem(msg, &problem);
		problem_clear(&problem);
		return;
	}
	node = json_object_get_member(body, "reason");
	if (node != NULL && !JSON_NODE_HOLDS_NULL(node)) {
		if (!is_value_of(node, G_TYPE_STRING))
			wrong_type("reason", "a string", node, &problem);
		else if (*json_node_get_string(node) == '\0')
			problem_set(&problem, 400, "invalid", "reason",
				    "reason: must not be empty (leave it out for the default)");
		else if (check_text("reason", json_node_get_string(node), &problem))
			reason = json_node_get_string(node);
		if (problem.status != 0) {
			respond_problem(msg, &problem);
			problem_clear(&problem);
			return;
		}
	}
	set_machine_disabled(api, msg, args[0], reason);
}

static void
handle_machine_enable(NbxControlApi *api, SoupServerMessage *msg, char **args, GHashTable *query)
{
	g_autoptr(JsonObject) body = NULL;
	Problem problem = { 0 };

	body = read_small_object(api, msg, NULL, &problem);
	if (body == NULL) {
		respond_problem(msg, &problem);
		problem_clear(&problem);
		return;
	}
	set_machine_disabled(api, msg, args[0], NULL);
}

/* The enabled instance of @plugin in @setup, or NULL. */
static NbxPluginInstance *
instance_of(NbxSetup *setup, NbxPlugin *plugin)
{
	GPtrArray *lists[] = { setup->machineries, setup->auxiliaries };

	for (guint l = 0; l < G_N_ELEMENTS(lists); l++) {
		for (guint i = 0; lists[l] != NULL && i < lists[l]->len; i++) {
			NbxPluginInstance *instance = g_ptr_array_index(lists[l], i);

			if (instance->plugin == plugin)
				return instance;
		}
	}
	return NULL;
}

static JsonNode *
plugin_to_json(NbxSetup *setup, NbxPlugin *plugin)
{
	const struct nbx_plugin_descriptor *d = &plugin->descriptor;
	NbxPluginInstance *instance = instance_of(setup, plugin);
	JsonObject *object = json_object_new();
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);
	g_autofree char *abi = g_strdup_printf("%u.%u", d->abi_major, d->abi_minor);

	set_nullable_string(object, "name", d->name);
	json_object_set_string_member(object, "kind", nbx_plugin_kind_name(d->kind));
	set_nullable_string(object, "version", d->version);
	json_object_set_string_member(object, "abi", abi);
	set_nullable_string(object, "description", d->description);
	set_nullable_string(object, "path", plugin->path);
	json_object_set_boolean_member(object, "enabled", instance != NULL);
	/* The configured start order when enabled, else what the plugin asks for. */
	if (d->kind != NBX_PLUGIN_AUXILIARY)
		json_object_set_null_member(object, "order");
	else if (instance != NULL)
		json_object_set_int_member(object, "order", instance->section->order);
	else
		json_object_set_int_member(object, "order", d->order > 0 ? d->order : 1);
	json_node_take_object(node, object);
	return node;
}

static void
handle_plugin_list(NbxControlApi *api, SoupServerMessage *msg, char **args, GHashTable *query)
{
	NbxSetup *setup = nbx_scheduler_get_setup(api->scheduler);
	GPtrArray *plugins = setup->registry->plugins;
	GPtrArray *refusals = setup->registry->refusals;
	JsonArray *array = json_array_sized_new(plugins->len);
	JsonArray *refused = json_array_sized_new(refusals->len);
	JsonObject *root = json_object_new();

	for (guint i = 0; i < plugins->len; i++)
		json_array_add_element(array, plugin_to_json(setup, g_ptr_array_index(plugins, i)));
	for (guint i = 0; i < refusals->len; i++)
		json_array_add_string_element(refused, g_ptr_array_index(refusals, i));
	json_object_set_array_member(root, "plugins", array);
	json_object_set_array_member(root, "refused", refused);
	respond_object(msg, SOUP_STATUS_OK, root);
}

/* ---- snapshots ---- */

/*
 * Snapshot calls take seconds to minutes (a commit saves a machine's
 * memory): they run on a worker thread while the message is paused, and
 * the main loop goes on serving everything else.
 */
typedef enum { SNAP_BEGIN, SNAP_COMMIT, SNAP_ROLLBACK, SNAP_COPY, SNAP_EXPORT, SNAP_IMPORT } SnapOp;

typedef struct {
	NbxControlApi *api;
	SoupServerMessage *msg;
	SnapOp op;
	char *machine;
	JsonObject *body;
	JsonObject *result;
	GError *error;
} SnapCall;

static void
snap_call_free(SnapCall *call)
{
	g_object_unref(call->msg);
	g_free(call->machine);
	g_clear_pointer(&call->body, json_object_unref);
	g_clear_pointer(&call->result, json_object_unref);
	g_clear_error(&call->error);
	g_free(call);
}

static const char *
member_string(JsonObject *body, const char *name)
{
	JsonNode *node = json_object_get_member(body, name);

	return node != NULL && is_value_of(node, G_TYPE_STRING) ? json_node_get_string(node) : NULL;
}

static gboolean
member_boolean(JsonObject *body, const char *name)
{
	JsonNode *node = json_object_get_member(body, name);

	return node != NULL && is_value_of(node, G_TYPE_BOOLEAN) && json_node_get_boolean(node);
}

static void
snap_call_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
	SnapCall *call = data;
	NbxSnapshotManager *snapshots = call->api->snapshots;
	g_autofree char *console = NULL;
	gint64 generation = 0;
	gboolean ok = FALSE;

	switch (call->op) {
	case SNAP_BEGIN:
		ok = nbx_snapshot_manager_begin(snapshots, call->machine,
						member_boolean(call->body, "cold_boot"), &console,
						&generation, &call->error);
		if (ok) {
			call->result = json_object_new();
			json_object_set_string_member(call->result, "console", console);
			json_object_set_int_member(call->result, "from", generation);
		}
		break;
	case SNAP_COMMIT:
		ok = nbx_snapshot_manager_commit(snapshots, call->machine, &generation, &call->error);
		if (ok) {
			call->result = json_object_new();
			json_object_set_int_member(call->result, "generation", generation);
		}
		break;
	case SNAP_ROLLBACK:
		ok = nbx_snapshot_manager_rollback(snapshots, call->machine, &call->error);
		if (ok)
			call->result = json_object_new();
		break;
	case SNAP_COPY: {
		JsonArray *array = json_object_get_array_member(call->body, "paths");
		g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
		g_auto(GStrv) paths = NULL;

		for (guint i = 0; i < json_array_get_length(array); i++)
			g_strv_builder_add(builder, json_array_get_string_element(array, i));
		paths = g_strv_builder_end(builder);
		ok = nbx_snapshot_manager_copy_in(snapshots, call->machine,
						  (const char *const *)paths, &call->error);
		if (ok)
			call->result = json_object_new();
		break;
	}
	case SNAP_EXPORT:
		ok = nbx_snapshot_manager_export(snapshots, call->machine,
						 member_boolean(call->body, "full"),
						 member_string(call->body, "output"), &call->result,
						 &call->error);
		break;
	case SNAP_IMPORT:
		ok = nbx_snapshot_manager_import(snapshots, member_string(call->body, "input"),
						 member_string(call->body, "machine"),
						 member_boolean(call->body, "replace"),
						 member_boolean(call->body, "minimal"), &call->result,
						 &call->error);
		break;
	}
	g_task_return_boolean(task, ok);
}

static void
respond_snapshot_error(SoupServerMessage *msg, const GError *error)
{
	if (error->domain != NBX_SNAPSHOT_ERROR) {
		respond_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal", NULL, "%s",
			      error->message);
		return;
	}
	switch ((NbxSnapshotError)error->code) {
	case NBX_SNAPSHOT_ERROR_NOT_FOUND:
		respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", NULL, "%s", error->message);
		return;
	case NBX_SNAPSHOT_ERROR_NOT_SUPPORTED:
		respond_error(msg, SOUP_STATUS_NOT_IMPLEMENTED, "not_supported", NULL, "%s",
			      error->message);
		return;
	case NBX_SNAPSHOT_ERROR_CONFLICT:
		respond_error(msg, SOUP_STATUS_CONFLICT, "conflict", NULL, "%s", error->message);
		return;
	case NBX_SNAPSHOT_ERROR_INVALID:
		respond_error(msg, SOUP_STATUS_BAD_REQUEST, "invalid", NULL, "%s", error->message);
		return;
	case NBX_SNAPSHOT_ERROR_FAILED:
	default:
		respond_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "failed", NULL, "%s",
			      error->message);
		return;
	}
}

static void
snap_call_done(GObject *source, GAsyncResult *result, gpointer data)
{
	SnapCall *call = data;

	if (g_task_propagate_boolean(G_TASK(result), NULL))
		respond_object(call->msg, SOUP_STATUS_OK, g_steal_pointer(&call->result));
	else
		respond_snapshot_error(call->msg, call->error);
	soup_server_message_unpause(call->msg);
	snap_call_free(call);
}

/* Body members: their types, and which are required. */
typedef enum { SNAP_STRING, SNAP_BOOLEAN, SNAP_STRINGS } SnapType;

typedef struct {
	const char *name;
	SnapType type;
	gboolean required;
} SnapField;

static gboolean
check_snap_body(JsonObject *body, const SnapField *fields, Problem *problem)
{
	for (const SnapField *f = fields; f->name != NULL; f++) {
		JsonNode *node = json_object_get_member(body, f->name);

		if (node == NULL || JSON_NODE_HOLDS_NULL(node)) {
			if (f->required)
				return problem_set(problem, 400, "invalid", f->name,
						   "%s: required", f->name);
			continue;
		}
		if (f->type == SNAP_STRINGS) {
			JsonArray *array;

			if (!JSON_NODE_HOLDS_ARRAY(node))
				return wrong_type(f->name, "an array of strings", node, problem);
			array = json_node_get_array(node);
			for (guint i = 0; i < json_array_get_length(array); i++) {
				if (!is_value_of(json_array_get_element(array, i), G_TYPE_STRING))
					return wrong_type(f->name, "an array of strings", node,
							  problem);
			}
		} else if (!is_value_of(node, f->type == SNAP_STRING ? G_TYPE_STRING
								     : G_TYPE_BOOLEAN)) {
			return wrong_type(f->name, f->type == SNAP_STRING ? "a string" : "a boolean",
					  node, problem);
		}
	}
	return TRUE;
}

static void
start_snap_call(NbxControlApi *api, SoupServerMessage *msg, SnapOp op, const char *machine,
		const char *allowed, const SnapField *fields)
{
	g_autoptr(GTask) task = NULL;
	Problem problem = { 0 };
	JsonObject *body;
	SnapCall *call;

	if (api->snapshots == NULL) {
		respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "unavailable", NULL,
			      "this daemon does not manage snapshots");
		return;
	}
	body = read_small_object(api, msg, allowed, &problem);
	if (body == NULL || !check_snap_body(body, fields, &problem) ||
	    (machine != NULL && !check_name("machine", machine, &problem))) {
		respond_problem(msg, &problem);
		problem_clear(&problem);
		g_clear_pointer(&body, json_object_unref);
		return;
	}
	call = g_new0(SnapCall, 1);
	call->api = api;
	call->msg = g_object_ref(msg);
	call->op = op;
	call->machine = g_strdup(machine);
	call->body = body;
	soup_server_message_pause(msg);
	task = g_task_new(NULL, NULL, snap_call_done, call);
	g_task_set_task_data(task, call, NULL);
	g_task_run_in_thread(task, snap_call_thread);
}

static const SnapField no_fields[] = { { 0 } };

static void
handle_snapshot_begin(NbxControlApi *api, SoupServerMessage *msg, char **args, GHashTable *query)
{
	static const SnapField fields[] = { { "cold_boot", SNAP_BOOLEAN, FALSE }, { 0 } };

	start_snap_call(api, msg, SNAP_BEGIN, args[0], "cold_boot", fields);
}

static void
handle_snapshot_commit(NbxControlApi *api, SoupServerMessage *msg, char **args,
		       GHashTable *query)
{
	start_snap_call(api, msg, SNAP_COMMIT, args[0], NULL, no_fields);
}

static void
handle_snapshot_rollback(NbxControlApi *api, SoupServerMessage *msg, char **args,
			 GHashTable *query)
{
	start_snap_call(api, msg, SNAP_ROLLBACK, args[0], NULL, no_fields);
}

static void
handle_snapshot_copy(NbxControlApi *api, SoupServerMessage *msg, char **args, GHashTable *query)
{
	static const SnapField fields[] = { { "paths", SNAP_STRINGS, TRUE }, { 0 } };

	start_snap_call(api, msg, SNAP_COPY, args[0], "paths", fields);
}

static void
handle_snapshot_export(NbxControlApi *api, SoupServerMessage *msg, char **args,
		       GHashTable *query)
{
	static const SnapField fields[] = { { "output", SNAP_STRING, TRUE },
					    { "full", SNAP_BOOLEAN, FALSE },
					    { 0 } };

	start_snap_call(api, msg, SNAP_EXPORT, args[0], "output, full", fields);
}

static void
handle_snapshot_import(NbxControlApi *api, SoupServerMessage *msg, char **args,
		       GHashTable *query)
{
	static const SnapField fields[] = { { "input", SNAP_STRING, TRUE },
					    { "machine", SNAP_STRING, FALSE },
					    { "replace", SNAP_BOOLEAN, FALSE },
					    { "minimal", SNAP_BOOLEAN, FALSE },
					    { 0 } };

	start_snap_call(api, msg, SNAP_IMPORT, NULL, "input, machine, replace, minimal", fields);
}

static void
handle_snapshot_status(NbxControlApi *api, SoupServerMessage *msg, char **args,
		       GHashTable *query)
{
	if (api->snapshots == NULL) {
		respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "unavailable", NULL,
			      "this daemon does not manage snapshots");
		return;
	}
	respond_json(msg, SOUP_STATUS_OK, nbx_snapshot_manager_status(api->snapshots));
}

void
nbx_control_api_set_snapshots(NbxControlApi *api, NbxSnapshotManager *snapshots)
{
	api->snapshots = snapshots;
}

/* ---- routing ---- */

typedef struct {
	const char *method;
	/* Segments after /api/v1/; "*" matches one non-empty segment. */
	const char *pattern;
	RouteFunc func;
} Route;

static const Route routes[] = {
	{ "GET", "health", handle_health },
	{ "GET", "tasks", handle_task_list },
	{ "POST", "tasks", handle_task_submit },
	{ "GET", "tasks/*", handle_task_get },
	{ "POST", "tasks/*/cancel", handle_task_cancel },
	{ "GET", "machines", handle_machine_list },
	{ "POST", "machines/*/disable", handle_machine_disable },
	{ "POST", "machines/*/enable", handle_machine_enable },
	{ "GET", "plugins", handle_plugin_list },
	{ "GET", "snapshots", handle_snapshot_status },
	{ "POST", "snapshots/import", handle_snapshot_import },
	{ "POST", "snapshots/*/begin", handle_snapshot_begin },
	{ "POST", "snapshots/*/commit", handle_snapshot_commit },
	{ "POST", "snapshots/*/rollback", handle_snapshot_rollback },
	{ "POST", "snapshots/*/copy", handle_snapshot_copy },
	{ "POST", "snapshots/*/export", handle_snapshot_export },
};

/* Fills @args (at most 2) with the segments "*" matched. */
static gboolean
route_matches(const Route *route, char **segments, char **args)
{
	g_auto(GStrv) pattern = g_strsplit(route->pattern, "/", -1);
	guint n = 0;

	if (g_strv_length(pattern) != g_strv_length(segments))
		return FALSE;
	for (guint i = 0; pattern[i] != NULL; i++) {
		if (strcmp(pattern[i], "*") == 0) {
			if (segments[i][0] == '\0')
				return FALSE;
			args[n++] = segments[i];
		} else if (strcmp(pattern[i], segments[i]) != 0) {
			return FALSE;
		}
	}
	return TRUE;
}

static void
route(NbxControlApi *api, SoupServerMessage *msg, const char *path, GHashTable *query)
{
	const char *method = soup_server_message_get_method(msg);
	g_auto(GStrv) segments = NULL;
	g_autoptr(GString) allow = g_string_new(NULL);

	if (!g_str_has_prefix(path, API_PREFIX "/")) {
		respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", NULL,
			      "no such resource: %s (the API lives under " API_PREFIX "/)", path);
		return;
	}
	segments = g_strsplit(path + strlen(API_PREFIX "/"), "/", -1);
	for (guint i = 0; i < G_N_ELEMENTS(routes); i++) {
		char *args[2] = { NULL, NULL };

		if (!route_matches(&routes[i], segments, args))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			routes[i].func(api, msg, args, query);
			return;
		}
		g_string_append_printf(allow, "%s%s", allow->len > 0 ? ", " : "", routes[i].method);
	}
	if (allow->len == 0) {
		respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", NULL, "no such resource: %s",
			      path);
		return;
	}
	soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
				     allow->str);
	respond_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed", NULL,
		      "%s is not allowed on %s (allowed: %s)", method, path, allow->str);
}

static void
on_request(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
	   gpointer user_data)
{
	route(user_data, msg, path, query);
}

/* ---- before the body is read: the token and the size ---- */

/* Takes as long for every @given of a given length: no early exit on the first mismatch. */
static gboolean
token_equal(const char *given, const char *expected)
{
	gsize given_length = strlen(given);
	gsize expected_length = strlen(expected);
	guchar diff = given_length != expected_length;

	for (gsize i = 0; i < expected_length; i++)
		diff |= (guchar)expected[i] ^ (guchar)(i < given_length ? given[i] : 0);
	return diff == 0;
}

static gboolean
is_authorized(NbxControlApi *api, SoupServerMessage *msg)
{
	GSocketAddress *local = soup_server_message_get_local_address(msg);
	const char *header;

	/* The UNIX socket's mode and group are its access control. */
	if (local != NULL && G_IS_UNIX_SOCKET_ADDRESS(local))
		return TRUE;
	if (api->token == NULL)
		return FALSE;
	header = soup_message_headers_get_one(soup_server_message_get_request_headers(msg),
					      "Authorization");
	if (header == NULL || g_ascii_strncasecmp(header, "Bearer ", 7) != 0)
		return FALSE;
	return token_equal(header + 7, api->token);
}

/* Stops keeping a body that will be refused: it is drained, not stored. */
static void
discard_body(SoupServerMessage *msg)
{
	SoupMessageBody *body = soup_server_message_get_request_body(msg);

	soup_message_body_set_accumulate(body, FALSE);
	soup_message_body_truncate(body);
	soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
				     "close");
}

static void
refuse_too_large(NbxControlApi *api, SoupServerMessage *msg)
{
	discard_body(msg);
	respond_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large", "body",
		      "body: larger than the %" G_GSIZE_FORMAT " bytes allowed (api.max_upload_mb)",
		      api->max_body_bytes);
}

/* A chunked body announces no length: count it as it comes. */
static void
on_got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
	NbxControlApi *api = user_data;

	if (soup_server_message_get_status(msg) != 0)
		return;
	if ((gsize)soup_server_message_get_request_body(msg)->length > api->max_body_bytes)
		refuse_too_large(api, msg);
}

static void
on_request_headers(SoupServer *server, SoupServerMessage *msg, const char *path,
		   GHashTable *query, gpointer user_data)
{
	NbxControlApi *api = user_data;
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);

	if (!is_authorized(api, msg)) {
		discard_body(msg);
		soup_message_headers_replace(soup_server_message_get_response_headers(msg),
					     "WWW-Authenticate", "Bearer realm=\"nestbox\"");
		respond_error(msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized", NULL,
			      "over TCP every request needs \"Authorization: Bearer TOKEN\" with "
			      "the token of api.token_file");
		return;
	}
	if (soup_message_headers_get_encoding(headers) == SOUP_ENCODING_CONTENT_LENGTH &&
	    (guint64)soup_message_headers_get_content_length(headers) > api->max_body_bytes) {
		refuse_too_large(api, msg);
		return;
	}
	g_signal_connect(msg, "got-chunk", G_CALLBACK(on_got_chunk), api);
}

/* ---- listening ---- */

/*
 * A socket file left by a daemon that died is replaced; one that answers
 * belongs to a live daemon, and taking it over would cut that daemon off.
 */
static gboolean
clear_stale_socket(const char *path, GError **error)
{
	g_autoptr(GSocket) probe = NULL;
	g_autoptr(GSocketAddress) address = NULL;
	g_autoptr(GError) connect_error = NULL;
	struct stat st;

	if (g_lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return TRUE;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "api.socket: cannot inspect %s: %s", path, g_strerror(errno));
		return FALSE;
	}
	if (!S_ISSOCK(st.st_mode)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
			    "api.socket: %s exists and is not a socket; remove it or choose another "
			    "path",
			    path);
		return FALSE;
	}
	probe = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
			     error);
	if (probe == NULL)
		return FALSE;
	address = g_unix_socket_address_new(path);
	if (g_socket_connect(probe, address, NULL, &connect_error)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
			    "another nestboxd is listening on %s; stop it first, or give this one "
			    "another api.socket",
			    path);
		return FALSE;
	}
	if (!g_error_matches(connect_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "api.socket: cannot tell whether %s is in use: %s", path,
			    connect_error->message);
		return FALSE;
	}
	if (g_unlink(path) != 0 && errno != ENOENT) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "api.socket: cannot remove the stale socket %s: %s", path,
			    g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static gboolean
set_socket_access(const char *path, const char *group, GError **error)
{
	struct group *entry;

	if (g_chmod(path, 0660) != 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "api.socket: cannot chmod 0660 %s: %s", path, g_strerror(errno));
		return FALSE;
	}
	if (group == NULL || *group == '\0')
		return TRUE;
	errno = 0;
	entry = getgrnam(group);
	if (entry == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "api.socket_group: no group named \"%s\"%s%s", group,
			    errno != 0 ? ": " : "", errno != 0 ? g_strerror(errno) : "");
		return FALSE;
	}
	if (chown(path, (uid_t)-1, entry->gr_gid) != 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "api.socket_group: cannot give %s to group \"%s\": %s (the daemon must "
			    "be root or a member of the group)",
			    path, group, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static gboolean
listen_unix(NbxControlApi *api, const NbxControlApiOptions *options, GError **error)
{
	const char *path = options->socket_path;
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) address = NULL;
	struct sockaddr_un sun;
	struct stat st;

	if (strlen(path) >= sizeof sun.sun_path) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
			    "api.socket: %s is %zu bytes long; a UNIX socket path has at most %zu",
			    path, strlen(path), sizeof sun.sun_path - 1);
		return FALSE;
	}
	if (!clear_stale_socket(path, error))
		return FALSE;
	socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
			      error);
	if (socket == NULL)
		return FALSE;
	address = g_unix_socket_address_new(path);
	if (!g_socket_bind(socket, address, FALSE, error)) {
		g_prefix_error(error, "api.socket: cannot bind %s: ", path);
		return FALSE;
	}
	/* Until listen() nobody can connect, so the mode is right before anyone can. */
	if (g_lstat(path, &st) == 0) {
		api->socket_dev = st.st_dev;
		api->socket_ino = st.st_ino;
	}
	api->socket_path = g_strdup(path);
	if (!set_socket_access(path, options->socket_group, error))
		return FALSE;
	if (!g_socket_listen(socket, error)) {
		g_prefix_error(error, "api.socket: cannot listen on %s: ", path);
		return FALSE;
	}
	if (!soup_server_listen_socket(api->server, socket, 0, error)) {
		g_prefix_error(error, "api.socket: %s: ", path);
		return FALSE;
	}
	return TRUE;
}

/* "ADDRESS:PORT" or "[IPV6]:PORT", an IP literal: a name could resolve to anything. */
static GSocketAddress *
parse_tcp_address(const char *text, GError **error)
{
	g_autofree char *host = NULL;
	g_autoptr(GInetAddress) inet = NULL;
	const char *colon = strrchr(text, ':');
	guint64 port = 0;

	if (colon != NULL && text[0] == '[' && colon > text && colon[-1] == ']')
		host = g_strndup(text + 1, colon - text - 2);
	else if (colon != NULL && strchr(text, ':') == colon)
		host = g_strndup(text, colon - text);
	if (host == NULL ||
	    !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &port, NULL) ||
	    (inet = g_inet_address_new_from_string(host)) == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "api.tcp: expected ADDRESS:PORT with an IP address and a port from 1 "
			    "to 65535 (e.g. 127.0.0.1:8090 or [::1]:8090), found \"%s\"",
			    text);
		return NULL;
	}
	return g_inet_socket_address_new(inet, (guint16)port);
}

static gboolean
listen_tcp(NbxControlApi *api, const NbxControlApiOptions *options, GError **error)
{
	g_autoptr(GSocketAddress) address = NULL;
	g_autofree char *token = g_strstrip(g_strdup(options->token != NULL ? options->token : ""));

	if (strlen(token) < TOKEN_MIN_LENGTH) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "api.token_file: %s; put at least %d random characters in it, e.g. "
			    "`head -c 32 /dev/urandom | base64`",
			    *token == '\0' ? "api.tcp needs a token and it is empty or missing"
					   : "the token is too short",
			    TOKEN_MIN_LENGTH);
		return FALSE;
	}
	if (has_control_character(token)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "api.token_file: the token must be one line of printable characters");
		return FALSE;
	}
	address = parse_tcp_address(options->tcp_address, error);
	if (address == NULL)
		return FALSE;
	if (!soup_server_listen(api->server, address, 0, error)) {
		g_prefix_error(error, "api.tcp: cannot listen on %s: ", options->tcp_address);
		return FALSE;
	}
	api->token = g_steal_pointer(&token);
	return TRUE;
}

NbxControlApi *
nbx_control_api_new(NbxScheduler *scheduler, const NbxControlApiOptions *options, GError **error)
{
	NbxControlApi *api;

	g_return_val_if_fail(scheduler != NULL, NULL);
	g_return_val_if_fail(options != NULL && options->socket_path != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	api = g_new0(NbxControlApi, 1);
	api->scheduler = scheduler;
	api->max_body_bytes = options->max_body_bytes;
	api->server = soup_server_new("server-header", "nestboxd/" NESTBOX_VERSION " ", NULL);
	soup_server_add_early_handler(api->server, NULL, on_request_headers, api, NULL);
	soup_server_add_handler(api->server, NULL, on_request, api, NULL);
	if (!listen_unix(api, options, error) ||
	    (options->tcp_address != NULL && *options->tcp_address != '\0' &&
	     !listen_tcp(api, options, error))) {
		nbx_control_api_free(api);
		return NULL;
	}
	return api;
}

void
nbx_control_api_free(NbxControlApi *api)
{
	struct stat st;

	if (api == NULL)
		return;
	soup_server_disconnect(api->server);
	g_object_unref(api->server);
	if (api->socket_path != NULL && g_lstat(api->socket_path, &st) == 0 &&
	    st.st_dev == api->socket_dev && st.st_ino == api->socket_ino)
		g_unlink(api->socket_path);
	g_free(api->socket_path);
	g_free(api->token);
	g_free(api);
}
