/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "agent_http.h"

#include <errno.h>
#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#include "agent_body_stream.h"

#define CHUNK_SIZE (64 * 1024)
#define USER_AGENT "nestbox-guest-agent"

struct _AgentExchange {
	const AgentEndpoint *endpoint;
	char *what;
	/* The op's deadline, and this request's (sooner for a short one). */
	int64_t deadline_us;
	int64_t cancel_at_us;
	SoupSession *session;
	SoupMessage *message;
	GInputStream *body;
	goffset body_length;
	GInputStream *answer;
	gboolean answer_done;
	GCancellable *cancellable;
	uint64_t timer;
};

bool
agent_endpoint_init(AgentEndpoint *endpoint, const struct nbx_host *host, const char *ip,
		    int port, int64_t request_timeout_s, struct nbx_error *err)
{
	g_autoptr(GInetAddress) address = g_inet_address_new_from_string(ip);

	memset(endpoint, 0, sizeof *endpoint);
	endpoint->host = host;
	if (address == NULL) {
		host->error_set(host, err, NBX_ERROR_INVALID,
				"the machine's ip \"%s\" is not an IP address", ip);
		return false;
	}
	endpoint->address = g_inet_socket_address_new(address, (guint16)port);
	endpoint->name = g_inet_address_get_family(address) == G_SOCKET_FAMILY_IPV6
				 ? g_strdup_printf("[%s]:%d", ip, port)
				 : g_strdup_printf("%s:%d", ip, port);
	endpoint->request_timeout_us = request_timeout_s * G_USEC_PER_SEC;
	return true;
}

void
agent_endpoint_clear(AgentEndpoint *endpoint)
{
	g_clear_object(&endpoint->address);
	g_clear_pointer(&endpoint->name, g_free);
}

/* ---- the deadline, from the core's main loop ---------------------------- */

/* Kept firing until the op's thread removes it, so the source is never
 * freed under that thread's remove_source. */
static bool
cancel_on_timer(void *data)
{
	g_cancellable_cancel(data);
	return true;
}

static void
unref_on_main(void *data)
{
	g_object_unref(data);
}

static void
timer_start(AgentExchange *ex)
{
	const struct nbx_host *host = ex->endpoint->host;
	int64_t left_ms;

	if (ex->cancel_at_us == 0)
		return;
	left_ms = (ex->cancel_at_us - host->monotonic_us(host) + 999) / 1000;
	ex->timer = host->add_timeout(host, (uint32_t)CLAMP(left_ms, 1, G_MAXUINT32),
				      cancel_on_timer, g_object_ref(ex->cancellable));
}

/* The callback may be running right now on the main thread: its reference
 * is dropped there, after it. */
static void
timer_stop(AgentExchange *ex)
{
	const struct nbx_host *host = ex->endpoint->host;

	if (ex->timer == 0)
		return;
	host->remove_source(host, ex->timer);
	host->invoke_main(host, unref_on_main, ex->cancellable);
	ex->timer = 0;
}

/* ---- failures ------------------------------------------------------------ */

static char *
progress(const AgentExchange *ex)
{
	if (ex->body == NULL)
		return g_strdup("");
	return g_strdup_printf(" (%" G_GOFFSET_FORMAT " of %" G_GOFFSET_FORMAT
			       " bytes of the request written)",
			       agent_body_stream_consumed(NBX_AGENT_BODY_STREAM(ex->body)),
			       ex->body_length);
}

/* Whether the request's body was not all taken yet. */
static gboolean
body_pending(const AgentExchange *ex)
{
	return ex->body != NULL &&
	       agent_body_stream_consumed(NBX_AGENT_BODY_STREAM(ex->body)) < ex->body_length;
}

static gboolean
deadline_passed(const AgentExchange *ex)
{
	const struct nbx_host *host = ex->endpoint->host;

	return ex->deadline_us != 0 && host->monotonic_us(host) >= ex->deadline_us;
}

static void
fail_cancelled(AgentExchange *ex, AgentFailure *failure, struct nbx_error *err)
{
	const struct nbx_host *host = ex->endpoint->host;
	g_autofree char *sent = progress(ex);

	if (deadline_passed(ex)) {
		*failure = AGENT_FAILURE_FINAL;
		host->error_set(host, err, NBX_ERROR_TIMEOUT,
				"%s to the agent at %s did not finish before the step's deadline%s",
				ex->what, ex->endpoint->name, sent);
		return;
	}
	*failure = AGENT_FAILURE_SILENT;
	host->error_set(host, err, NBX_ERROR_TIMEOUT,
			"the agent at %s did not answer %s within %" G_GINT64_FORMAT " s%s", ex->endpoint->name,
			ex->what, ex->endpoint->request_timeout_us / G_USEC_PER_SEC, sent);
}

static gboolean
is_unreachable(const GError *error)
{
	return g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) ||
	       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE) ||
	       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE) ||
	       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
	       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
	       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
}

/*
 * Turns what went wrong into @err. @answering: the answer had begun (its
 * headers were read), so a broken connection is a broken answer.
 */
static void
fail(AgentExchange *ex, const GError *error, gboolean answering, AgentFailure *failure,
     struct nbx_error *err)
{
	const struct nbx_host *host = ex->endpoint->host;
	const char *name = ex->endpoint->name;
	g_autofree char *sent = progress(ex);
	AgentFailure ignored;

	if (failure == NULL)
		failure = &ignored;
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		fail_cancelled(ex, failure, err);
	} else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
		*failure = AGENT_FAILURE_SILENT;
		host->error_set(host, err, NBX_ERROR_TIMEOUT,
				"the agent at %s stopped %s %s for %" G_GINT64_FORMAT " s%s", name,
				answering	   ? "sending its answer to"
				: body_pending(ex) ? "taking"
						   : "answering",
				ex->what, ex->endpoint->request_timeout_us / G_USEC_PER_SEC, sent);
	} else if (error->domain == SOUP_SESSION_ERROR) {
		*failure = AGENT_FAILURE_PROTOCOL;
		host->error_set(host, err, NBX_ERROR_INVALID,
				"what answered %s at %s is not an HTTP agent: %s", ex->what, name,
				error->message);
	} else if (!answering && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT)) {
		/* Retried by connect: an agent still starting may do it too. */
		*failure = AGENT_FAILURE_UNREACHABLE;
		host->error_set(host, err, NBX_ERROR_IO,
				"the agent at %s closed the connection without answering %s (agent.py "
				"pinned to another address does that)%s",
				name, ex->what, sent);
	} else if (answering) {
		*failure = AGENT_FAILURE_PROTOCOL;
		host->error_set(host, err, NBX_ERROR_IO,
				"the agent at %s broke off its answer to %s: %s", name, ex->what,
				error->message);
	} else {
		*failure = is_unreachable(error) ? AGENT_FAILURE_UNREACHABLE : AGENT_FAILURE_PROTOCOL;
		host->error_set(host, err, NBX_ERROR_IO, "%s to the agent at %s failed: %s%s",
				ex->what, name, error->message, sent);
	}
}

/* ---- the request ---------------------------------------------------------- */

static GBytes *
encode_form(const char *const *form)
{
	GString *out = g_string_new(NULL);

	for (gsize i = 0; form[i] != NULL && form[i + 1] != NULL; i += 2) {
		if (out->len > 0)
			g_string_append_c(out, '&');
		g_string_append_uri_escaped(out, form[i], NULL, FALSE);
		g_string_append_c(out, '=');
		g_string_append_uri_escaped(out, form[i + 1], NULL, FALSE);
	}
	return g_string_free_to_bytes(out);
}

static SoupSession *
new_session(const AgentEndpoint *endpoint, AgentRequestKind kind)
{
	/* Only a transfer has a stall timeout on its socket: a short request is
	 * bounded by its own deadline, and a command the agent runs to its end
	 * sends nothing meanwhile. */
	guint stall_s = kind == AGENT_REQUEST_TRANSFER
				? (guint)(endpoint->request_timeout_us / G_USEC_PER_SEC)
				: 0;
	SoupSession *session = soup_session_new_with_options(
		"remote-connectable", endpoint->address, "proxy-resolver", NULL, "timeout", stall_s,
		"idle-timeout", 0, "user-agent", USER_AGENT, NULL);

	/* A compressed answer would only be a bigger bomb. */
	soup_session_remove_feature_by_type(session, SOUP_TYPE_CONTENT_DECODER);
	return session;
}

static SoupMessage *
new_message(AgentExchange *ex, const AgentRequest *request)
{
	g_autofree char *uri = g_strdup_printf("http://%s%s", ex->endpoint->name, request->path);
	SoupMessage *message = soup_message_new(request->method, uri);

	g_assert(message != NULL); /* the paths are the plugin's own */
	soup_message_add_flags(message, SOUP_MESSAGE_NO_REDIRECT);
	soup_message_headers_replace(soup_message_get_request_headers(message), "Connection",
				     "close");
	if (request->form != NULL) {
		g_autoptr(GBytes) form = encode_form(request->form);

		soup_message_set_request_body_from_bytes(
			message, "application/x-www-form-urlencoded", form);
	} else if (request->body_parts != NULL) {
		ex->body = agent_body_stream_new(request->body_parts);
		ex->body_length = request->body_length;
		/* With its length: the agents read a chunked body as empty. */
		soup_message_set_request_body(message, request->content_type, ex->body,
					      request->body_length);
	}
	return message;
}

static int64_t
cancel_time(const AgentEndpoint *endpoint, const AgentRequest *request, int64_t now)
{
	int64_t quick;

	if (request->kind != AGENT_REQUEST_QUICK)
		return request->deadline_us;
	quick = now + endpoint->request_timeout_us;
	return request->deadline_us != 0 ? MIN(quick, request->deadline_us) : quick;
}

AgentExchange *
agent_exchange_start(const AgentEndpoint *endpoint, const AgentRequest *request,
		     AgentFailure *failure, struct nbx_error *err)
{
	const struct nbx_host *host = endpoint->host;
	g_autoptr(AgentExchange) ex = g_new0(AgentExchange, 1);
	g_autoptr(GError) error = NULL;
	int64_t now = host->monotonic_us(host);

	ex->endpoint = endpoint;
	ex->what = g_strdup_printf("%s %s", request->method, request->path);
	ex->deadline_us = request->deadline_us;
	ex->cancel_at_us = cancel_time(endpoint, request, now);
	if (ex->cancel_at_us != 0 && ex->cancel_at_us <= now) {
		if (failure != NULL)
			*failure = AGENT_FAILURE_FINAL;
		host->error_set(host, err, NBX_ERROR_TIMEOUT,
				"the step's deadline passed before %s could be sent to the agent at %s",
				ex->what, endpoint->name);
		return NULL;
	}
	ex->cancellable = g_cancellable_new();
	ex->session = new_session(endpoint, request->kind);
	ex->message = new_message(ex, request);
	timer_start(ex);
	ex->answer = soup_session_send(ex->session, ex->message, ex->cancellable, &error);
	if (ex->answer == NULL) {
		fail(ex, error, FALSE, failure, err);
		return NULL;
	}
	return g_steal_pointer(&ex);
}

guint
agent_exchange_status(const AgentExchange *exchange)
{
	return soup_message_get_status(exchange->message);
}

goffset
agent_exchange_length(const AgentExchange *exchange)
{
	SoupMessageHeaders *headers = soup_message_get_response_headers(exchange->message);

	if (soup_message_headers_get_encoding(headers) != SOUP_ENCODING_CONTENT_LENGTH)
		return -1;
	return soup_message_headers_get_content_length(headers);
}

const char *
agent_exchange_what(const AgentExchange *exchange)
{
	return exchange->what;
}

/* ---- the answer ------------------------------------------------------------ */

static void
fail_too_large(AgentExchange *ex, goffset size, gsize max, AgentFailure *failure,
	       struct nbx_error *err)
{
	const struct nbx_host *host = ex->endpoint->host;

	*failure = AGENT_FAILURE_TOO_LARGE;
	if (size >= 0)
		host->error_set(host, err, NBX_ERROR_INVALID,
				"the agent at %s answered %s with %" G_GOFFSET_FORMAT
				" bytes, more than the %" G_GSIZE_FORMAT " this answer may have",
				ex->endpoint->name, ex->what, size, max);
	else
		host->error_set(host, err, NBX_ERROR_INVALID,
				"the agent at %s answered %s with more than the %" G_GSIZE_FORMAT
				" bytes this answer may have",
				ex->endpoint->name, ex->what, max);
}

/*
 * At the end of the body: one shorter than its Content-Length was broken
 * off (libsoup takes a connection closed early for the end of an HTTP/1.0
 * answer).
 */
static gboolean
body_complete(AgentExchange *ex, goffset received, AgentFailure *failure, struct nbx_error *err)
{
	goffset declared = agent_exchange_length(ex);

	ex->answer_done = TRUE;
	if (declared < 0 || received == declared)
		return TRUE;
	if (failure != NULL)
		*failure = AGENT_FAILURE_PROTOCOL;
	ex->endpoint->host->error_set(ex->endpoint->host, err, NBX_ERROR_IO,
				      "the agent at %s broke off its answer to %s after %" G_GOFFSET_FORMAT
				      " of the %" G_GOFFSET_FORMAT " bytes it announced",
				      ex->endpoint->name, ex->what, received, declared);
	return FALSE;
}

bool
agent_exchange_read(AgentExchange *ex, gsize max, GBytes **body, AgentFailure *failure,
		    struct nbx_error *err)
{
	g_autoptr(GByteArray) data = g_byte_array_new();
	goffset length = agent_exchange_length(ex);
	AgentFailure ignored;
	guint8 chunk[CHUNK_SIZE];

	if (failure == NULL)
		failure = &ignored;
	if (length > (goffset)max) {
		fail_too_large(ex, length, max, failure, err);
		return false;
	}
	for (;;) {
		g_autoptr(GError) error = NULL;
		gsize want = MIN(sizeof chunk, max + 1 - data->len);
		gssize n = g_input_stream_read(ex->answer, chunk, want, ex->cancellable, &error);

		if (n < 0) {
			fail(ex, error, TRUE, failure, err);
			return false;
		}
		if (n == 0)
			break;
		g_byte_array_append(data, chunk, (guint)n);
		if (data->len > max) {
			fail_too_large(ex, -1, max, failure, err);
			return false;
		}
	}
	if (!body_complete(ex, data->len, failure, err))
		return false;
	*body = g_byte_array_free_to_bytes(g_steal_pointer(&data));
	return true;
}

static gboolean
write_all(int fd, const guint8 *data, gsize size)
{
	while (size > 0) {
		ssize_t n = write(fd, data, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		data += n;
		size -= (gsize)n;
	}
	return TRUE;
}

bool
agent_exchange_copy(AgentExchange *ex, int fd, int64_t max, int64_t *written, bool *too_large,
		    struct nbx_error *err)
{
	const struct nbx_host *host = ex->endpoint->host;
	g_autofree guint8 *chunk = g_malloc(CHUNK_SIZE);

	*written = 0;
	*too_large = false;
	for (;;) {
		g_autoptr(GError) error = NULL;
		gssize n = g_input_stream_read(ex->answer, chunk, CHUNK_SIZE, ex->cancellable, &error);
		gssize keep;

		if (n < 0) {
			fail(ex, error, TRUE, NULL, err);
			return false;
		}
		if (n == 0)
			return body_complete(ex, *written, NULL, err);
		keep = (gssize)MIN((int64_t)n, max - *written);
		if (keep > 0 && !write_all(fd, chunk, (gsize)keep)) {
			host->error_set(host, err, NBX_ERROR_IO,
					"writing the answer to %s into the host file failed: %s",
					ex->what, g_strerror(errno));
			return false;
		}
		*written += keep;
		if (keep < n) {
			*too_large = true;
			return true;
		}
	}
}

void
agent_exchange_free(AgentExchange *ex)
{
	if (ex == NULL)
		return;
	/* An answer not read to its end is not drained (it may never end). */
	if (ex->cancellable != NULL && !ex->answer_done)
		g_cancellable_cancel(ex->cancellable);
	timer_stop(ex);
	if (ex->answer != NULL)
		g_input_stream_close(ex->answer, NULL, NULL);
	if (ex->session != NULL)
		soup_session_abort(ex->session);
	g_clear_object(&ex->answer);
	g_clear_object(&ex->body);
	g_clear_object(&ex->message);
	g_clear_object(&ex->session);
	g_clear_object(&ex->cancellable);
	g_free(ex->what);
	g_free(ex);
}
