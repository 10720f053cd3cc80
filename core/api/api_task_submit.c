/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POST /api/v1/tasks: a task, and maybe its sample, in one of three bodies:
 *
 *   application/json           the task's fields; no sample
 *   multipart/form-data        a "task" part (the JSON, optional) and a "file"
 *                              part (the sample, optional); file_name in the
 *                              task names the sample instead of the part's
 *                              filename (a client may upload from a
 *                              temporary file)
 *   application/octet-stream   the sample itself as the body, the task's
 *                              JSON (with file_name, required) in the query
 *                              parameter "task": what a client that streams
 *                              a file finds simplest
 *
 * The sample streams to a file in the samples directory as it comes; the
 * task is submitted only once the body is whole. With an Idempotency-Key
 * header, the same key within a day answers with the task it made instead
 * of making another (a client that lost the 201 may retry), provided it
 * asks for the same; a key reused for a different request is refused 422.
 */
#include <string.h>

#include "api_json.h"
#include "api_multipart.h"
#include "api_task_fields.h"
#include "api_upload.h"
#include "control_api_routes.h"
#include "sha256.h"

#define IDEMPOTENCY_WINDOW_US (24 * G_TIME_SPAN_HOUR)
#define IDEMPOTENCY_KEY_MAX 255
#define IDEMPOTENCY_HEADER "Idempotency-Key"

typedef enum { BODY_JSON, BODY_MULTIPART, BODY_RAW } BodyKind;

/* The submission's body, as its head announced it. */
typedef struct {
	BodyKind kind;
	NbxApiMultipart *multipart;
	/* BODY_RAW: the sample, and the task from the query. */
	NbxApiUpload *upload;
	JsonObject *query_task;
} SubmitBody;

static void
submit_body_free(gpointer data)
{
	SubmitBody *body = data;

	nbx_api_multipart_free(body->multipart);
	nbx_api_upload_free(body->upload);
	g_clear_pointer(&body->query_task, json_object_unref);
	g_free(body);
}

/* The media type of a Content-Type, parameters ("; boundary=...") aside. */
static gboolean
media_type_is(const char *header, const char *wanted)
{
	gsize length;

	if (header == NULL)
		return FALSE;
	length = strcspn(header, ";");
	while (length > 0 && g_ascii_isspace(header[length - 1]))
		length--;
	return length == strlen(wanted) && g_ascii_strncasecmp(header, wanted, length) == 0;
}

/* ---- the raw upload ---- */

static gboolean
raw_write(gpointer sink, const char *data, gsize length, NbxApiProblem *problem)
{
	g_autoptr(GError) error = NULL;

	if (!nbx_api_upload_write(sink, data, length, &error))
		return nbx_api_problem_set(problem, 500, "internal", "file",
					   "file: cannot store the sample: %s", error->message);
	return TRUE;
}

static gboolean
raw_finish(gpointer sink, NbxApiProblem *problem)
{
	g_autoptr(GError) error = NULL;

	if (!nbx_api_upload_finish(sink, &error))
		return nbx_api_problem_set(problem, 500, "internal", "file",
					   "file: cannot store the sample: %s", error->message);
	return TRUE;
}

/* The task of a raw upload, from ?task=JSON, checked before any of the body comes. */
static gboolean
read_query_task(NbxApiRequest *request, SubmitBody *body, NbxApiProblem *problem)
{
	static const char *const known[] = { "task", NULL };
	GHashTable *query = nbx_api_request_query(request);
	const char *text = query != NULL ? g_hash_table_lookup(query, "task") : NULL;
	g_autoptr(NbxTask) check = nbx_task_new();

	if (!nbx_api_check_query(query, known, problem))
		return FALSE;
	body->query_task = nbx_api_json_parse_object("task", text != NULL ? text : "{}",
						     text != NULL ? strlen(text) : 2, problem);
	if (body->query_task == NULL || !nbx_api_read_task_object(body->query_task, check, problem))
		return FALSE;
	if (check->target_name == NULL)
		return nbx_api_problem_set(problem, 400, "invalid", "file_name",
					   "file_name: required when the body is the file: give it "
					   "in ?task={\"file_name\": ...}");
	return TRUE;
}

static gboolean
begin_raw(NbxControlApi *api, NbxApiRequest *request, SubmitBody *body, NbxApiProblem *problem)
{
	g_autoptr(GError) error = NULL;

	body->kind = BODY_RAW;
	body->upload = nbx_api_upload_new(nbx_scheduler_get_samples_dir(api->scheduler), &error);
	if (body->upload == NULL)
		return nbx_api_problem_set(problem, 500, "internal", "file",
					   "file: cannot store the sample: %s", error->message);
	/* Too large is said first, as for every other body. */
	if (!nbx_api_request_stream_body(request, api->max_body_bytes, "api.max_upload_mb",
					 raw_write, raw_finish, body->upload))
		return TRUE;
	return read_query_task(request, body, problem);
}

/* ---- the head: where the body goes ---- */

static gboolean
begin_body(NbxControlApi *api, NbxApiRequest *request, SubmitBody *body, NbxApiProblem *problem)
{
	static const char *const none[] = { NULL };
	const char *type = nbx_api_request_header(request, "Content-Type");

	if (media_type_is(type, "application/octet-stream"))
		return begin_raw(api, request, body, problem);
	if (!nbx_api_check_query(nbx_api_request_query(request), none, problem))
		return FALSE;
	if (media_type_is(type, "multipart/form-data")) {
		body->kind = BODY_MULTIPART;
		body->multipart = nbx_api_multipart_new(
			request, api->max_json_bytes, nbx_scheduler_get_samples_dir(api->scheduler),
			problem);
		if (body->multipart == NULL)
			return FALSE;
		nbx_api_request_stream_body(request, api->max_body_bytes, "api.max_upload_mb",
					    nbx_api_multipart_write, nbx_api_multipart_finish,
					    body->multipart);
		return TRUE;
	}
	if (type != NULL && !media_type_is(type, "application/json"))
		return nbx_api_problem_set(problem, 415, "unsupported_media_type", "body",
					   "body: send application/json, multipart/form-data with "
					   "\"task\" and \"file\" parts, or the file as "
					   "application/octet-stream with ?task=");
	body->kind = BODY_JSON;
	nbx_api_request_keep_body(request, api->max_json_bytes, "api.max_json_kb");
	return TRUE;
}

void
nbx_api_task_submit_head(NbxControlApi *api, NbxApiRequest *request)
{
	NbxApiCall *call = nbx_api_request_get_data(request);
	SubmitBody *body = g_new0(SubmitBody, 1);
	g_auto(NbxApiProblem) problem = { 0 };

	call->state = body;
	call->state_free = submit_body_free;
	if (!begin_body(api, request, body, &problem))
		nbx_api_request_refuse(request, &problem);
}

/* ---- the whole request: the task it asks for ---- */

static gboolean
read_json_task(NbxApiRequest *request, NbxTask *task, NbxApiProblem *problem)
{
	g_autoptr(GBytes) bytes = nbx_api_request_body(request);
	g_autoptr(JsonObject) object = NULL;
	gsize length;
	const char *data = g_bytes_get_data(bytes, &length);

	if (length == 0)
		return nbx_api_problem_set(problem, 400, "invalid", "body",
					   "body: empty; send the task as a JSON object ({} for "
					   "every default)");
	if (!media_type_is(nbx_api_request_header(request, "Content-Type"), "application/json"))
		return nbx_api_problem_set(problem, 415, "unsupported_media_type", "body",
					   "body: send application/json, or multipart/form-data "
					   "with \"task\" and \"file\" parts");
	object = nbx_api_json_parse_object("body", data, length, problem);
	if (object == NULL || !nbx_api_read_task_object(object, task, problem))
		return FALSE;
	if (task->target_name != NULL)
		return nbx_api_problem_set(problem, 400, "invalid", "file_name",
					   "file_name: only allowed with a \"file\" part "
					   "(multipart/form-data) or a file as the body");
	return TRUE;
}

/* The sample's name: file_name from the task, else the part's filename. */
static gboolean
name_sample(NbxTask *task, NbxApiUpload *file, const char *filename, NbxApiProblem *problem)
{
	if (nbx_api_upload_size(file) == 0)
		return nbx_api_problem_set(problem, 400, "invalid", "file",
					   "file: the sample is empty");
	if (task->target_name != NULL)
		return TRUE;
	if (filename == NULL)
		return nbx_api_problem_set(problem, 400, "invalid", "file",
					   "file: the part has no filename; give one, or file_name "
					   "in the task");
	if (!nbx_api_check_name("file", filename, problem))
		return FALSE;
	task->target_name = g_strdup(filename);
	return TRUE;
}

static gboolean
read_multipart_task(NbxApiMultipart *multipart, NbxTask *task, NbxApiProblem *problem)
{
	g_autoptr(GBytes) bytes = nbx_api_multipart_task(multipart);
	NbxApiUpload *file = nbx_api_multipart_file(multipart);

	if (bytes != NULL) {
		gsize length;
		const char *data = g_bytes_get_data(bytes, &length);
		g_autoptr(JsonObject) object = nbx_api_json_parse_object(
			"task", data != NULL ? data : "", length, problem);

		if (object == NULL || !nbx_api_read_task_object(object, task, problem))
			return FALSE;
	}
	if (file == NULL) {
		if (task->target_name != NULL)
			return nbx_api_problem_set(problem, 400, "invalid", "file_name",
						   "file_name: only allowed with a \"file\" part");
		return TRUE;
	}
	return name_sample(task, file, nbx_api_multipart_filename(multipart), problem);
}

/* The task and the sample (owned by @body), or FALSE with the problem. */
static gboolean
read_submission(NbxApiRequest *request, SubmitBody *body, NbxTask *task, NbxApiUpload **sample,
		NbxApiProblem *problem)
{
	switch (body->kind) {
	case BODY_JSON:
		*sample = NULL;
		return read_json_task(request, task, problem);
	case BODY_MULTIPART:
		*sample = nbx_api_multipart_file(body->multipart);
		return read_multipart_task(body->multipart, task, problem);
	case BODY_RAW:
		*sample = body->upload;
		return nbx_api_read_task_object(body->query_task, task, problem) &&
		       name_sample(task, body->upload, NULL, problem);
	}
	g_assert_not_reached();
}

/* ---- Idempotency-Key ---- */

static gboolean
check_key(const char *key, NbxApiProblem *problem)
{
	gsize length = strlen(key);

	if (length == 0 || length > IDEMPOTENCY_KEY_MAX)
		return nbx_api_problem_set(problem, 400, "invalid", IDEMPOTENCY_HEADER,
					   IDEMPOTENCY_HEADER ": must be 1 to %d characters",
					   IDEMPOTENCY_KEY_MAX);
	for (gsize i = 0; i < length; i++) {
		if (key[i] <= ' ' || key[i] > '~')
			return nbx_api_problem_set(problem, 400, "invalid", IDEMPOTENCY_HEADER,
						   IDEMPOTENCY_HEADER
						   ": must be printable ASCII "
						   "without spaces (a UUID will do)");
	}
	return TRUE;
}

/* Everything the request asks for: a retry with the same key must ask for the same. */
static char *
request_digest(const NbxTask *task, NbxApiUpload *sample)
{
	g_autoptr(JsonNode) node = nbx_task_to_json(task);
	g_autofree char *text = json_to_string(node, FALSE);
	g_autofree char *whole =
		g_strconcat(text, "\n", sample != NULL ? nbx_api_upload_sha256(sample) : "", NULL);

	return nbx_sha256_hex(whole, strlen(whole));
}

static void
respond_created(NbxApiRequest *request, const NbxTask *task)
{
	g_autofree char *location =
		g_strdup_printf(NBX_API_PREFIX "/tasks/%" G_GINT64_FORMAT, task->id);

	nbx_api_request_add_header(request, "Location", location);
	nbx_api_request_respond(request, 201, nbx_task_to_json(task));
}

/* TRUE when @key made a task already: answered (that task, or 422), nothing submitted. */
static gboolean
answer_known_key(NbxControlApi *api, NbxApiRequest *request, const char *key, const char *digest)
{
	NbxStore *store = nbx_scheduler_get_store(api->scheduler);
	g_autofree char *known_digest = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxTask) task = NULL;
	gint64 id = nbx_store_task_find_by_key(
		store, key, g_get_real_time() - IDEMPOTENCY_WINDOW_US, &known_digest, &error);

	if (id == 0)
		return FALSE;
	if (id > 0 && g_strcmp0(known_digest, digest) != 0) {
		nbx_api_request_respond_error(request, 422, "conflict", IDEMPOTENCY_HEADER,
					      IDEMPOTENCY_HEADER
					      ": already used for task %" G_GINT64_FORMAT
					      ", which asked for something else; use a new key "
					      "for a new task",
					      id);
		return TRUE;
	}
	if (id > 0)
		task = nbx_store_task_get(store, id, &error);
	if (task == NULL) {
		nbx_api_respond_scheduler_error(request, error, "conflict", 409);
		return TRUE;
	}
	nbx_api_request_add_header(request, "Idempotent-Replayed", "true");
	respond_created(request, task);
	return TRUE;
}

static void
submit(NbxControlApi *api, NbxApiRequest *request, const NbxTask *asked, NbxApiUpload *sample)
{
	const char *key = nbx_api_request_header(request, IDEMPOTENCY_HEADER);
	g_auto(NbxApiProblem) problem = { 0 };
	g_autoptr(GError) error = NULL;
	g_autoptr(NbxTask) task = NULL;
	g_autofree char *digest = NULL;
	NbxSubmission submission = { 0 };

	if (key != NULL) {
		if (!check_key(key, &problem)) {
			nbx_api_request_respond_problem(request, &problem);
			return;
		}
		digest = request_digest(asked, sample);
		if (answer_known_key(api, request, key, digest))
			return;
		submission.idempotency_key = key;
		submission.request_digest = digest;
		submission.keys_expired_us = g_get_real_time() - IDEMPOTENCY_WINDOW_US;
	}
	if (sample != NULL) {
		submission.sample_file = nbx_api_upload_path(sample);
		submission.sample_sha256 = nbx_api_upload_sha256(sample);
	}
	task = nbx_scheduler_submit(api->scheduler, asked, &submission, &error);
	if (task == NULL) {
		nbx_api_respond_scheduler_error(request, error, "shutting_down", 503);
		return;
	}
	if (sample != NULL)
		nbx_api_upload_adopt(sample);
	respond_created(request, task);
}

void
nbx_api_task_submit(NbxControlApi *api, NbxApiRequest *request, char **args, GHashTable *query)
{
	NbxApiCall *call = nbx_api_request_get_data(request);
	g_autoptr(NbxTask) asked = nbx_task_new();
	g_auto(NbxApiProblem) problem = { 0 };
	NbxApiUpload *sample = NULL;

	if (!read_submission(request, call->state, asked, &sample, &problem)) {
		nbx_api_request_respond_problem(request, &problem);
		return;
	}
	submit(api, request, asked, sample);
}
