/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The op runner: every call into a plugin that may block (machine ops,
 * auxiliary start/stop, guest ops, snapshot ops) runs through here, on a
 * worker thread, with a deadline, and the caller waits at most the grace
 * period past it. An op that has not returned by then is ABANDONED: the
 * caller goes on with an error that says so, the op's thread is left to
 * finish, and @returned is called (on that thread) when it does, so the
 * owner can take the machine out of WEDGED or give an auxiliary that
 * started late its stop. A plugin op cannot be interrupted; this is the one
 * place that decides how long the core waits for it.
 */
#pragma once

#include <glib.h>

/* The op itself, on a worker thread; @deadline_us is the plugin's deadline. */
typedef gboolean (*NbxOpFunc)(gpointer data, gint64 deadline_us, GError **error);

/* An abandoned op has returned after all (on its worker thread). */
typedef void (*NbxOpReturnedFunc)(gpointer data, gboolean ok);

typedef struct {
	/* What the op is, for the abandon message: "qemu: machine m1: restore_start". */
	const char *label;
	/* The plugin's deadline, from now; > 0. */
	gint64 timeout_s;
	/* How long past the deadline the caller still waits. */
	gint64 grace_s;
	/*
	 * The network namespace the op runs in (guest ops of a machine on a
	 * segment: the sockets it opens must be there), or NULL.
	 */
	const char *network_namespace;
	/* Called when an abandoned op returns, or NULL. */
	NbxOpReturnedFunc returned;
	/* Frees @data once the op is over and the caller is gone, or NULL. */
	GDestroyNotify free_data;
} NbxOpSpec;

typedef enum {
	NBX_OP_OK,
	/* The op returned FALSE: @error is its error. */
	NBX_OP_FAILED,
	/* It did not return in time: @error says so; it still runs. */
	NBX_OP_ABANDONED,
} NbxOpResult;

/*
 * Runs @func(@data) on a worker thread and waits for it as @spec says.
 * After NBX_OP_OK or NBX_OP_FAILED, @data is the caller's as before (the op
 * has returned; read its results there). After NBX_OP_ABANDONED it is the
 * runner's: the op still uses it, and the runner calls spec->returned and
 * then spec->free_data on it once the op returns. So @data must not point
 * into the caller's stack.
 */
NbxOpResult nbx_op_run(const NbxOpSpec *spec, NbxOpFunc func, gpointer data, GError **error);
