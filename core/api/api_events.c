/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "api_events.h"

#include <string.h>

#include "api_machine_json.h"
#include "control_api_routes.h"

/* A comment this often: a client that went away is noticed, a proxy does not time out. */
#define KEEPALIVE_SECONDS 15

typedef struct {
	NbxApiEvents *events;
	NbxApiStream *stream;
	/* Only this task's events, or 0 for everything. */
	gint64 task_id;
} Client;

/* A task write, on its way from the writer's thread to the main one. */
typedef struct {
	gint64 task_id;
	char *json;
} Pending;

struct _NbxApiEvents {
	NbxScheduler *scheduler;
	NbxStore *store;
	gsize queue_bytes;
	/* Client * (main thread). */
	GPtrArray *clients;
	guint64 next_id;
	/* Machine name -> its JSON as last sent, to send only what changed. */
	GHashTable *machines_sent;
	guint keepalive;

	/* Filled on any thread, emptied on the main one. */
	GMutex lock;
	GQueue pending;
	GSource *dispatch;
	gboolean machines_dirty;
};

static void
pending_free(gpointer data)
{
	Pending *pending = data;

	g_free(pending->json);
	g_free(pending);
}

static char *
node_to_line(JsonNode *node)
{
	g_autoptr(JsonGenerator) generator = json_generator_new();

	/* One line: SSE data may not hold a newline, and JSON without pretty-printing has none. */
	json_generator_set_root(generator, node);
	return json_generator_to_data(generator, NULL);
}

static void
send_event(NbxApiEvents *events, const char *kind, gint64 task_id, const char *json)
{
	g_autofree char *text =
		g_strdup_printf("id: %" G_GUINT64_FORMAT "\nevent: %s\ndata: %s\n\n",
				++events->next_id, kind, json);
	gsize length = strlen(text);

	/* A dropped client leaves the array when its stream closes. */
	for (guint i = 0; i < events->clients->len; i++) {
		Client *client = g_ptr_array_index(events->clients, i);

		if (client->task_id == 0 || client->task_id == task_id)
			nbx_api_stream_send(client->stream, text, length);
	}
}

/* Sends the machines whose JSON differs from what was sent last. */
static void
send_machine_changes(NbxApiEvents *events)
{
	g_autoptr(GPtrArray) machines = nbx_scheduler_list_machines(events->scheduler);

	for (guint i = 0; i < machines->len; i++) {
		const NbxMachineStatus *machine = g_ptr_array_index(machines, i);
		g_autoptr(JsonNode) node = nbx_api_machine_to_json(machine);
		char *json = node_to_line(node);

		if (g_strcmp0(g_hash_table_lookup(events->machines_sent, machine->name), json) == 0) {
			g_free(json);
			continue;
		}
		g_hash_table_replace(events->machines_sent, g_strdup(machine->name), json);
		send_event(events, "machine", -1, json);
	}
}

/* Main thread: the writes queued so far, in order, then the machines they may have changed. */
static gboolean
on_dispatch(gpointer data)
{
	NbxApiEvents *events = data;
	GQueue writes = G_QUEUE_INIT;
	gboolean machines_dirty;
	Pending *pending;

	g_mutex_lock(&events->lock);
	writes = events->pending;
	g_queue_init(&events->pending);
	machines_dirty = events->machines_dirty || writes.length > 0;
	events->machines_dirty = FALSE;
	g_source_unref(g_steal_pointer(&events->dispatch));
	g_mutex_unlock(&events->lock);
	while ((pending = g_queue_pop_head(&writes)) != NULL) {
		send_event(events, "task", pending->task_id, pending->json);
		pending_free(pending);
	}
	if (machines_dirty)
		send_machine_changes(events);
	return G_SOURCE_REMOVE;
}

/* Lock held. */
static void
schedule_dispatch(NbxApiEvents *events)
{
	if (events->dispatch != NULL)
		return;
	events->dispatch = g_idle_source_new();
	/* Not idle priority: a busy API (its sources are at the default) would starve the events. */
	g_source_set_priority(events->dispatch, G_PRIORITY_DEFAULT);
	g_source_set_callback(events->dispatch, on_dispatch, events, NULL);
	g_source_attach(events->dispatch, g_main_context_default());
}

/* Any thread, with the store's lock held: quick, and never back into the store. */
static void
on_task_written(const NbxTask *task, gboolean inserted, gpointer data)
{
	NbxApiEvents *events = data;
	Pending *pending = g_new0(Pending, 1);
	g_autoptr(JsonNode) node = nbx_task_to_json(task);

	pending->task_id = task->id;
	pending->json = node_to_line(node);
	g_mutex_lock(&events->lock);
	g_queue_push_tail(&events->pending, pending);
	schedule_dispatch(events);
	g_mutex_unlock(&events->lock);
}

void
nbx_api_events_machines_changed(NbxApiEvents *events)
{
	g_mutex_lock(&events->lock);
	events->machines_dirty = TRUE;
	schedule_dispatch(events);
	g_mutex_unlock(&events->lock);
}

static gboolean
on_keepalive(gpointer data)
{
	NbxApiEvents *events = data;
	static const char comment[] = ": keepalive\n\n";

	for (guint i = 0; i < events->clients->len; i++) {
		Client *client = g_ptr_array_index(events->clients, i);

		nbx_api_stream_send(client->stream, comment, sizeof comment - 1);
	}
	return G_SOURCE_CONTINUE;
}

static void
on_stream_closed(NbxApiStream *stream, gpointer data)
{
	Client *client = data;

	g_ptr_array_remove_fast(client->events->clients, client);
}

void
nbx_api_events_serve(NbxApiEvents *events, NbxApiRequest *request, GHashTable *query)
{
	static const char *const known[] = { "task", NULL };
	static const char hello[] = ": nestboxd events\nretry: 2000\n\n";
	g_auto(NbxApiProblem) problem = { 0 };
	const char *task = query != NULL ? g_hash_table_lookup(query, "task") : NULL;
	Client *client;
	guint64 id = 0;

	if (nbx_api_check_query(query, known, &problem) && task != NULL &&
	    (!g_ascii_isdigit(*task) ||
	     !g_ascii_string_to_unsigned(task, 10, 1, G_MAXINT64, &id, NULL)))
		nbx_api_problem_set(&problem, 400, "invalid", "task",
				    "task: expected a positive integer, found \"%s\"", task);
	if (problem.status != 0) {
		nbx_api_request_respond_problem(request, &problem);
		return;
	}
	client = g_new0(Client, 1);
	client->events = events;
	client->task_id = (gint64)id;
	client->stream = nbx_api_request_start_stream(request, "text/event-stream",
						      events->queue_bytes, on_stream_closed, client);
	if (client->stream == NULL) {
		g_free(client);
		return;
	}
	g_ptr_array_add(events->clients, client);
	/* The headers go out at once: the client knows it is subscribed before it acts. */
	nbx_api_stream_send(client->stream, hello, sizeof hello - 1);
}

NbxApiEvents *
nbx_api_events_new(NbxScheduler *scheduler, gsize queue_bytes)
{
	NbxApiEvents *events = g_new0(NbxApiEvents, 1);

	events->queue_bytes = queue_bytes;
	events->scheduler = scheduler;
	events->store = nbx_scheduler_get_store(scheduler);
	events->clients = g_ptr_array_new_with_free_func(g_free);
	events->machines_sent = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_mutex_init(&events->lock);
	g_queue_init(&events->pending);
	events->keepalive = g_timeout_add_seconds(KEEPALIVE_SECONDS, on_keepalive, events);
	nbx_store_add_task_observer(events->store, on_task_written, events);
	/* What a client sees first as a change is measured against the state at start. */
	send_machine_changes(events);
	return events;
}

void
nbx_api_events_free(NbxApiEvents *events)
{
	if (events == NULL)
		return;
	nbx_store_remove_task_observer(events->store, on_task_written, events);
	g_clear_handle_id(&events->keepalive, g_source_remove);
	if (events->dispatch != NULL) {
		g_source_destroy(events->dispatch);
		g_source_unref(events->dispatch);
	}
	g_queue_clear_full(&events->pending, pending_free);
	g_mutex_clear(&events->lock);
	g_warn_if_fail(events->clients->len == 0);
	g_ptr_array_unref(events->clients);
	g_hash_table_unref(events->machines_sent);
	g_free(events);
}
