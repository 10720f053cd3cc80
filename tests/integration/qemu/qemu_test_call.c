/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "qemu_test_call.h"
#include "plugin_ops.h"

static bool
collect_file(void *data, int32_t role, const char *path)
{
	g_ptr_array_add(((Call *)data)->files, g_strdup_printf("%d %s", role, path));
	return true;
}

static bool
collect_property(void *data, const char *key, const char *value)
{
	g_hash_table_insert(((Call *)data)->fingerprint, g_strdup(key), g_strdup(value));
	return true;
}

/* The machine ops; the snapshot ops are in snapshot_op(). */
static bool
machine_op(Call *c, const struct nbx_machinery_ops *ops, void *instance,
	   struct nbx_machine *machine, struct nbx_call *call)
{
	switch (c->op) {
	case RESTORE:
		return ops->restore_start(instance, machine, call, &c->err);
	case STOP:
		return ops->stop(instance, machine, call, &c->err);
	case PREPARE:
		return ops->prepare(instance, machine, call, &c->err);
	case DISCARD:
		return ops->discard(instance, machine, call, &c->err);
	case STATE:
		return ops->state(instance, machine, call, &c->state, &c->err);
	default:
		g_assert_not_reached();
	}
}

static bool
snapshot_op(Call *c, const struct nbx_machinery_ops *ops, void *instance,
	    struct nbx_machine *machine, struct nbx_call *call)
{
	switch (c->op) {
	case BEGIN:
		return ops->snapshot_begin(instance, machine, call, &c->session, &c->err);
	case COPY_IN:
		return ops->snapshot_copy_in(instance, machine, call, &c->session, c->paths, &c->err);
	case COMMIT:
		return ops->snapshot_commit(instance, machine, call, &c->session, &c->err);
	case ROLLBACK:
		return ops->snapshot_rollback(instance, machine, call, &c->session, &c->err);
	case FILES:
		return ops->snapshot_files(instance, machine, call, c->generation, collect_file, c,
					   &c->err);
	case FINGERPRINT:
		return ops->snapshot_fingerprint(instance, machine, call, c->generation,
						 collect_property, c, &c->err);
	case IMPORT:
		return ops->snapshot_import(instance, machine, call, c->generation, &c->err);
	case REMOVE:
		return ops->snapshot_remove(instance, machine, call, c->generation, &c->err);
	default:
		g_assert_not_reached();
	}
}

static void
call_worker(gpointer data)
{
	Call *c = data;
	const struct nbx_machinery_ops *ops = nbx_plugin_machinery_ops(c->f->qemu->plugin);
	void *instance = c->f->qemu->instance;
	struct nbx_machine *machine = &nbx_machine_pool_lookup(c->f->setup->pool, "a")->machine;
	bool restores = c->op == RESTORE || c->op == PREPARE;
	struct nbx_call call = {
		.struct_size = sizeof call,
		.flags = c->flags,
		.deadline_us = g_get_monotonic_time() + TEST_HANG_GUARD_S * G_USEC_PER_SEC,
		.generation_dir = restores ? c->generation : NULL,
	};

	if (restores || c->op == STOP || c->op == DISCARD || c->op == STATE)
		c->ok = machine_op(c, ops, instance, machine, &call);
	else
		c->ok = snapshot_op(c, ops, instance, machine, &call);
}

Call *
call_new(Fixture *f, Op op)
{
	Call *c = g_new0(Call, 1);

	c->f = f;
	c->op = op;
	c->session.struct_size = sizeof c->session;
	c->files = g_ptr_array_new_with_free_func(g_free);
	c->fingerprint = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	return c;
}

void
call_free(Call *c)
{
	g_ptr_array_unref(c->files);
	g_hash_table_unref(c->fingerprint);
	g_free(c);
}

Call *
run(Call *c)
{
	run_on_worker(call_worker, c);
	if (c->ok)
		g_assert_cmpint(c->err.code, ==, NBX_ERROR_NONE);
	else
		g_test_message("op %d failed: %s", c->op, c->err.message);
	return c;
}
