/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nestbox: the command-line client of nestboxd's control API (see
 * core/api/control_api.c for the routes). It talks HTTP over the daemon's UNIX
 * socket, or over TCP with a bearer token, prints tables for people and the
 * API's own JSON with --json, and says what went wrong in its exit status.
 */
#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	EXIT_OK = 0,
	/* The task failed or was cancelled, or the daemon refused (4xx). */
	EXIT_REFUSED = 1,
	EXIT_USAGE = 2,
	/* Not running: no socket, nobody listening on it, no route to it. */
	EXIT_UNREACHABLE = 3,
	/* The daemon failed (5xx), stayed busy, or answered something that is not the API. */
	EXIT_SERVER = 4,
};

#define DEFAULT_SOCKET "/run/nestbox/api.sock"
/*
 * A busy daemon (every connection it serves at once taken, its listen
 * queue full) is tried again for this long; one that is not there, for a
 * moment only (it may be restarting).
 */
#define BUSY_RETRY_US (5 * G_USEC_PER_SEC)
#define DOWN_RETRY_US (G_USEC_PER_SEC / 2)
#define RETRY_FIRST_US (10 * 1000)
#define RETRY_MAX_US (G_USEC_PER_SEC / 2)

static char *opt_socket = NULL;
static char *opt_url = NULL;
static char *opt_token_file = NULL;
static gboolean opt_json = FALSE;

static const GOptionEntry global_entries[] = {
	{ "socket", 's', 0, G_OPTION_ARG_FILENAME, &opt_socket,
	  "nestboxd's UNIX socket (default $NESTBOX_SOCKET, else " DEFAULT_SOCKET ")", "PATH" },
	{ "url", 0, 0, G_OPTION_ARG_STRING, &opt_url,
	  "Talk to nestboxd over TCP instead, e.g. http://10.0.0.5:8090", "URL" },
	{ "token-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_token_file,
	  "File holding the bearer token for --url", "FILE" },
	{ "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json, "Print the API's JSON instead of a table",
	  NULL },
	G_OPTION_ENTRY_NULL,
};

/* submit */
static char *opt_machine = NULL;
static char *opt_platform = NULL;
static char *opt_os_version = NULL;
static char *opt_architecture = NULL;
static char **opt_tags = NULL;
static gint64 opt_duration = 0;
static gboolean opt_duration_set = FALSE;
static gint64 opt_priority = 0;
static gboolean opt_priority_set = FALSE;
static gboolean opt_memory_dump = FALSE;
static gboolean opt_debug = FALSE;
static char **opt_options = NULL;
static char *opt_route = NULL;
static gboolean opt_wait = FALSE;
static char *opt_package = NULL;
static char *opt_command = NULL;
static char **opt_arguments = NULL;
static gboolean opt_until_exit = FALSE;
static char **opt_fetch = NULL;
/* list */
static char *opt_state = NULL;
static gint64 opt_limit = 0;
/* machine disable */
static char *opt_reason = NULL;

/* An integer option that was given, whatever its value: the daemon judges 0 or -5. */
static gboolean
parse_integer(const char *name, const char *value, gint64 *out, gboolean *given, GError **error)
{
	if (!g_ascii_string_to_signed(value, 10, G_MININT64, G_MAXINT64, out, NULL)) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			    "%s: expected an integer, found \"%s\"", name, value);
		return FALSE;
	}
	*given = TRUE;
	return TRUE;
}

static gboolean
parse_priority(const char *name, const char *value, gpointer data, GError **error)
{
	return parse_integer(name, value, &opt_priority, &opt_priority_set, error);
}

static gboolean
parse_duration(const char *name, const char *value, gpointer data, GError **error)
{
	return parse_integer(name, value, &opt_duration, &opt_duration_set, error);
}

static const GOptionEntry submit_entries[] = {
	{ "machine", 'm', 0, G_OPTION_ARG_STRING, &opt_machine, "Run on this machine (name or label)",
	  "NAME" },
	{ "platform", 'p', 0, G_OPTION_ARG_STRING, &opt_platform, "Guest platform (windows, linux...)",
	  "P" },
	{ "os-version", 0, 0, G_OPTION_ARG_STRING, &opt_os_version, "Guest OS version, e.g. win10",
	  "V" },
	{ "architecture", 0, 0, G_OPTION_ARG_STRING, &opt_architecture,
	  "Guest architecture, e.g. amd64", "A" },
	{ "tag", 't', 0, G_OPTION_ARG_STRING_ARRAY, &opt_tags,
	  "A tag the machine must have (repeatable)", "T" },
	{ "duration", 'd', 0, G_OPTION_ARG_CALLBACK, parse_duration,
	  "Seconds to run (default: the daemon's)", "S" },
	{ "priority", 0, 0, G_OPTION_ARG_CALLBACK, parse_priority,
	  "Higher runs first (default 0)", "N" },
	{ "memory-dump", 0, 0, G_OPTION_ARG_NONE, &opt_memory_dump, "Dump the guest's memory", NULL },
	{ "debug", 0, 0, G_OPTION_ARG_NONE, &opt_debug, "Keep more for debugging", NULL },
	{ "option", 'o', 0, G_OPTION_ARG_STRING_ARRAY, &opt_options,
	  "An auxiliary's option (repeatable)", "AUX.KEY=VALUE" },
	{ "route", 'r', 0, G_OPTION_ARG_STRING, &opt_route,
	  "Network route (the router auxiliary): none, drop, internet, sinkhole, vpn; the same "
	  "as --option router.route=ROUTE", "ROUTE" },
	{ "wait", 'w', 0, G_OPTION_ARG_NONE, &opt_wait,
	  "Follow the task until it ends; exit 0 only when it is reported", NULL },
	{ "package", 0, 0, G_OPTION_ARG_STRING, &opt_package,
	  "How the guest runs the sample: exe (default), shell, python, dll", "P" },
	{ "command", 0, 0, G_OPTION_ARG_STRING, &opt_command,
	  "Or this command line (placeholders %SAMPLE%, %DIR%, %ARGS%)", "CMD" },
	{ "arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_arguments,
	  "An argument for the sample (repeatable)", "A" },
	{ "until-exit", 0, 0, G_OPTION_ARG_NONE, &opt_until_exit,
	  "End the run as soon as the sample exits", NULL },
	{ "fetch", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_fetch,
	  "A guest file or glob to bring back (repeatable)", "PATH" },
	G_OPTION_ENTRY_NULL,
};

static const GOptionEntry list_entries[] = {
	{ "state", 0, 0, G_OPTION_ARG_STRING, &opt_state,
	  "Only tasks in this state (queued, running, reported, failed, cancelled)", "S" },
	{ "limit", 'n', 0, G_OPTION_ARG_INT64, &opt_limit, "At most N tasks, newest first", "N" },
	G_OPTION_ENTRY_NULL,
};

static const GOptionEntry disable_entries[] = {
	{ "reason", 'r', 0, G_OPTION_ARG_STRING, &opt_reason,
	  "Why (shown in `nestbox machines`)", "TEXT" },
	G_OPTION_ENTRY_NULL,
};

static gboolean opt_cold_boot;
static gboolean opt_full;
static gboolean opt_replace;
static gboolean opt_minimal;
static char *opt_output;
static char *opt_into;

static const GOptionEntry snapshot_entries[] = {
	{ "cold-boot", 0, 0, G_OPTION_ARG_NONE, &opt_cold_boot,
	  "begin: boot the disk instead of restoring the memory", NULL },
	{ "full", 0, 0, G_OPTION_ARG_NONE, &opt_full,
	  "export: include the memory state and the host's fingerprint", NULL },
	{ "output", 'o', 0, G_OPTION_ARG_FILENAME, &opt_output, "export: the archive to write",
	  "FILE" },
	{ "replace", 0, 0, G_OPTION_ARG_NONE, &opt_replace,
	  "import: over a machine that has a snapshot already", NULL },
	{ "minimal", 0, 0, G_OPTION_ARG_NONE, &opt_minimal,
	  "import: leave the memory out (it then needs a cold boot and a commit)", NULL },
	{ "machine", 'm', 0, G_OPTION_ARG_STRING, &opt_into,
	  "import: into this machine instead of the one the archive names", "NAME" },
	G_OPTION_ENTRY_NULL,
};

static const char commands_help[] =
	"Commands:\n"
	"  submit [FILE] [options]         Submit a task (a file, or none); --wait follows it\n"
	"  status ID                       Show a task and its events\n"
	"  list [--state S] [--limit N]    List tasks, newest first\n"
	"  cancel ID                       Cancel a queued or running task\n"
	"  watch [ID]                      Follow task ID to its end, or print every task and\n"
	"                                  machine change as it happens (GET /events)\n"
	"  machines                        List machines\n"
	"  machine enable NAME             Enable a machine again\n"
	"  machine disable NAME [--reason TEXT]\n"
	"                                  Take a machine out of use\n"
	"  plugins                         List the daemon's plugins\n"
	"  snapshot status                 Snapshot bases, generations, sessions\n"
	"  snapshot begin MACHINE [--cold-boot]\n"
	"                                  Start modifying MACHINE's base (prints a console)\n"
	"  snapshot copy MACHINE FILE...   Hand files to the guest being modified\n"
	"  snapshot commit MACHINE         Save it as the base's new generation\n"
	"  snapshot rollback MACHINE       Throw the modification away\n"
	"  snapshot export MACHINE [--full] -o FILE\n"
	"                                  Write the current generation to an archive\n"
	"  snapshot import FILE [--machine NAME] [--replace] [--minimal]\n"
	"                                  Make an archive the current generation\n"
	"  health                          Show the daemon's health\n"
	"\n"
	"Run `nestbox COMMAND --help` for a command's options.\n"
	"\n"
	"Exit status:\n"
	"  0  success (with submit --wait: the task was reported)\n"
	"  1  the task failed or was cancelled, or the daemon refused the request (4xx)\n"
	"  2  usage error\n"
	"  3  cannot reach the daemon: it is not running (a busy one is tried again)\n"
	"  4  the daemon failed (5xx), stayed busy, or its answer made no sense\n";

G_GNUC_PRINTF(1, 2)
static void
say_error(const char *format, ...)
{
	va_list args;
	g_autofree char *message = NULL;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	fprintf(stderr, "nestbox: %s\n", message);
}

/* ---- talking to the daemon ---- */

typedef struct {
	SoupSession *session;
	char *base;  /* "http://host:port" */
	char *where; /* for messages: the socket path or the URL */
	char *token; /* or NULL */
} Client;

static void
client_free(Client *client)
{
	g_clear_object(&client->session);
	g_free(client->base);
	g_free(client->where);
	g_free(client->token);
	g_free(client);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Client, client_free)

static Client *
client_new(int *status)
{
	g_autoptr(Client) client = g_new0(Client, 1);

	if (opt_url != NULL) {
		g_autofree char *contents = NULL;
		g_autoptr(GError) error = NULL;
		g_autoptr(GUri) uri = g_uri_parse(opt_url, G_URI_FLAGS_NONE, NULL);

		if (uri == NULL || g_strcmp0(g_uri_get_scheme(uri), "http") != 0 ||
		    g_uri_get_host(uri) == NULL) {
			say_error("--url: expected http://HOST:PORT, found \"%s\"", opt_url);
			*status = EXIT_USAGE;
			return NULL;
		}
		if (opt_token_file != NULL) {
			if (!g_file_get_contents(opt_token_file, &contents, NULL, &error)) {
				say_error("--token-file: %s", error->message);
				*status = EXIT_USAGE;
				return NULL;
			}
			client->token = g_strdup(g_strstrip(contents));
		}
		client->base = g_strdup(opt_url);
		while (g_str_has_suffix(client->base, "/"))
			client->base[strlen(client->base) - 1] = '\0';
		client->where = g_strdup(client->base);
		/* Never through an http_proxy: it would see the bearer token. */
		client->session = soup_session_new_with_options("proxy-resolver", NULL, NULL);
	} else {
		const char *path = opt_socket != NULL		      ? opt_socket
				   : g_getenv("NESTBOX_SOCKET") != NULL ? g_getenv("NESTBOX_SOCKET")
									: DEFAULT_SOCKET;
		g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);

		if (opt_token_file != NULL) {
			say_error("--token-file goes with --url (the UNIX socket needs no token)");
			*status = EXIT_USAGE;
			return NULL;
		}
		/* The host is never resolved: every connection goes to the socket. */
		client->base = g_strdup("http://localhost");
		client->where = g_strdup(path);
		client->session = soup_session_new_with_options("remote-connectable", address,
								"proxy-resolver", NULL, NULL);
	}
	soup_session_set_timeout(client->session, 0);
	soup_session_set_user_agent(client->session, "nestbox-cli");
	return g_steal_pointer(&client);
}

typedef struct {
	guint status;
	JsonNode *root; /* the parsed body, or NULL */
} Reply;

static void
reply_clear(Reply *reply)
{
	g_clear_pointer(&reply->root, json_node_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Reply, reply_clear)

static const char *
string_member(JsonObject *object, const char *name)
{
	JsonNode *node = json_object_get_member(object, name);

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

/* The member @name when it is an object, else NULL: the daemon's JSON is not trusted blindly. */
static JsonObject *
object_member(JsonObject *object, const char *name)
{
	JsonNode *node = json_object_get_member(object, name);

	return node != NULL && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

/* The API's error message, or a line about the status when the body has none. */
static char *
reply_error_message(const Reply *reply, SoupMessage *msg)
{
	if (reply->root != NULL && JSON_NODE_HOLDS_OBJECT(reply->root)) {
		JsonObject *error = object_member(json_node_get_object(reply->root), "error");

		if (error != NULL && string_member(error, "message") != NULL)
			return g_strdup(string_member(error, "message"));
	}
	return g_strdup_printf("the daemon answered %u %s", reply->status,
			       soup_message_get_reason_phrase(msg));
}

/* One request as the CLI sends it, perhaps more than once. */
typedef struct {
	const char *method;
	const char *path;
	const char *content_type;
	GBytes *body; /* or NULL */
	/* The body streamed from this file instead, and its size. */
	const char *file;
	goffset file_size;
	/* Makes a retried submission safe: the daemon answers with the task it made. */
	const char *idempotency_key;
} Call;

static SoupMessage *
call_message(Client *client, const Call *call, int *status)
{
	g_autofree char *url = g_strconcat(client->base, call->path, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new(call->method, url);
	SoupMessageHeaders *headers;

	if (msg == NULL) {
		say_error("cannot build a request for %s", url);
		*status = EXIT_USAGE;
		return NULL;
	}
	headers = soup_message_get_request_headers(msg);
	if (client->token != NULL) {
		g_autofree char *header = g_strconcat("Bearer ", client->token, NULL);

		soup_message_headers_replace(headers, "Authorization", header);
	}
	if (call->idempotency_key != NULL)
		soup_message_headers_replace(headers, "Idempotency-Key", call->idempotency_key);
	if (call->body != NULL)
		soup_message_set_request_body_from_bytes(msg, call->content_type, call->body);
	if (call->file != NULL) {
		g_autoptr(GFile) file = g_file_new_for_path(call->file);
		g_autoptr(GError) error = NULL;
		g_autoptr(GFileInputStream) stream = g_file_read(file, NULL, &error);

		if (stream == NULL) {
			say_error("cannot read %s: %s", call->file, error->message);
			*status = EXIT_USAGE;
			return NULL;
		}
		soup_message_set_request_body(msg, call->content_type, G_INPUT_STREAM(stream),
					      call->file_size);
	}
	return g_steal_pointer(&msg);
}

/* The daemon's answer; EXIT_OK for a 2xx with a JSON object, else reported. */
static int
read_reply(Client *client, SoupMessage *msg, GBytes *answer, Reply *reply)
{
	g_autofree char *message = NULL;
	gsize length;
	const char *data = g_bytes_get_data(answer, &length);

	reply->status = soup_message_get_status(msg);
	g_clear_pointer(&reply->root, json_node_unref);
	if (length > 0) {
		/* The body is not NUL-terminated: parse it by its length. */
		g_autoptr(JsonParser) parser = json_parser_new();

		if (json_parser_load_from_data(parser, data, length, NULL) &&
		    json_parser_get_root(parser) != NULL)
			reply->root = json_node_copy(json_parser_get_root(parser));
	}
	if (SOUP_STATUS_IS_SUCCESSFUL(reply->status)) {
		if (reply->root == NULL || !JSON_NODE_HOLDS_OBJECT(reply->root)) {
			say_error("the daemon at %s answered %u without a JSON object", client->where,
				  reply->status);
			return EXIT_SERVER;
		}
		return EXIT_OK;
	}
	message = reply_error_message(reply, msg);
	say_error("%s", message);
	return SOUP_STATUS_IS_CLIENT_ERROR(reply->status) ? EXIT_REFUSED : EXIT_SERVER;
}

/* A 503 "busy": the daemon had all the connections it serves at once. */
static gboolean
is_busy_answer(SoupMessage *msg, GBytes *answer)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	gsize length;
	const char *data = g_bytes_get_data(answer, &length);
	JsonNode *root;
	JsonObject *error;

	if (soup_message_get_status(msg) != SOUP_STATUS_SERVICE_UNAVAILABLE || length == 0 ||
	    !json_parser_load_from_data(parser, data, length, NULL))
		return FALSE;
	root = json_parser_get_root(parser);
	error = root != NULL && JSON_NODE_HOLDS_OBJECT(root)
			? object_member(json_node_get_object(root), "error")
			: NULL;
	return error != NULL && g_strcmp0(string_member(error, "code"), "busy") == 0;
}

/*
 * Why a request got no answer. The daemon is down when its socket is
 * missing or nobody listens on it (or the host or port cannot be reached);
 * it is busy when the kernel's queue of connections waiting for it is full
 * (EAGAIN on connect): that is not "not running", and it passes.
 */
typedef enum { FAILURE_DOWN, FAILURE_BUSY, FAILURE_LOST } Failure;

static Failure
classify_failure(const GError *error)
{
	static const GIOErrorEnum down[] = {
		G_IO_ERROR_NOT_FOUND,	      G_IO_ERROR_CONNECTION_REFUSED,
		G_IO_ERROR_PERMISSION_DENIED, G_IO_ERROR_HOST_UNREACHABLE,
		G_IO_ERROR_NETWORK_UNREACHABLE, G_IO_ERROR_TIMED_OUT,
		G_IO_ERROR_HOST_NOT_FOUND,
	};

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
		return FAILURE_BUSY;
	for (guint i = 0; i < G_N_ELEMENTS(down); i++) {
		if (g_error_matches(error, G_IO_ERROR, down[i]))
			return FAILURE_DOWN;
	}
	return FAILURE_LOST;
}

/* How long each kind of failure is retried, in microseconds. */
static gint64
retry_budget(Failure failure, const Call *call)
{
	switch (failure) {
	case FAILURE_BUSY:
		return BUSY_RETRY_US;
	case FAILURE_DOWN:
		/* A daemon being restarted: its socket comes back in a moment. */
		return DOWN_RETRY_US;
	case FAILURE_LOST:
		/* Sent, but no answer: only what is safe to send twice is. */
		return g_strcmp0(call->method, "GET") == 0 || call->idempotency_key != NULL
			       ? BUSY_RETRY_US
			       : 0;
	}
	g_assert_not_reached();
}

static int
report_failure(Client *client, Failure failure, const GError *error)
{
	switch (failure) {
	case FAILURE_DOWN:
		say_error("cannot reach nestboxd at %s: %s%s", client->where, error->message,
			  opt_url == NULL ? " (is it running? use --socket or NESTBOX_SOCKET)"
					  : "");
		return EXIT_UNREACHABLE;
	case FAILURE_BUSY:
		say_error("nestboxd at %s is busy: its queue of waiting connections stayed full "
			  "for %d s (api.listen_backlog); try again later",
			  client->where, (int)(BUSY_RETRY_US / G_USEC_PER_SEC));
		return EXIT_SERVER;
	case FAILURE_LOST:
		say_error("nestboxd at %s did not answer: %s", client->where, error->message);
		return EXIT_SERVER;
	}
	g_assert_not_reached();
}

/*
 * Sends @call until it is answered; a daemon that is busy (or restarting)
 * is tried again, with growing pauses, for a while. On success fills
 * @reply and returns EXIT_OK; anything else has been reported on stderr,
 * and the exit status is returned.
 */
static int
client_send(Client *client, const Call *call, Reply *reply)
{
	gint64 start = g_get_monotonic_time();
	gint64 pause = RETRY_FIRST_US;
	gboolean told_busy = FALSE;

	for (;;) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) answer = NULL;
		g_autoptr(SoupMessage) msg = NULL;
		int status = EXIT_OK;
		Failure failure = FAILURE_BUSY;

		msg = call_message(client, call, &status);
		if (msg == NULL)
			return status;
		answer = soup_session_send_and_read(client->session, msg, NULL, &error);
		if (answer != NULL && !is_busy_answer(msg, answer))
			return read_reply(client, msg, answer, reply);
		if (answer == NULL)
			failure = classify_failure(error);
		else
			g_set_error(&error, G_IO_ERROR, G_IO_ERROR_BUSY,
				    "it serves all the connections it takes at once");
		if (g_get_monotonic_time() - start + pause > retry_budget(failure, call))
			return report_failure(client, failure, error);
		if (failure == FAILURE_BUSY && !told_busy) {
			fprintf(stderr, "nestbox: nestboxd at %s is busy; trying again\n",
				client->where);
			told_busy = TRUE;
		}
		g_usleep(pause);
		pause = MIN(pause * 2, RETRY_MAX_US);
	}
}

static int
client_get(Client *client, const char *path, Reply *reply)
{
	Call call = { .method = "GET", .path = path };

	return client_send(client, &call, reply);
}

static int
client_post_json(Client *client, const char *path, JsonNode *node, Reply *reply)
{
	g_autofree char *text = node != NULL ? json_to_string(node, FALSE) : NULL;
	g_autoptr(GBytes) body = text != NULL ? g_bytes_new(text, strlen(text)) : NULL;
	Call call = { .method = "POST", .path = path, .body = body,
		      .content_type = body != NULL ? "application/json" : NULL };

	return client_send(client, &call, reply);
}

/* ---- printing ---- */

static void
print_json(JsonNode *node)
{
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autofree char *text = NULL;

	json_generator_set_root(generator, node);
	json_generator_set_pretty(generator, TRUE);
	text = json_generator_to_data(generator, NULL);
	printf("%s\n", text);
}

/* A member as text for a table cell; "-" for null or missing. */
static char *
cell(JsonObject *object, const char *name)
{
	JsonNode *node = json_object_get_member(object, name);

	if (node == NULL || JSON_NODE_HOLDS_NULL(node))
		return g_strdup("-");
	if (JSON_NODE_HOLDS_ARRAY(node)) {
		JsonArray *array = json_node_get_array(node);
		g_autoptr(GString) text = g_string_new(NULL);

		for (guint i = 0; i < json_array_get_length(array); i++) {
			JsonNode *element = json_array_get_element(array, i);

			if (JSON_NODE_HOLDS_VALUE(element) &&
			    json_node_get_value_type(element) == G_TYPE_STRING)
				g_string_append_printf(text, "%s%s", i > 0 ? "," : "",
						       json_node_get_string(element));
		}
		return g_strdup(text->len > 0 ? text->str : "-");
	}
	if (!JSON_NODE_HOLDS_VALUE(node))
		return json_to_string(node, FALSE);
	switch (json_node_get_value_type(node)) {
	case G_TYPE_STRING:
		return g_strdup(json_node_get_string(node));
	case G_TYPE_INT64:
		return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
	case G_TYPE_BOOLEAN:
		return g_strdup(json_node_get_boolean(node) ? "yes" : "no");
	default:
		return json_to_string(node, FALSE);
	}
}

static JsonArray *
array_member(JsonNode *root, const char *name)
{
	JsonNode *node = json_object_get_member(json_node_get_object(root), name);

	return node != NULL && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
}

/* Padded by characters, not bytes, so non-ASCII names keep the columns straight. */
static void
print_cell(const char *text, int width, gboolean last)
{
	if (last) {
		printf("%s\n", text);
		return;
	}
	printf("%s%*s  ", text, MAX(0, width - (int)g_utf8_strlen(text, -1)), "");
}

/* Prints the rows of @array as columns @names under @titles, widths fitted. */
static void
print_table(JsonArray *array, const char *const *names, const char *const *titles)
{
	guint columns = g_strv_length((char **)names);
	guint rows = array != NULL ? json_array_get_length(array) : 0;
	g_autofree int *widths = g_new0(int, columns);
	g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func(g_free);

	for (guint c = 0; c < columns; c++)
		widths[c] = strlen(titles[c]);
	for (guint r = 0; r < rows; r++) {
		JsonNode *row = json_array_get_element(array, r);

		for (guint c = 0; c < columns; c++) {
			char *text = JSON_NODE_HOLDS_OBJECT(row)
					     ? cell(json_node_get_object(row), names[c])
					     : g_strdup("?");

			widths[c] = MAX(widths[c], (int)g_utf8_strlen(text, -1));
			g_ptr_array_add(cells, text);
		}
	}
	for (guint c = 0; c < columns; c++)
		print_cell(titles[c], widths[c], c + 1 == columns);
	for (guint r = 0; r < rows; r++) {
		for (guint c = 0; c < columns; c++)
			print_cell(g_ptr_array_index(cells, r * columns + c), widths[c],
				   c + 1 == columns);
	}
}

static void
print_fields(JsonObject *object, const char *const *names)
{
	for (const char *const *name = names; *name != NULL; name++) {
		g_autofree char *text = cell(object, *name);

		printf("%-17s %s\n", *name, text);
	}
}

static const char *const task_fields[] = { "id",	   "state",	   "step",
					   "reason",	   "target_name",  "target",
					   "machine",	   "platform",	   "os_version",
					   "architecture", "tags",	   "priority",
					   "duration",	   "memory_dump",  "debug",
					   "options",	   "assigned_machine", "analysis_dir",
					   "attempts",	   "created",	   "started",
					   "ended",	   NULL };

static void
print_task(JsonNode *root)
{
	JsonArray *events = array_member(root, "events");

	print_fields(json_node_get_object(root), task_fields);
	if (events == NULL)
		return;
	printf("\nevents:\n");
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonNode *node = json_array_get_element(events, i);
		JsonObject *event;

		if (!JSON_NODE_HOLDS_OBJECT(node))
			continue;
		event = json_node_get_object(node);
		printf("  %s  %-18s %s%s%s\n", string_member(event, "time") ?: "-",
		       string_member(event, "kind") ?: "-", string_member(event, "message") ?: "",
		       string_member(event, "machine") != NULL ? "  machine=" : "",
		       string_member(event, "machine") ?: "");
	}
}

/* ---- commands ---- */

static gboolean
parse_id(const char *text, gint64 *id)
{
	guint64 value;

	if (text == NULL || !g_ascii_isdigit(*text) ||
	    !g_ascii_string_to_unsigned(text, 10, 1, G_MAXINT64, &value, NULL)) {
		say_error("expected a task id (a positive integer), found \"%s\"",
			  text != NULL ? text : "nothing");
		return FALSE;
	}
	*id = (gint64)value;
	return TRUE;
}

/* --option AUX.KEY=VALUE into {"AUX": {"KEY": "VALUE"}}. */
static JsonArray *
string_array(char **strings)
{
	JsonArray *array = json_array_new();

	for (char **s = strings; *s != NULL; s++)
		json_array_add_string_element(array, *s);
	return array;
}

static JsonObject *
options_object(char **options)
{
	g_autoptr(JsonObject) object = json_object_new();

	for (char **option = options; option != NULL && *option != NULL; option++) {
		const char *dot = strchr(*option, '.');
		const char *equals = strchr(*option, '=');
		g_autofree char *aux = NULL;
		g_autofree char *key = NULL;
		JsonObject *group;

		if (dot == NULL || equals == NULL || dot > equals || dot == *option ||
		    equals == dot + 1) {
			say_error("--option: expected AUX.KEY=VALUE, found \"%s\"", *option);
			return NULL;
		}
		aux = g_strndup(*option, dot - *option);
		key = g_strndup(dot + 1, equals - dot - 1);
		if (json_object_has_member(object, aux)) {
			group = json_object_get_object_member(object, aux);
		} else {
			group = json_object_new();
			json_object_set_object_member(object, aux, group);
		}
		json_object_set_string_member(group, key, equals + 1);
	}
	return g_steal_pointer(&object);
}

static JsonNode *
submit_request(const char *file)
{
	g_autoptr(JsonObject) task = json_object_new();
	JsonNode *node;

	if (opt_machine != NULL)
		json_object_set_string_member(task, "machine", opt_machine);
	if (opt_platform != NULL)
		json_object_set_string_member(task, "platform", opt_platform);
	if (opt_os_version != NULL)
		json_object_set_string_member(task, "os_version", opt_os_version);
	if (opt_architecture != NULL)
		json_object_set_string_member(task, "architecture", opt_architecture);
	if (opt_tags != NULL)
		json_object_set_array_member(task, "tags", string_array(opt_tags));
	if (opt_duration_set)
		json_object_set_int_member(task, "duration", opt_duration);
	if (opt_priority_set)
		json_object_set_int_member(task, "priority", opt_priority);
	if (opt_memory_dump)
		json_object_set_boolean_member(task, "memory_dump", TRUE);
	if (opt_debug)
		json_object_set_boolean_member(task, "debug", TRUE);
	if (opt_package != NULL)
		json_object_set_string_member(task, "package", opt_package);
	if (opt_command != NULL)
		json_object_set_string_member(task, "command", opt_command);
	if (opt_arguments != NULL)
		json_object_set_array_member(task, "arguments", string_array(opt_arguments));
	if (opt_until_exit)
		json_object_set_boolean_member(task, "until_exit", TRUE);
	if (opt_fetch != NULL)
		json_object_set_array_member(task, "files", string_array(opt_fetch));
	if (opt_options != NULL || opt_route != NULL) {
		g_autoptr(GStrvBuilder) all = g_strv_builder_new();
		g_autofree char *route = g_strconcat("router.route=", opt_route, NULL);
		g_auto(GStrv) given = NULL;
		JsonObject *options;

		if (opt_options != NULL)
			g_strv_builder_addv(all, (const char **)opt_options);
		/* Checked by the router at submission (check_task), like any option. */
		if (opt_route != NULL)
			g_strv_builder_add(all, route);
		given = g_strv_builder_end(all);
		options = options_object(given);
		if (options == NULL)
			return NULL;
		json_object_set_object_member(task, "options", options);
	}
	node = json_node_new(JSON_NODE_OBJECT);
	json_node_set_object(node, task);
	return node;
}

/*
 * The file is the body (streamed, never read into memory), the task's JSON
 * in ?task=; every submission carries a new Idempotency-Key, so one sent
 * again after a lost answer does not make a second task.
 */
static int
send_submission(Client *client, const char *file, JsonNode *task, Reply *reply)
{
	g_autofree char *key = g_uuid_string_random();
	g_autofree char *text = NULL;
	g_autofree char *escaped = NULL;
	g_autofree char *path = NULL;
	g_autofree char *name = NULL;
	g_autoptr(GBytes) body = NULL;
	GStatBuf st;
	Call call = { .method = "POST", .idempotency_key = key };

	if (file == NULL) {
		text = json_to_string(task, FALSE);
		body = g_bytes_new(text, strlen(text));
		call.path = "/api/v1/tasks";
		call.content_type = "application/json";
		call.body = body;
		return client_send(client, &call, reply);
	}
	if (g_stat(file, &st) != 0 || g_access(file, R_OK) != 0) {
		say_error("cannot read %s: %s", file, g_strerror(errno));
		return EXIT_USAGE;
	}
	if (!S_ISREG(st.st_mode)) {
		say_error("cannot read %s: not a regular file", file);
		return EXIT_USAGE;
	}
	name = g_path_get_basename(file);
	json_object_set_string_member(json_node_get_object(task), "file_name", name);
	text = json_to_string(task, FALSE);
	escaped = g_uri_escape_string(text, NULL, FALSE);
	path = g_strconcat("/api/v1/tasks?task=", escaped, NULL);
	call.path = path;
	call.content_type = "application/octet-stream";
	call.file = file;
	call.file_size = st.st_size;
	return client_send(client, &call, reply);
}

static const char *
task_state(JsonNode *root)
{
	return string_member(json_node_get_object(root), "state");
}

static gboolean
state_is_final(const char *state)
{
	return g_strcmp0(state, "reported") == 0 || g_strcmp0(state, "failed") == 0 ||
	       g_strcmp0(state, "cancelled") == 0;
}

static int
final_status(JsonNode *task)
{
	return g_strcmp0(task_state(task), "reported") == 0 ? EXIT_OK : EXIT_REFUSED;
}

static void
print_outcome(JsonNode *task)
{
	JsonObject *object = json_node_get_object(task);

	printf("state: %s\n", task_state(task) ?: "?");
	if (string_member(object, "reason") != NULL)
		printf("reason: %s\n", string_member(object, "reason"));
	if (string_member(object, "analysis_dir") != NULL)
		printf("analysis_dir: %s\n", string_member(object, "analysis_dir"));
}

/* ---- the event stream (GET /events) ---- */

/* GLib 2.76's g_set_str(), which Debian 12's GLib (2.74) lacks. */
static void
replace_string(char **target, const char *value)
{
	char *copy = g_strdup(value);

	g_free(*target);
	*target = copy;
}

/* A line of the stream longer than this is not the daemon's. */
#define EVENT_LINE_MAX (4 * 1024 * 1024)

typedef struct {
	Client *client;
	SoupMessage *msg;
	GDataInputStream *lines;
} EventStream;

static void
event_stream_clear(EventStream *stream)
{
	g_clear_object(&stream->lines);
	g_clear_object(&stream->msg);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(EventStream, event_stream_clear)

/* Subscribes to @path (under /events); once this returns EXIT_OK, no change is missed. */
static int
event_stream_open(Client *client, const char *path, EventStream *stream)
{
	Call call = { .method = "GET", .path = path };
	g_autoptr(GError) error = NULL;
	g_autoptr(GInputStream) body = NULL;
	int status = EXIT_OK;

	stream->client = client;
	stream->msg = call_message(client, &call, &status);
	if (stream->msg == NULL)
		return status;
	body = soup_session_send(client->session, stream->msg, NULL, &error);
	if (body == NULL)
		return report_failure(client, classify_failure(error), error);
	if (soup_message_get_status(stream->msg) != SOUP_STATUS_OK) {
		g_autoptr(GBytes) answer = g_input_stream_read_bytes(body, 64 * 1024, NULL, NULL);
		g_auto(Reply) reply = { 0 };

		return read_reply(client, stream->msg,
				  answer != NULL ? answer : g_bytes_new_static("", 0), &reply);
	}
	stream->lines = g_data_input_stream_new(body);
	return EXIT_OK;
}

/*
 * The next event: its kind and its data (a JSON object). Comments are
 * skipped. EXIT_SERVER when the daemon ends the stream or sends what is
 * not an event.
 */
static int
event_stream_next(EventStream *stream, char **kind, JsonNode **data)
{
	g_autofree char *event = NULL;
	g_autofree char *payload = NULL;

	for (;;) {
		g_autoptr(GError) error = NULL;
		gsize length = 0;
		g_autofree char *line =
			g_data_input_stream_read_line_utf8(stream->lines, &length, NULL, &error);

		if (line == NULL || length > EVENT_LINE_MAX) {
			say_error("nestboxd at %s ended the event stream%s%s", stream->client->where,
				  error != NULL ? ": " : "", error != NULL ? error->message : "");
			return EXIT_SERVER;
		}
		if (*line == '\0' && event != NULL && payload != NULL)
			break;
		if (g_str_has_prefix(line, "event: "))
			replace_string(&event, line + 7);
		else if (g_str_has_prefix(line, "data: "))
			replace_string(&payload, line + 6);
	}
	{
		g_autoptr(JsonParser) parser = json_parser_new();

		if (!json_parser_load_from_data(parser, payload, -1, NULL) ||
		    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
			say_error("nestboxd at %s sent an event that is not JSON", stream->client->where);
			return EXIT_SERVER;
		}
		*data = json_node_copy(json_parser_get_root(parser));
	}
	*kind = g_steal_pointer(&event);
	return EXIT_OK;
}

/* ---- following a task ---- */

typedef struct {
	char *state;
	/* Steps printed in the current attempt (a task queued again runs them again). */
	GHashTable *steps;
} Progress;

static void
progress_clear(Progress *progress)
{
	g_free(progress->state);
	g_clear_pointer(&progress->steps, g_hash_table_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Progress, progress_clear)

static void
print_step(Progress *progress, const char *step)
{
	if (step == NULL || g_hash_table_contains(progress->steps, step))
		return;
	g_hash_table_add(progress->steps, g_strdup(step));
	printf("step: %s\n", step);
}

/* Prints what changed: the state (not a final one: print_outcome says it), the step. */
static void
print_progress(Progress *progress, JsonNode *task)
{
	const char *state = task_state(task);
	JsonArray *events = array_member(task, "events");

	if (g_strcmp0(state, progress->state) != 0) {
		if (g_strcmp0(state, "queued") == 0)
			g_hash_table_remove_all(progress->steps);
		if (!state_is_final(state))
			printf("state: %s\n", state ?: "?");
		replace_string(&progress->state, state);
	}
	/* The task's own log has the steps that began before we subscribed. */
	for (guint i = 0; events != NULL && i < json_array_get_length(events); i++) {
		JsonNode *node = json_array_get_element(events, i);
		JsonObject *event = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;

		if (event != NULL && g_strcmp0(string_member(event, "kind"), "step.begin") == 0)
			print_step(progress, string_member(event, "message"));
	}
	if (g_strcmp0(state, "running") == 0)
		print_step(progress, string_member(json_node_get_object(task), "step"));
	fflush(stdout);
}

/*
 * Follows task @id until it ends, from the event stream: subscribed first,
 * then the task read once (what happened before), then every change as it
 * comes. Prints its steps and states, or with --json the task at its end.
 */
static int
wait_for_task(Client *client, gint64 id)
{
	g_autofree char *events_path = g_strdup_printf("/events?task=%" G_GINT64_FORMAT, id);
	g_autofree char *task_path = g_strdup_printf("/api/v1/tasks/%" G_GINT64_FORMAT, id);
	g_auto(EventStream) stream = { 0 };
	g_auto(Progress) progress = { .steps = g_hash_table_new_full(g_str_hash, g_str_equal,
								     g_free, NULL) };
	g_auto(Reply) reply = { 0 };
	g_autoptr(JsonNode) task = NULL;
	int status = event_stream_open(client, events_path, &stream);

	if (status == EXIT_OK)
		status = client_get(client, task_path, &reply);
	if (status != EXIT_OK)
		return status;
	task = g_steal_pointer(&reply.root);
	while (!state_is_final(task_state(task))) {
		g_autofree char *kind = NULL;

		if (!opt_json)
			print_progress(&progress, task);
		json_node_unref(g_steal_pointer(&task));
		status = event_stream_next(&stream, &kind, &task);
		if (status != EXIT_OK)
			return status;
	}
	if (opt_json) {
		/* The task with its events, as `status --json` shows it. */
		status = client_get(client, task_path, &reply);
		if (status != EXIT_OK)
			return status;
		print_json(reply.root);
	} else {
		print_outcome(task);
	}
	return final_status(task);
}

static void
print_event_line(const char *kind, JsonNode *data)
{
	JsonObject *object = json_node_get_object(data);

	if (strcmp(kind, "task") == 0) {
		const char *step = string_member(object, "step");
		const char *machine = string_member(object, "assigned_machine");

		printf("task %" G_GINT64_FORMAT " %s", json_object_get_int_member_with_default(object, "id", 0),
		       string_member(object, "state") ?: "?");
		if (g_strcmp0(string_member(object, "state"), "running") == 0 && step != NULL)
			printf(" step=%s", step);
		if (machine != NULL)
			printf(" machine=%s", machine);
		if (string_member(object, "reason") != NULL)
			printf(" reason=\"%s\"", string_member(object, "reason"));
	} else if (strcmp(kind, "machine") == 0) {
		JsonNode *task = json_object_get_member(object, "task_id");

		printf("machine %s %s", string_member(object, "name") ?: "?",
		       string_member(object, "activity") ?: "?");
		if (task != NULL && JSON_NODE_HOLDS_VALUE(task))
			printf(" task=%" G_GINT64_FORMAT, json_node_get_int(task));
		if (string_member(object, "disabled_reason") != NULL)
			printf(" disabled=\"%s\"", string_member(object, "disabled_reason"));
	} else {
		printf("%s", kind);
	}
	printf("\n");
}

/* Every change as it comes, one line each (or one JSON object a line), until the daemon stops. */
static int
watch_all(Client *client)
{
	g_auto(EventStream) stream = { 0 };
	int status = event_stream_open(client, "/events", &stream);

	while (status == EXIT_OK) {
		g_autofree char *kind = NULL;
		g_autoptr(JsonNode) data = NULL;

		status = event_stream_next(&stream, &kind, &data);
		if (status != EXIT_OK)
			break;
		if (opt_json) {
			g_autoptr(JsonGenerator) generator = json_generator_new();
			g_autofree char *text = NULL;
			JsonObject *line = json_object_new();
			JsonNode *root = json_node_new(JSON_NODE_OBJECT);

			json_object_set_string_member(line, "event", kind);
			json_object_set_member(line, "data", g_steal_pointer(&data));
			json_node_take_object(root, line);
			json_generator_set_root(generator, root);
			text = json_generator_to_data(generator, NULL);
			json_node_unref(root);
			printf("%s\n", text);
		} else {
			print_event_line(kind, data);
		}
		fflush(stdout);
	}
	return status;
}

static int
cmd_watch(Client *client, int argc, char **argv)
{
	gint64 id = 0;

	if (argc > 1) {
		say_error("watch takes at most one task ID (try --help)");
		return EXIT_USAGE;
	}
	if (argc == 0)
		return watch_all(client);
	if (!parse_id(argv[0], &id))
		return EXIT_USAGE;
	return wait_for_task(client, id);
}

static int
cmd_submit(Client *client, int argc, char **argv)
{
	g_autoptr(JsonNode) task = NULL;
	g_auto(Reply) reply = { 0 };
	const char *file = argc > 0 ? argv[0] : NULL;
	JsonObject *object;
	gint64 id;
	int status;

	if (argc > 1) {
		say_error("submit takes at most one FILE, found \"%s\" too (try --help)", argv[1]);
		return EXIT_USAGE;
	}
	task = submit_request(file);
	if (task == NULL)
		return EXIT_USAGE;
	status = send_submission(client, file, task, &reply);
	if (status != EXIT_OK)
		return status;
	object = json_node_get_object(reply.root);
	id = json_object_get_int_member_with_default(object, "id", 0);
	if (opt_wait) {
		if (!opt_json)
			printf("task %" G_GINT64_FORMAT " submitted\n", id);
		return wait_for_task(client, id);
	}
	if (opt_json)
		print_json(reply.root);
	else if (g_strcmp0(task_state(reply.root), "failed") == 0)
		printf("task %" G_GINT64_FORMAT " failed at once: %s\n", id,
		       string_member(object, "reason") ?: "no reason given");
	else
		printf("task %" G_GINT64_FORMAT " %s\n", id, task_state(reply.root) ?: "?");
	return g_strcmp0(task_state(reply.root), "failed") == 0 ? EXIT_REFUSED : EXIT_OK;
}

static int
cmd_status(Client *client, int argc, char **argv)
{
	g_auto(Reply) reply = { 0 };
	g_autofree char *path = NULL;
	gint64 id;
	int status;

	if (argc != 1) {
		say_error("usage: nestbox status ID");
		return EXIT_USAGE;
	}
	if (!parse_id(argv[0], &id))
		return EXIT_USAGE;
	path = g_strdup_printf("/api/v1/tasks/%" G_GINT64_FORMAT, id);
	status = client_get(client, path, &reply);
	if (status != EXIT_OK)
		return status;
	if (opt_json)
		print_json(reply.root);
	else
		print_task(reply.root);
	return EXIT_OK;
}

static int
cmd_list(Client *client, int argc, char **argv)
{
	static const char *const names[] = { "id",	  "state",   "priority", "target_name",
					     "assigned_machine", "step", "created", "reason",
					     NULL };
	static const char *const titles[] = { "ID",	  "STATE", "PRIO",    "FILE",
					      "MACHINE", "STEP",  "CREATED", "REASON" };
	g_auto(Reply) reply = { 0 };
	g_autoptr(GString) path = g_string_new("/api/v1/tasks");
	char separator = '?';
	int status;

	if (argc != 0) {
		say_error("list takes no arguments, found \"%s\" (try --help)", argv[0]);
		return EXIT_USAGE;
	}
	if (opt_state != NULL) {
		g_autofree char *escaped = g_uri_escape_string(opt_state, NULL, FALSE);

		g_string_append_printf(path, "%cstate=%s", separator, escaped);
		separator = '&';
	}
	if (opt_limit != 0)
		g_string_append_printf(path, "%climit=%" G_GINT64_FORMAT, separator, opt_limit);
	status = client_get(client, path->str, &reply);
	if (status != EXIT_OK)
		return status;
	if (opt_json)
		print_json(reply.root);
	else
		print_table(array_member(reply.root, "tasks"), names, titles);
	return EXIT_OK;
}

static int
cmd_cancel(Client *client, int argc, char **argv)
{
	g_auto(Reply) reply = { 0 };
	g_autofree char *path = NULL;
	gint64 id;
	int status;

	if (argc != 1) {
		say_error("usage: nestbox cancel ID");
		return EXIT_USAGE;
	}
	if (!parse_id(argv[0], &id))
		return EXIT_USAGE;
	path = g_strdup_printf("/api/v1/tasks/%" G_GINT64_FORMAT "/cancel", id);
	status = client_post_json(client, path, NULL, &reply);
	if (status != EXIT_OK)
		return status;
	if (opt_json)
		print_json(reply.root);
	else
		printf("task %" G_GINT64_FORMAT " %s\n", id,
		       task_state(reply.root) != NULL &&
				       strcmp(task_state(reply.root), "cancelled") == 0
			       ? "cancelled"
			       : "is being cancelled (its machine is stopping)");
	return EXIT_OK;
}

static int
cmd_machines(Client *client, int argc, char **argv)
{
	static const char *const names[] = { "name",	 "machinery", "platform", "os_version",
					     "tags",	 "state",     "activity", "task_id",
					     "failures", "disabled_reason", NULL };
	static const char *const titles[] = { "NAME",  "MACHINERY", "PLATFORM", "OS",
					      "TAGS",  "STATE",	    "ACTIVITY", "TASK",
					      "FAILS", "DISABLED" };
	g_auto(Reply) reply = { 0 };
	int status;

	if (argc != 0) {
		say_error("machines takes no arguments; did you mean `nestbox machine %s`?",
			  argv[0]);
		return EXIT_USAGE;
	}
	status = client_get(client, "/api/v1/machines", &reply);
	if (status != EXIT_OK)
		return status;
	if (opt_json)
		print_json(reply.root);
	else
		print_table(array_member(reply.root, "machines"), names, titles);
	return EXIT_OK;
}

static int
cmd_machine(Client *client, int argc, char **argv)
{
	g_auto(Reply) reply = { 0 };
	g_autofree char *escaped = NULL;
	g_autofree char *path = NULL;
	g_autoptr(JsonNode) body = NULL;
	gboolean disable;
	int status;

	if (argc != 2 || (strcmp(argv[0], "enable") != 0 && strcmp(argv[0], "disable") != 0)) {
		say_error("usage: nestbox machine enable NAME | nestbox machine disable NAME "
			  "[--reason TEXT]");
		return EXIT_USAGE;
	}
	disable = strcmp(argv[0], "disable") == 0;
	if (!disable && opt_reason != NULL) {
		say_error("--reason goes with `machine disable`");
		return EXIT_USAGE;
	}
	escaped = g_uri_escape_string(argv[1], NULL, FALSE);
	path = g_strdup_printf("/api/v1/machines/%s/%s", escaped, argv[0]);
	if (disable && opt_reason != NULL) {
		JsonObject *object = json_object_new();

		json_object_set_string_member(object, "reason", opt_reason);
		body = json_node_new(JSON_NODE_OBJECT);
		json_node_take_object(body, object);
	}
	status = client_post_json(client, path, body, &reply);
	if (status != EXIT_OK)
		return status;
	if (opt_json)
		print_json(reply.root);
	else if (disable)
		printf("machine %s disabled: %s\n", argv[1],
		       string_member(json_node_get_object(reply.root), "disabled_reason") ?: "");
	else
		printf("machine %s enabled\n", argv[1]);
	return EXIT_OK;
}

static int
cmd_plugins(Client *client, int argc, char **argv)
{
	static const char *const names[] = { "name", "kind",	"version", "abi",
					     "order", "enabled", "path",    NULL };
	static const char *const titles[] = { "NAME",  "KIND",    "VERSION", "ABI",
					      "ORDER", "ENABLED", "PATH" };
	g_auto(Reply) reply = { 0 };
	JsonArray *refused;
	int status;

	if (argc != 0) {
		say_error("plugins takes no arguments");
		return EXIT_USAGE;
	}
	status = client_get(client, "/api/v1/plugins", &reply);
	if (status != EXIT_OK)
		return status;
	if (opt_json) {
		print_json(reply.root);
		return EXIT_OK;
	}
	print_table(array_member(reply.root, "plugins"), names, titles);
	refused = array_member(reply.root, "refused");
	for (guint i = 0; refused != NULL && i < json_array_get_length(refused); i++) {
		JsonNode *line = json_array_get_element(refused, i);

		if (JSON_NODE_HOLDS_VALUE(line) && json_node_get_value_type(line) == G_TYPE_STRING)
			printf("%s\n", json_node_get_string(line));
	}
	return EXIT_OK;
}

static int
cmd_health(Client *client, int argc, char **argv)
{
	static const char *const fields[] = { "status",	 "version", "queued",	     "running",
					      "shutting_down", "uptime", NULL };
	g_auto(Reply) reply = { 0 };
	JsonObject *machines;
	int status;

	if (argc != 0) {
		say_error("health takes no arguments");
		return EXIT_USAGE;
	}
	status = client_get(client, "/api/v1/health", &reply);
	if (status != EXIT_OK)
		return status;
	if (opt_json) {
		print_json(reply.root);
		return EXIT_OK;
	}
	print_fields(json_node_get_object(reply.root), fields);
	machines = object_member(json_node_get_object(reply.root), "machines");
	if (machines != NULL)
		printf("%-17s %" G_GINT64_FORMAT " (%" G_GINT64_FORMAT " free, %" G_GINT64_FORMAT
		       " disabled)\n",
		       "machines", json_object_get_int_member_with_default(machines, "total", 0),
		       json_object_get_int_member_with_default(machines, "free", 0),
		       json_object_get_int_member_with_default(machines, "disabled", 0));
	return EXIT_OK;
}

/* ---- snapshots ---- */

static void
print_snapshot_status(JsonNode *root)
{
	JsonArray *bases = array_member(root, "bases");

	if (bases == NULL || json_array_get_length(bases) == 0) {
		printf("no machine keeps snapshot generations\n");
		return;
	}
	for (guint i = 0; i < json_array_get_length(bases); i++) {
		JsonObject *base = json_array_get_object_element(bases, i);
		JsonArray *machines = json_object_get_array_member(base, "machines");
		JsonArray *generations = json_object_get_array_member(base, "generations");
		JsonObject *session = object_member(base, "session");
		g_autoptr(GString) names = g_string_new(NULL);

		for (guint m = 0; machines != NULL && m < json_array_get_length(machines); m++)
			g_string_append_printf(names, "%s%s", m > 0 ? ", " : "",
					       json_array_get_string_element(machines, m));
		printf("base %s (%s): machines %s\n", string_member(base, "base") ?: "?",
		       string_member(base, "machinery") ?: "?", names->str);
		printf("  %-4s %-8s %-14s %6s %12s  %s\n", "GEN", "CURRENT", "ORIGIN", "USERS",
		       "BYTES", "CREATED");
		for (guint g = 0; generations != NULL && g < json_array_get_length(generations); g++) {
			JsonObject *gen = json_array_get_object_element(generations, g);
			JsonNode *bytes = json_object_get_member(gen, "bytes");
			g_autofree char *size =
				bytes != NULL && !JSON_NODE_HOLDS_NULL(bytes)
					? g_format_size((guint64)json_node_get_int(bytes))
					: g_strdup("-");

			printf("  %-4" G_GINT64_FORMAT " %-8s %-14s %6" G_GINT64_FORMAT
			       " %12s  %s%s\n",
			       json_object_get_int_member_with_default(gen, "generation", 0),
			       json_object_get_boolean_member_with_default(gen, "current", FALSE)
				       ? "yes"
				       : "",
			       string_member(gen, "origin") ?: "",
			       json_object_get_int_member_with_default(gen, "users", 0), size,
			       string_member(gen, "created") ?: "",
			       json_object_get_boolean_member_with_default(gen, "cold_boot", FALSE)
				       ? " (needs a cold boot)"
				       : "");
		}
		if (session != NULL)
			printf("  being modified on %s since %s, from generation %" G_GINT64_FORMAT
			       "; console %s\n",
			       string_member(session, "machine") ?: "?",
			       string_member(session, "started") ?: "?",
			       json_object_get_int_member_with_default(session, "from", 0),
			       string_member(session, "console") ?: "none");
	}
}

static int
cmd_snapshot(Client *client, int argc, char **argv)
{
	g_auto(Reply) reply = { 0 };
	g_autoptr(JsonObject) body = json_object_new();
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
	g_autofree char *escaped = NULL;
	g_autofree char *path = NULL;
	const char *action = argc > 0 ? argv[0] : "";
	JsonObject *result;
	int status;

	if (strcmp(action, "status") == 0 && argc == 1) {
		status = client_get(client, "/api/v1/snapshots", &reply);
		if (status == EXIT_OK && opt_json)
			print_json(reply.root);
		else if (status == EXIT_OK)
			print_snapshot_status(reply.root);
		return status;
	}
	/* Paths go to the daemon, which shares the host but not this working directory. */
	if (strcmp(action, "import") == 0 && argc == 2) {
		g_autofree char *input = g_canonicalize_filename(argv[1], NULL);

		json_object_set_string_member(body, "input", input);
		if (opt_into != NULL)
			json_object_set_string_member(body, "machine", opt_into);
		json_object_set_boolean_member(body, "replace", opt_replace);
		json_object_set_boolean_member(body, "minimal", opt_minimal);
		path = g_strdup("/api/v1/snapshots/import");
	} else if ((strcmp(action, "begin") == 0 || strcmp(action, "commit") == 0 ||
		    strcmp(action, "rollback") == 0 || strcmp(action, "export") == 0) &&
		   argc == 2) {
		if (strcmp(action, "begin") == 0)
			json_object_set_boolean_member(body, "cold_boot", opt_cold_boot);
		if (strcmp(action, "export") == 0) {
			g_autofree char *output = NULL;

			if (opt_output == NULL) {
				say_error("snapshot export: name the archive with -o FILE");
				return EXIT_USAGE;
			}
			output = g_canonicalize_filename(opt_output, NULL);
			json_object_set_string_member(body, "output", output);
			json_object_set_boolean_member(body, "full", opt_full);
		}
	} else if (strcmp(action, "copy") == 0 && argc >= 3) {
		JsonArray *paths = json_array_new();

		for (int i = 2; i < argc; i++) {
			g_autofree char *file = g_canonicalize_filename(argv[i], NULL);

			json_array_add_string_element(paths, file);
		}
		json_object_set_array_member(body, "paths", paths);
	} else {
		say_error("usage: nestbox snapshot status | begin MACHINE [--cold-boot] | copy "
			  "MACHINE FILE... | commit MACHINE | rollback MACHINE | export MACHINE "
			  "[--full] -o FILE | import FILE [--machine NAME] [--replace] [--minimal]");
		return EXIT_USAGE;
	}
	if (path == NULL) {
		escaped = g_uri_escape_string(argv[1], NULL, FALSE);
		path = g_strdup_printf("/api/v1/snapshots/%s/%s", escaped, action);
	}
	json_node_set_object(node, body);
	status = client_post_json(client, path, node, &reply);
	if (status != EXIT_OK)
		return status;
	if (opt_json) {
		print_json(reply.root);
		return EXIT_OK;
	}
	result = json_node_get_object(reply.root);
	if (strcmp(action, "begin") == 0)
		printf("modifying %s from generation %" G_GINT64_FORMAT "; console: %s\n", argv[1],
		       json_object_get_int_member_with_default(result, "from", 0),
		       (string_member(result, "console") ?: "")[0] != '\0'
			       ? string_member(result, "console")
			       : "none");
	else if (strcmp(action, "commit") == 0)
		printf("%s: generation %" G_GINT64_FORMAT " is current\n", argv[1],
		       json_object_get_int_member_with_default(result, "generation", 0));
	else if (strcmp(action, "rollback") == 0)
		printf("%s: modification thrown away\n", argv[1]);
	else if (strcmp(action, "copy") == 0)
		printf("%s: %d file(s) handed to the guest\n", argv[1], argc - 2);
	else if (strcmp(action, "export") == 0)
		printf("%s: generation %" G_GINT64_FORMAT " written to %s (%s, %" G_GINT64_FORMAT
		       " bytes)\n",
		       argv[1], json_object_get_int_member_with_default(result, "generation", 0),
		       string_member(result, "output") ?: "?", string_member(result, "kind") ?: "?",
		       json_object_get_int_member_with_default(result, "bytes", 0));
	else
		printf("%s: generation %" G_GINT64_FORMAT " imported%s\n",
		       string_member(result, "machine") ?: "?",
		       json_object_get_int_member_with_default(result, "generation", 0),
		       json_object_get_boolean_member_with_default(result, "cold_boot", FALSE)
			       ? " (needs a cold boot: nestbox snapshot begin --cold-boot, then "
				 "commit)"
			       : "");
	return EXIT_OK;
}

typedef struct {
	const char *name;
	const char *parameters;
	const GOptionEntry *entries;
	int (*run)(Client *client, int argc, char **argv);
} Command;

static const Command commands[] = {
	{ "submit", "[FILE]", submit_entries, cmd_submit },
	{ "status", "ID", NULL, cmd_status },
	{ "list", "", list_entries, cmd_list },
	{ "cancel", "ID", NULL, cmd_cancel },
	{ "watch", "[ID]", NULL, cmd_watch },
	{ "machines", "", NULL, cmd_machines },
	{ "machine", "enable|disable NAME", disable_entries, cmd_machine },
	{ "plugins", "", NULL, cmd_plugins },
	{ "health", "", NULL, cmd_health },
	{ "snapshot", "status|begin|copy|commit|rollback|export|import ...", snapshot_entries,
	  cmd_snapshot },
};

static const Command *
command_lookup(const char *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	}
	return NULL;
}

/* The command's own options, and the global ones again so they may follow it. */
static int
run_command(const Command *command, int argc, char **argv)
{
	g_autofree char *parameters = g_strdup_printf("%s %s", command->name, command->parameters);
	g_autoptr(GOptionContext) context = g_option_context_new(parameters);
	g_autoptr(GError) error = NULL;
	g_autoptr(Client) client = NULL;
	int status = EXIT_OK;

	g_option_context_add_main_entries(context, global_entries, NULL);
	if (command->entries != NULL)
		g_option_context_add_main_entries(context, command->entries, NULL);
	g_option_context_set_description(context, commands_help);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		say_error("%s: %s (try `nestbox %s --help`)", command->name, error->message,
			  command->name);
		return EXIT_USAGE;
	}
	client = client_new(&status);
	if (client == NULL)
		return status;
	/* argv[0] is the command's name: GOption kept it as the program name. */
	return command->run(client, argc - 1, argv + 1);
}

int
main(int argc, char **argv)
{
	g_autoptr(GOptionContext) context =
		g_option_context_new("COMMAND [ARGS...] - talk to nestboxd");
	g_autoptr(GError) error = NULL;
	const Command *command;

	setlocale(LC_ALL, "");
	g_option_context_add_main_entries(context, global_entries, NULL);
	/* Stop at the command: its options are parsed with its own entries. */
	g_option_context_set_strict_posix(context, TRUE);
	g_option_context_set_description(context, commands_help);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		say_error("%s (try --help)", error->message);
		return EXIT_USAGE;
	}
	if (argc < 2) {
		say_error("no command given (try --help)");
		return EXIT_USAGE;
	}
	command = command_lookup(argv[1]);
	if (command == NULL) {
		say_error("unknown command \"%s\" (try --help)", argv[1]);
		return EXIT_USAGE;
	}
	return run_command(command, argc - 1, argv + 1);
}
