/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include "op_runner.h"

#include "plugin_instance.h"

#include <errno.h>
#include <gio/gio.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

typedef struct {
	gint refs;
	NbxOpFunc func;
	gpointer data;
	gint64 deadline_us;
	NbxOpReturnedFunc returned;
	GDestroyNotify free_data;
	char *network_namespace;

	GMutex lock;
	GCond cond;
	gboolean done;
	gboolean abandoned;
	gboolean ok;
	GError *error;
} Op;

static void
op_unref(Op *op)
{
	if (!g_atomic_int_dec_and_test(&op->refs))
		return;
	if (op->abandoned && op->free_data != NULL)
		op->free_data(op->data);
	g_clear_error(&op->error);
	g_free(op->network_namespace);
	g_mutex_clear(&op->lock);
	g_cond_clear(&op->cond);
	g_free(op);
}

/* Moves the calling thread into @path's network namespace (a thread of its own). */
static gboolean
enter_namespace(const char *path, GError **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int saved;

	if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
		saved = errno;
		if (fd >= 0)
			close(fd);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "cannot enter the network namespace %s: %s", path, g_strerror(saved));
		return FALSE;
	}
	close(fd);
	return TRUE;
}

static void
op_execute(Op *op)
{
	GError *error = NULL;
	gboolean ok, tell;

	ok = (op->network_namespace == NULL || enter_namespace(op->network_namespace, &error)) &&
	     op->func(op->data, op->deadline_us, &error);
	g_mutex_lock(&op->lock);
	op->done = TRUE;
	op->ok = ok;
	op->error = error;
	tell = op->abandoned;
	g_cond_signal(&op->cond);
	g_mutex_unlock(&op->lock);
	if (tell && op->returned != NULL)
		op->returned(op->data, ok);
	op_unref(op);
}

static void
pool_worker(gpointer data, gpointer unused)
{
	op_execute(data);
}

static gpointer
namespace_thread(gpointer data)
{
	/* A thread of its own: it leaves the daemon's namespace and then ends. */
	op_execute(data);
	return NULL;
}

/*
 * Worker threads are kept and reused: starting a thread per op cost the
 * analysis loop measurably. No limit: an abandoned op keeps its thread.
 */
static GThreadPool *
worker_pool(void)
{
	static GThreadPool *pool;

	if (g_once_init_enter(&pool)) {
		GThreadPool *created = g_thread_pool_new(pool_worker, NULL, -1, FALSE, NULL);

		g_once_init_leave(&pool, created);
	}
	return pool;
}

static void
op_start(Op *op)
{
	g_atomic_int_inc(&op->refs);
	if (op->network_namespace != NULL)
		g_thread_unref(g_thread_new("nbx-op-netns", namespace_thread, op));
	else
		g_thread_pool_push(worker_pool(), op, NULL);
}

NbxOpResult
nbx_op_run(const NbxOpSpec *spec, NbxOpFunc func, gpointer data, GError **error)
{
	Op *op = g_new0(Op, 1);
	gint64 give_up;
	NbxOpResult result;

	g_return_val_if_fail(spec->timeout_s > 0, NBX_OP_FAILED);
	op->refs = 1;
	op->func = func;
	op->data = data;
	op->deadline_us = g_get_monotonic_time() + spec->timeout_s * G_USEC_PER_SEC;
	op->returned = spec->returned;
	op->free_data = spec->free_data;
	op->network_namespace = g_strdup(spec->network_namespace);
	g_mutex_init(&op->lock);
	g_cond_init(&op->cond);
	give_up = op->deadline_us + MAX(spec->grace_s, 0) * G_USEC_PER_SEC;
	op_start(op);

	g_mutex_lock(&op->lock);
	while (!op->done && g_cond_wait_until(&op->cond, &op->lock, give_up))
		;
	if (!op->done) {
		op->abandoned = TRUE;
		result = NBX_OP_ABANDONED;
		g_set_error(error, NBX_PLUGIN_ERROR, NBX_ERROR_TIMEOUT,
			    "%s did not return within %" G_GINT64_FORMAT
			    " s (its deadline) and was abandoned",
			    spec->label, spec->timeout_s);
	} else if (op->ok) {
		result = NBX_OP_OK;
	} else {
		result = NBX_OP_FAILED;
		if (op->error != NULL)
			g_propagate_error(error, g_steal_pointer(&op->error));
		else
			g_set_error(error, NBX_PLUGIN_ERROR, NBX_ERROR_FAILED,
				    "%s failed without saying why (a core bug)", spec->label);
	}
	g_mutex_unlock(&op->lock);
	op_unref(op);
	return result;
}
