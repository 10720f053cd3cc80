/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "api_multipart.h"

#include <microhttpd.h>
#include <string.h>

/* Part headers and boundaries pass through this buffer; data is handed on in pieces of it. */
#define POST_BUFFER_BYTES (64 * 1024)

typedef enum { PART_NONE, PART_TASK, PART_FILE } PartKind;

struct _NbxApiMultipart {
	struct MHD_PostProcessor *processor;
	char *samples_dir;
	gsize task_limit;
	GByteArray *task;
	NbxApiUpload *file;
	char *filename;
	/* The part being read: its kind, name and bytes so far. */
	PartKind kind;
	char *name;
	guint64 part_bytes;
	/* Why the reader stopped, when it refused the body. */
	NbxApiProblem problem;
};

/*
 * libmicrohttpd says nothing when a part ends: a part begins when the name
 * changes, or when data starts over at offset 0 after some came (a part
 * repeated with the same name).
 */
static gboolean
is_new_part(NbxApiMultipart *mp, const char *key, uint64_t offset)
{
	return mp->kind == PART_NONE || g_strcmp0(key, mp->name) != 0 ||
	       (offset == 0 && mp->part_bytes > 0);
}

static gboolean
begin_part(NbxApiMultipart *mp, const char *key, const char *filename)
{
	g_autoptr(GError) error = NULL;
	const char *shown = key != NULL ? key : "a part without a name";

	g_free(mp->name);
	mp->name = g_strdup(key);
	mp->part_bytes = 0;
	if (g_strcmp0(key, "task") == 0 && mp->task == NULL) {
		mp->kind = PART_TASK;
		mp->task = g_byte_array_new();
		return TRUE;
	}
	if (g_strcmp0(key, "file") == 0 && mp->file == NULL) {
		mp->kind = PART_FILE;
		mp->filename = g_strdup(filename);
		mp->file = nbx_api_upload_new(mp->samples_dir, &error);
		if (mp->file == NULL)
			return nbx_api_problem_set(&mp->problem, 500, "internal", NULL,
						   "cannot store the sample: %s", error->message);
		return TRUE;
	}
	return nbx_api_problem_set(&mp->problem, 400, "unknown_field", key != NULL ? key : "body",
				   "%s: unexpected part (expected one \"task\" and at most one "
				   "\"file\")",
				   shown);
}

static gboolean
take_part_data(NbxApiMultipart *mp, const char *data, size_t size)
{
	g_autoptr(GError) error = NULL;

	mp->part_bytes += size;
	if (mp->kind == PART_TASK) {
		if (mp->task->len + size > mp->task_limit)
			return nbx_api_problem_set(&mp->problem, 413, "too_large", "task",
						   "task: larger than the %" G_GSIZE_FORMAT
						   " bytes allowed (api.max_json_kb)",
						   mp->task_limit);
		g_byte_array_append(mp->task, (const guint8 *)data, (guint)size);
		return TRUE;
	}
	if (!nbx_api_upload_write(mp->file, data, size, &error))
		return nbx_api_problem_set(&mp->problem, 500, "internal", "file",
					   "file: cannot store the sample: %s", error->message);
	return TRUE;
}

static enum MHD_Result
on_part_data(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
	     const char *content_type, const char *transfer_encoding, const char *data,
	     uint64_t offset, size_t size)
{
	NbxApiMultipart *mp = cls;

	if (is_new_part(mp, key, offset) && !begin_part(mp, key, filename))
		return MHD_NO;
	return take_part_data(mp, data, size) ? MHD_YES : MHD_NO;
}

static gboolean
not_multipart(NbxApiProblem *problem, const char *why)
{
	return nbx_api_problem_set(problem, 400, "invalid", "body",
				   "body: not valid multipart/form-data (%s)", why);
}

NbxApiMultipart *
nbx_api_multipart_new(NbxApiRequest *request, gsize task_limit, const char *samples_dir,
		      NbxApiProblem *problem)
{
	NbxApiMultipart *mp = g_new0(NbxApiMultipart, 1);

	mp->samples_dir = g_strdup(samples_dir);
	mp->task_limit = task_limit;
	mp->processor = MHD_create_post_processor(nbx_api_request_connection(request),
						  POST_BUFFER_BYTES, on_part_data, mp);
	if (mp->processor == NULL) {
		not_multipart(problem, "no boundary, or one too long");
		nbx_api_multipart_free(mp);
		return NULL;
	}
	return mp;
}

gboolean
nbx_api_multipart_write(gpointer multipart, const char *data, gsize length, NbxApiProblem *problem)
{
	NbxApiMultipart *mp = multipart;

	if (MHD_post_process(mp->processor, data, length) == MHD_YES)
		return TRUE;
	if (mp->problem.status == 0)
		return not_multipart(problem, "a part's headers are malformed or too long");
	return nbx_api_problem_set(problem, mp->problem.status, mp->problem.code, mp->problem.field,
				   "%s", mp->problem.message);
}

gboolean
nbx_api_multipart_finish(gpointer multipart, NbxApiProblem *problem)
{
	NbxApiMultipart *mp = multipart;
	g_autoptr(GError) error = NULL;
	enum MHD_Result complete = MHD_destroy_post_processor(mp->processor);

	mp->processor = NULL;
	if (complete != MHD_YES)
		return not_multipart(problem, "a part is cut short, or the closing boundary is "
					      "missing");
	if (mp->task == NULL && mp->file == NULL)
		return nbx_api_problem_set(problem, 400, "invalid", "body",
					   "body: no parts; send a \"task\" part, a \"file\" "
					   "part or both");
	if (mp->file != NULL && !nbx_api_upload_finish(mp->file, &error))
		return nbx_api_problem_set(problem, 500, "internal", "file",
					   "file: cannot store the sample: %s", error->message);
	return TRUE;
}

GBytes *
nbx_api_multipart_task(NbxApiMultipart *multipart)
{
	if (multipart->task == NULL)
		return NULL;
	return g_bytes_new(multipart->task->data, multipart->task->len);
}

NbxApiUpload *
nbx_api_multipart_file(NbxApiMultipart *multipart)
{
	return multipart->file;
}

const char *
nbx_api_multipart_filename(NbxApiMultipart *multipart)
{
	return multipart->filename;
}

void
nbx_api_multipart_free(gpointer multipart)
{
	NbxApiMultipart *mp = multipart;

	if (mp == NULL)
		return;
	if (mp->processor != NULL)
		MHD_destroy_post_processor(mp->processor);
	g_clear_pointer(&mp->task, g_byte_array_unref);
	nbx_api_upload_free(mp->file);
	nbx_api_problem_clear(&mp->problem);
	g_free(mp->filename);
	g_free(mp->name);
	g_free(mp->samples_dir);
	g_free(mp);
}
