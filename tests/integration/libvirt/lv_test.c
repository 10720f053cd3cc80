/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "lv_test.h"

#include <stdarg.h>
#include <string.h>

#include "test_support.h"
#include "plugin_ops.h"

void
lv_test_init(LvTest *t, const char *plugin_dir)
{
	memset(t, 0, sizeof *t);
	t->dir = test_config_dir_new(plugin_dir, "\"libvirt\"");
}

void
lv_test_load(LvTest *t, const char *conf)
{
	test_write(t->dir, "machinery/libvirt.conf", conf);
	t->diagnostics = nbx_diagnostics_new();
	t->setup = nbx_setup_load(t->dir, NULL, t->diagnostics);
	g_assert_nonnull(t->setup);
	if (t->setup->machineries->len > 0)
		t->libvirt = g_ptr_array_index(t->setup->machineries, 0);
}

void
lv_test_assert_clean(LvTest *t)
{
	for (guint i = 0; i < nbx_diagnostics_count(t->diagnostics); i++)
		g_printerr("diagnostic: %s\n", nbx_diagnostics_get(t->diagnostics, i));
	g_assert_cmpuint(nbx_diagnostics_count(t->diagnostics), ==, 0);
	g_assert_nonnull(t->libvirt);
}

const char *
lv_test_diagnostic(LvTest *t, ...)
{
	for (guint i = 0; i < nbx_diagnostics_count(t->diagnostics); i++) {
		const char *message = nbx_diagnostics_get(t->diagnostics, i);
		const char *needle;
		bool all = true;
		va_list ap;

		va_start(ap, t);
		while ((needle = va_arg(ap, const char *)) != NULL)
			all = all && strstr(message, needle) != NULL;
		va_end(ap);
		if (all)
			return message;
	}
	for (guint i = 0; i < nbx_diagnostics_count(t->diagnostics); i++)
		g_printerr("diagnostic: %s\n", nbx_diagnostics_get(t->diagnostics, i));
	g_error("no diagnostic has all the expected words");
	return NULL;
}

void
lv_test_unload(LvTest *t)
{
	g_clear_pointer(&t->setup, nbx_setup_free);
	g_clear_pointer(&t->diagnostics, nbx_diagnostics_free);
	t->libvirt = NULL;
}

void
lv_test_clear(LvTest *t)
{
	lv_test_unload(t);
	test_dir_remove(t->dir);
	g_clear_pointer(&t->dir, g_free);
}

void
lv_session_init(LvSession *s, LvTest *t, const char *from_dir, const char *new_name)
{
	static gint count;

	memset(s, 0, sizeof *s);
	s->work_dir = g_strdup_printf("%s/session-%d", t->dir, g_atomic_int_add(&count, 1));
	g_assert_cmpint(g_mkdir_with_parents(s->work_dir, 0700), ==, 0);
	if (new_name != NULL) {
		s->new_dir = g_build_filename(t->dir, new_name, NULL);
		g_assert_cmpint(g_mkdir_with_parents(s->new_dir, 0700), ==, 0);
	}
	s->args = (struct nbx_snapshot_session){
		.struct_size = sizeof(struct nbx_snapshot_session),
		.from_dir = from_dir,
		.work_dir = s->work_dir,
		.new_dir = s->new_dir,
	};
}

void
lv_session_clear(LvSession *s)
{
	g_clear_pointer(&s->work_dir, g_free);
	g_clear_pointer(&s->new_dir, g_free);
}

typedef struct {
	LvTest *t;
	NbxMachine *machine;
	LvCall call;
	LvOpResult result;
} OpRun;

static gpointer
op_worker(gpointer data)
{
	OpRun *run = data;
	const struct nbx_machinery_ops *ops = nbx_plugin_machinery_ops(run->t->libvirt->plugin);
	void *instance = run->t->libvirt->instance;
	struct nbx_machine *machine = &run->machine->machine;
	struct nbx_call call = {
		.struct_size = sizeof call,
		.flags = run->call.flags,
		/* The op's deadline is the hang guard: a busy host makes ops slow, not wrong. */
		.deadline_us = g_get_monotonic_time() + TEST_HANG_GUARD_S * G_USEC_PER_SEC,
		.generation_dir = run->call.op == LV_OP_RESTORE ? run->call.generation_dir : NULL,
	};
	LvOpResult *r = &run->result;
	gint64 start = g_get_monotonic_time();

	switch (run->call.op) {
	case LV_OP_RESTORE:
		r->ok = ops->restore_start(instance, machine, &call, &r->err);
		break;
	case LV_OP_NORESTORE:
		r->ok = ops->norestore_start(instance, machine, &call, &r->err);
		break;
	case LV_OP_STOP:
		r->ok = ops->stop(instance, machine, &call, &r->err);
		break;
	case LV_OP_ACPI_STOP:
		r->ok = ops->acpi_stop(instance, machine, &call, &r->err);
		break;
	case LV_OP_DUMP:
		r->ok = ops->dump_memory(instance, machine, &call, run->call.path, &r->err);
		break;
	case LV_OP_STATE:
		r->ok = ops->state(instance, machine, &call, &r->state, &r->err);
		break;
	case LV_OP_HANDLE_PAUSED:
		r->ok = ops->handle_paused(instance, machine, &call, &r->err);
		break;
	case LV_OP_SNAPSHOT_BEGIN:
		r->ok = ops->snapshot_begin(instance, machine, &call, run->call.session, &r->err);
		break;
	case LV_OP_SNAPSHOT_COMMIT:
		r->ok = ops->snapshot_commit(instance, machine, &call, run->call.session, &r->err);
		break;
	case LV_OP_SNAPSHOT_ROLLBACK:
		r->ok = ops->snapshot_rollback(instance, machine, &call, run->call.session, &r->err);
		break;
	case LV_OP_SNAPSHOT_REMOVE:
		r->ok = ops->snapshot_remove(instance, machine, &call, run->call.generation_dir,
					     &r->err);
		break;
	}
	r->seconds = (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
	return NULL;
}

LvOpResult
lv_test_call(LvTest *t, const char *machine, const LvCall *call)
{
	OpRun run = { .t = t, .call = *call };

	g_assert_nonnull(t->libvirt);
	run.machine = nbx_machine_pool_lookup(t->setup->pool, machine);
	g_assert_nonnull(run.machine);
	/* The plugin needs nothing of the main loop: joining the worker is enough. */
	g_thread_join(g_thread_new("op", op_worker, &run));
	/*
	 * An op that succeeds leaves the error cleared; one that fails sets it.
	 * The one exception: state says ERROR with its reason, and succeeds.
	 */
	if (call->op == LV_OP_STATE && run.result.ok && run.result.state == NBX_MACHINE_ERROR)
		g_assert_cmpint(run.result.err.code, !=, NBX_ERROR_NONE);
	else
		g_assert_cmpint(run.result.ok, ==, run.result.err.code == NBX_ERROR_NONE);
	return run.result;
}

LvOpResult
lv_test_call_ok(LvTest *t, const char *machine, const LvCall *call)
{
	LvOpResult r = lv_test_call(t, machine, call);

	if (!r.ok)
		g_error("op %d on %s failed: %s", call->op, machine, r.err.message);
	return r;
}

LvOpResult
lv_test_op(LvTest *t, const char *machine, LvOp op, const char *path)
{
	LvCall call = { .op = op, .path = path };

	return lv_test_call(t, machine, &call);
}

LvOpResult
lv_test_op_ok(LvTest *t, const char *machine, LvOp op, const char *path)
{
	LvCall call = { .op = op, .path = path };

	return lv_test_call_ok(t, machine, &call);
}

int32_t
lv_test_pool_state(LvTest *t, const char *machine, char **reason)
{
	NbxMachine *entry = nbx_machine_pool_lookup(t->setup->pool, machine);

	g_assert_nonnull(entry);
	return nbx_machine_get_hypervisor_state(entry, reason);
}

bool
lv_test_wait_state(LvTest *t, const char *machine, int32_t state)
{
	gint64 until = g_get_monotonic_time() + TEST_HANG_GUARD_S * G_USEC_PER_SEC;

	do {
		if (lv_test_pool_state(t, machine, NULL) == state)
			return true;
		g_usleep(2000);
	} while (g_get_monotonic_time() < until);
	return false;
}
