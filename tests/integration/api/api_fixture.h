/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control API in-process for tests, built from the real pieces (setup
 * with the fake machinery, store, scheduler), on this thread's main loop,
 * and ways to talk to it: a SoupSession for well-formed requests, a raw
 * socket for the ones a client library would never send.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "control_api.h"
#include "daemon_setup.h"
#include "scheduler.h"
#include "store.h"

#define MAX_BODY (64 * 1024)
#define TEST_TOKEN "0123456789abcdef-test-token"

typedef struct {
	char *dir;
	char *socket_path;
	NbxSetup *setup;
	NbxStore *store;
	NbxScheduler *scheduler;
	NbxControlApi *api;
	SoupSession *session;
	char *tcp_address; /* "127.0.0.1:PORT" when the fixture listens on TCP */
} Fixture;

/* The fixture's data: NULL for a UNIX socket with MAX_BODY and the default limits. */
typedef struct {
	gboolean tcp;
	/* Its limits; max_body_bytes 0 is MAX_BODY. */
	NbxControlApiOptions options;
} ApiFixtureConfig;

void setup_fixture(Fixture *f, gconstpointer data);
void teardown_fixture(Fixture *f, gconstpointer data);
/* A port that was free a moment ago. */
guint16 free_port(void);

typedef struct {
	guint status;
	JsonNode *root;
	SoupMessageHeaders *headers;
} Reply;

void reply_clear(Reply *reply);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Reply, reply_clear)

/* Sends @msg and runs the main loop (the server lives on it too) until the answer. */
void exchange(SoupSession *session, SoupMessage *msg, Reply *reply);
void request(Fixture *f, const char *method, const char *path, const char *content_type,
	     const char *body, Reply *reply);
JsonObject *object_of(const Reply *reply);
/* Checks an error reply: status, code, and the field it names (NULL: none). */
void assert_error(const Reply *reply, guint status, const char *code, const char *field);
guint stored_task_count(Fixture *f);
guint stored_sample_count(Fixture *f);
gint64 submit_json(Fixture *f, const char *body);
GBytes *multipart_body(const char *task_json, const char *part_name, const char *filename,
		       GBytes *file, char **content_type);
void post_multipart(Fixture *f, const char *task_json, const char *part_name, const char *filename,
		    GBytes *file, Reply *reply);

/*
 * A client on the fixture's UNIX socket that sends exactly the bytes it is
 * given (half a request, a header of 100 KB), on the test's main loop.
 * Every wait has a generous deadline that only catches a hang.
 */
#define RAW_DEADLINE_S 60

typedef struct {
	GSocket *socket;
	GString *received;
	/* The server closed (EOF) or reset the connection. */
	gboolean closed;
} RawClient;

RawClient *raw_connect(Fixture *f);
void raw_free(RawClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RawClient, raw_free)
/*
 * Sends all of @data (the main loop runs while the socket is full); FALSE
 * when the server closed the connection first.
 */
gboolean raw_send(RawClient *client, const char *data, gsize length);
gboolean raw_send_text(RawClient *client, const char *text);
/* Reads what the server sent so far, without waiting. */
void raw_read_available(RawClient *client);
/* Runs the main loop until @text has come; FALSE when the connection closed first, or after RAW_DEADLINE_S. */
gboolean raw_wait_for_text(RawClient *client, const char *text);
/* Runs the main loop until the server closes the connection; FALSE after RAW_DEADLINE_S. */
gboolean raw_wait_closed(RawClient *client);
/*
 * Runs the main loop until a whole answer came (its headers and
 * Content-Length bytes of body) or the connection closed. Returns the
 * status (0 for none); @body (or NULL) gets the answer's body.
 */
guint raw_read_answer(RawClient *client, char **body);
/* Runs the main loop until nothing is left to do right now. */
void run_until_idle(void);
/* Runs the main loop until the API has @count connections open; FALSE after RAW_DEADLINE_S. */
gboolean wait_for_connections(Fixture *f, guint count);
/* The same for event streams. */
gboolean wait_for_streams(Fixture *f, guint count);
/* Files in DIR (hidden ones too). */
guint count_files(const char *dir);
