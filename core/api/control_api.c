/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control API: HTTP/1.1 + JSON under /api/v1, served by api_server.c
 * (libmicrohttpd) on the main thread.
 *
 *   GET  /metrics                        the Prometheus text format (api_metrics.c)
 *   GET  /events[?task=ID]               Server-Sent Events of task and machine changes
 *   GET  /, /static/FILE; POST /login, /logout, /ui/tasks/ID/cancel
 *                                        the status page (api_page.c)
 *   GET  /api/v1/health                  status, version, counts, uptime
 *   POST /api/v1/tasks                   submit (JSON, multipart "task" + "file", or the
 *                                        file as the body with ?task=JSON); Idempotency-Key
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
 *   409 conflict                  413 too_large   414 too_large (url)
 *   415 unsupported_media_type    422 conflict (an Idempotency-Key reused)
 *   431 too_large (headers)       500 internal    503 shutting_down, busy
 *
 * A request is executed only once it has been received whole, and a
 * submitted task is validated completely here, before the scheduler sees
 * it, so a refused request, or one cut short, stores nothing.
 *
 * Access: the UNIX socket is guarded by its mode (0660) and group; TCP
 * requires "Authorization: Bearer TOKEN" on every request, checked before
 * the body is read.
 */
#include "control_api.h"

#include <string.h>

#include "api_events.h"
#include "api_json.h"
#include "api_listen.h"
#include "api_upload.h"
#include "control_api_routes.h"
#include "metrics.h"

/* Event streams (GET /events) served at once, besides api.max_connections. */
#define EVENT_STREAMS_MAX 64
/* A client this far behind is dropped: far more than a burst of changes, far less than memory. */
#define EVENT_QUEUE_BYTES (256 * 1024)

void
nbx_control_api_set_snapshots(NbxControlApi *api, NbxSnapshotManager *snapshots)
{
	api->snapshots = snapshots;
}

static gboolean
on_authorize(NbxApiRequest *request, gpointer user_data)
{
	NbxControlApi *api = user_data;

	return nbx_api_page_authorize(api->page, request);
}
/* ---- settings ---- */

#define DEFAULT(field, value)                                                              \
	do {                                                                               \
		if (filled.field == 0)                                                     \
			filled.field = (value);                                            \
	} while (0)

/* @options with each limit left 0 given its default: the schema's, for an api.* setting. */
static NbxControlApiOptions
with_defaults(const NbxControlApiOptions *options)
{
	NbxControlApiOptions filled = *options;
	NbxSettings schema;

	nbx_settings_defaults(&schema);
	DEFAULT(max_json_bytes, MIN((gsize)schema.api.max_json_kb * 1024, filled.max_body_bytes));
	DEFAULT(max_header_bytes, (gsize)schema.api.max_header_kb * 1024);
	DEFAULT(max_connections, (guint)schema.api.max_connections);
	DEFAULT(header_timeout_s, (guint)schema.api.header_timeout);
	DEFAULT(idle_timeout_s, (guint)schema.api.idle_timeout);
	DEFAULT(listen_backlog, (guint)schema.api.listen_backlog);
	DEFAULT(max_event_streams, EVENT_STREAMS_MAX);
	DEFAULT(event_queue_bytes, EVENT_QUEUE_BYTES);
	return filled;
}

#undef DEFAULT

/* ---- listening ---- */

static gboolean
listen_unix(NbxControlApi *api, const NbxControlApiOptions *options, int backlog, GError **error)
{
	int fd = nbx_api_listen_unix(options->socket_path, options->socket_group, backlog,
				     &api->socket_dev, &api->socket_ino, error);

	if (fd < 0)
		return FALSE;
	api->socket_path = g_strdup(options->socket_path);
	if (!nbx_api_server_add_listener(api->server, fd, NULL, error)) {
		g_prefix_error(error, "api.socket: %s: ", options->socket_path);
		return FALSE;
	}
	return TRUE;
}

static gboolean
listen_tcp(NbxControlApi *api, const NbxControlApiOptions *options, int backlog, GError **error)
{
	g_autofree char *token = g_strstrip(g_strdup(options->token != NULL ? options->token : ""));
	int fd;

	if (strlen(token) < NBX_API_TOKEN_MIN_LENGTH) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "api.token_file: %s; put at least %d random characters in it, e.g. "
			    "`head -c 32 /dev/urandom | base64`",
			    *token == '\0' ? "api.tcp needs a token and it is empty or missing"
					   : "the token is too short",
			    NBX_API_TOKEN_MIN_LENGTH);
		return FALSE;
	}
	if (nbx_api_has_control_character(token)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "api.token_file: the token must be one line of printable characters");
		return FALSE;
	}
	fd = nbx_api_listen_tcp(options->tcp_address, backlog, error);
	if (fd < 0)
		return FALSE;
	if (!nbx_api_server_add_listener(api->server, fd, token, error)) {
		g_prefix_error(error, "api.tcp: %s: ", options->tcp_address);
		return FALSE;
	}
	return TRUE;
}

NbxControlApi *
nbx_control_api_new(NbxScheduler *scheduler, const NbxControlApiOptions *given, GError **error)
{
	static const NbxApiServerHandlers handlers = { .head = nbx_api_route_head,
						       .execute = nbx_api_route_execute,
						       .authorize = on_authorize };
	NbxControlApiOptions filled;
	const NbxControlApiOptions *options = &filled;
	NbxApiServerLimits limits;
	int backlog;
	NbxControlApi *api;

	g_return_val_if_fail(scheduler != NULL, NULL);
	g_return_val_if_fail(given != NULL && given->socket_path != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	filled = with_defaults(given);
	limits = (NbxApiServerLimits){ .max_connections = options->max_connections,
				       .header_timeout_s = options->header_timeout_s,
				       .idle_timeout_s = options->idle_timeout_s,
				       .max_header_bytes = options->max_header_bytes,
				       .max_streams = options->max_event_streams };
	backlog = (int)options->listen_backlog;
	api = g_new0(NbxControlApi, 1);
	api->scheduler = scheduler;
	api->max_body_bytes = options->max_body_bytes;
	api->max_json_bytes = options->max_json_bytes;
	api->server = nbx_api_server_new(&limits, &handlers, api);
	nbx_api_upload_clean_dir(nbx_scheduler_get_samples_dir(scheduler));
	api->page = nbx_api_page_new();
	api->events = nbx_api_events_new(scheduler, options->event_queue_bytes);
	if (!nbx_metrics_follow_tasks(nbx_scheduler_get_store(scheduler), error)) {
		g_prefix_error(error, "metrics: cannot count the stored tasks: ");
		nbx_control_api_free(api);
		return NULL;
	}
	if (!listen_unix(api, options, backlog, error) ||
	    (options->tcp_address != NULL && *options->tcp_address != '\0' &&
	     !listen_tcp(api, options, backlog, error))) {
		nbx_control_api_free(api);
		return NULL;
	}
	return api;
}

guint
nbx_control_api_connection_count(NbxControlApi *api)
{
	return nbx_api_server_connection_count(api->server);
}

guint
nbx_control_api_stream_count(NbxControlApi *api)
{
	return nbx_api_server_stream_count(api->server);
}

void
nbx_control_api_free(NbxControlApi *api)
{
	if (api == NULL)
		return;
	nbx_api_server_free(api->server);
	/* After the server: its streams are closed by now. */
	nbx_api_events_free(api->events);
	nbx_api_page_free(api->page);
	nbx_metrics_unfollow_tasks();
	if (api->socket_path != NULL)
		nbx_api_unlink_unix(api->socket_path, api->socket_dev, api->socket_ino);
	g_free(api->socket_path);
	g_free(api);
}
