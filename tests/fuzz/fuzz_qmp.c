/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: arbitrary bytes as the stream a QMP peer sends, through
 * the qemu machinery's line reader and its QMP client's message handling
 * (greeting, event, reply, anything else), the way QEMU's socket hands them
 * over: in pieces split at points derived from the input.
 *
 * Input layout: byte 0 picks the reader's line limit, byte 1 seeds the
 * piece sizes, the rest is the stream.
 *
 * Oracles besides the sanitizers (and GLib criticals, made fatal):
 *  - no line longer than the limit is parsed, and the buffer never holds more;
 *  - the objects found, and the lines rejected, do not depend on how the
 *    stream was split;
 *  - every event the client reports has a name; every reply it hands to an
 *    asynchronous caller carries that caller's id.
 */
#include <fcntl.h>
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp_client.h"
#include "qmp_message.h"
#include "qmp_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(condition)                                                              \
	do {                                                                          \
		if (!(condition)) {                                                   \
			fprintf(stderr, "fuzz-qmp: %s:%d: %s\n", __FILE__, __LINE__,  \
				#condition);                                          \
			abort();                                                      \
		}                                                                     \
	} while (0)

/* ---- the reader alone ---------------------------------------------------- */

typedef struct {
	QmpReader *reader;
	GString *transcript;
} Collected;

static void
collect(void *user_data, JsonObject *object)
{
	Collected *collected = user_data;
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
	g_autofree char *text = NULL;
	QmpMessage message;

	/* The line being parsed is still in the buffer: it kept to the limit. */
	check(collected->reader->line->len <= collected->reader->max_line);
	qmp_message_classify(object, &message);
	switch (message.kind) {
	case QMP_MESSAGE_EVENT:
		check(message.event != NULL);
		break;
	case QMP_MESSAGE_REPLY:
		check(message.id <= INT64_MAX);
		check(!message.is_error || message.error_desc != NULL);
		break;
	default:
		break;
	}
	json_node_set_object(node, object);
	text = json_to_string(node, FALSE);
	g_string_append_printf(collected->transcript, "%d %s\n", message.kind, text);
}

static uint32_t
next_random(uint32_t *state)
{
	/* xorshift32: the split only needs to be repeatable, not good. */
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

/* Feeds @stream in pieces of 1..@max_piece bytes; returns what came out. */
static GString *
read_stream(const char *stream, size_t len, size_t max_line, uint32_t seed, size_t max_piece,
	    unsigned *rejected)
{
	QmpReader reader;
	Collected collected = { .reader = &reader, .transcript = g_string_new(NULL) };
	uint32_t state = seed | 1;
	size_t at = 0;

	qmp_reader_init(&reader, max_line);
	while (at < len) {
		size_t piece = 1 + next_random(&state) % max_piece;

		if (piece > len - at)
			piece = len - at;
		qmp_reader_feed(&reader, stream + at, piece, collect, &collected);
		check(reader.line->len <= max_line);
		at += piece;
	}
	*rejected = reader.rejected;
	qmp_reader_clear(&reader);
	return collected.transcript;
}

static void
fuzz_reader(const char *stream, size_t len, size_t max_line, uint32_t seed)
{
	g_autoptr(GString) whole = NULL;
	g_autoptr(GString) pieces = NULL;
	g_autoptr(GString) bytes = NULL;
	unsigned rejected_whole = 0, rejected_pieces = 0, rejected_bytes = 0;
	QmpReader reader;
	Collected collected = { .reader = &reader, .transcript = g_string_new(NULL) };

	qmp_reader_init(&reader, max_line);
	qmp_reader_feed(&reader, stream, len, collect, &collected);
	check(reader.line->len <= max_line);
	rejected_whole = reader.rejected;
	qmp_reader_clear(&reader);
	whole = collected.transcript;

	pieces = read_stream(stream, len, max_line, seed, 1 + seed % 97, &rejected_pieces);
	bytes = read_stream(stream, len, max_line, seed, 1, &rejected_bytes);
	if (!g_string_equal(whole, pieces) || rejected_whole != rejected_pieces ||
	    !g_string_equal(whole, bytes) || rejected_whole != rejected_bytes) {
		fprintf(stderr, "whole (%u rejected):\n%s\npieces (%u rejected):\n%s\n"
			"bytes (%u rejected):\n%s\n",
			rejected_whole, whole->str, rejected_pieces, pieces->str, rejected_bytes,
			bytes->str);
		abort();
	}
}

/* ---- the client's handling ------------------------------------------------- */

static void G_GNUC_PRINTF(4, 5)
fake_error_set(const struct nbx_host *host, struct nbx_error *err, int32_t code, const char *fmt,
	       ...)
{
	va_list args;

	if (err == NULL || err->code != NBX_ERROR_NONE)
		return;
	err->code = code;
	va_start(args, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, args);
	va_end(args);
}

/* Nothing watches the socket: the fuzzer hands the client its bytes. */
static uint64_t
fake_watch_fd(const struct nbx_host *host, int fd, uint32_t events, nbx_fd_fn fn, void *user_data)
{
	return 1;
}

static void
fake_remove_source(const struct nbx_host *host, uint64_t id)
{
}

/* Only qmp_client_close's deferred free comes here: run it now, on this thread. */
static uint64_t
fake_add_timeout(const struct nbx_host *host, uint32_t ms, nbx_timeout_fn fn, void *user_data)
{
	while (fn(user_data))
		;
	return 1;
}

static const struct nbx_host fake_host = {
	.struct_size = sizeof(struct nbx_host),
	.error_set = fake_error_set,
	.watch_fd = fake_watch_fd,
	.add_timeout = fake_add_timeout,
	.remove_source = fake_remove_source,
};

typedef struct {
	QmpClient *client;
	unsigned events;
	unsigned replies;
	uint64_t expected_id;
} Session;

static void
on_event(void *user_data, const char *event, JsonObject *data)
{
	Session *session = user_data;

	check(event != NULL);
	/* Reading the data as the machinery does must not trip over its types. */
	(void)qmp_string_member(data, "status");
	(void)qmp_boolean_member(data, "guest", false);
	session->events++;
}

static void
on_async_reply(void *user_data, const QmpMessage *reply)
{
	Session *session = user_data;

	check(reply->kind == QMP_MESSAGE_REPLY);
	check(reply->id == session->expected_id);
	check(!reply->is_error || reply->error_desc != NULL);
	session->replies++;
	/* Each reply may send the next command, as the machinery's STOP handling does. */
	session->expected_id++;
	qmp_client_send_async(session->client, "query-status", on_async_reply, session);
}

/* Takes what the client wrote, so its socket never fills up. */
static void
drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof buf) > 0)
		;
}

static void
fuzz_client(const char *stream, size_t len, uint32_t seed)
{
	Session session = { .expected_id = 1 };
	uint32_t state = seed | 1;
	size_t at = 0;
	int fds[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
		abort();
	/* A full buffer fails a write rather than hanging the fuzzer. */
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	session.client = qmp_client_new(&fake_host, fds[0], "fuzzed QEMU", on_event, &session);
	/* Id 1: the first reply with that id goes to on_async_reply. */
	qmp_client_send_async(session.client, "query-status", on_async_reply, &session);
	while (at < len) {
		size_t piece = 1 + next_random(&state) % 256;

		if (piece > len - at)
			piece = len - at;
		qmp_client_receive(session.client, stream + at, piece);
		drain(fds[1]);
		at += piece;
	}
	check(!qmp_client_is_closed(session.client));
	qmp_client_close(session.client);
	close(fds[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool initialised;
	const char *stream = (const char *)data + 2;
	size_t len;
	size_t max_line;
	uint32_t seed;

	if (!initialised) {
		/* A json-glib accessor used on the wrong type warns: that is a bug here. */
		g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
		initialised = true;
	}
	if (size < 2 || size > 64 * 1024)
		return 0;
	len = size - 2;
	max_line = 8 + (size_t)data[0] * 16;
	seed = (uint32_t)data[1] * 2654435761u + (uint32_t)len;
	fuzz_reader(stream, len, max_line, seed);
	fuzz_client(stream, len, seed);
	return 0;
}
