/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A task submitted as multipart/form-data, read as it streams in with
 * libmicrohttpd's post processor: a "task" part (the task's JSON, kept up
 * to a limit) and a "file" part (the sample, written to an upload as it
 * comes). Any other part, or one of them twice, is refused, so a client's
 * typo ("files") is not silently dropped.
 */
#pragma once

#include <glib.h>

#include "api_problem.h"
#include "api_server.h"
#include "api_upload.h"

typedef struct _NbxApiMultipart NbxApiMultipart;

/*
 * Reads the body of @request; the "file" part goes to a new upload in
 * @samples_dir. NULL (with 400 in @problem) when the request is not
 * multipart/form-data with a boundary.
 */
NbxApiMultipart *nbx_api_multipart_new(NbxApiRequest *request, gsize task_limit,
				       const char *samples_dir, NbxApiProblem *problem);
/* The body's bytes as they come (an NbxApiBodyWrite). */
gboolean nbx_api_multipart_write(gpointer multipart, const char *data, gsize length,
				 NbxApiProblem *problem);
/* The body is whole: every part must be too (an NbxApiBodyFinish). */
gboolean nbx_api_multipart_finish(gpointer multipart, NbxApiProblem *problem);

/* Once finished: the "task" part (NULL when there was none)... */
GBytes *nbx_api_multipart_task(NbxApiMultipart *multipart);
/* ... the "file" part (NULL when there was none; still owned by @multipart)... */
NbxApiUpload *nbx_api_multipart_file(NbxApiMultipart *multipart);
/* ... and the file part's filename as sent (NULL when it had none). */
const char *nbx_api_multipart_filename(NbxApiMultipart *multipart);

void nbx_api_multipart_free(gpointer multipart);
